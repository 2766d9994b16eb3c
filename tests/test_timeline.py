"""The timeline without Qt (issue 19 item 5): keyframes, undo of keyframe edits, sessions that keep the timeline
(and older ones that open without one), the blend between keyframes, and the animation's files (glTF animation
of morph weights through the Khronos validator, numbered OBJ sequence)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from app.document import Document
from app.session import SessionError
from app.timeline import ANIMATED_FIELDS, Keyframe, Timeline
from editor_fakes import FakeEditor
from imface_core.engine.morph_animation import animation_glb_bytes, write_obj_sequence
from imface_core.keyframes import KeyframeFaces, blend, keyframe_weights, segment
from imface_core.engine.rig import read_glb
from test_rig import validate


@pytest.fixture
def doc() -> Document:
    d = Document(quality=64, seed=0)
    d.load_model(FakeEditor())
    return d


# ------------------------------------------------------------------------------------------------ the timeline
def test_keyframes_hold_the_expression_and_the_face_keeps_its_person(doc):
    smiling = doc.state.with_mix(0, 1.0).with_exp_coeff(1, -0.5)
    key = Keyframe(12, smiling)
    other_person = doc.space.random_identity(doc.state, 3)
    posed = key.apply(other_person)
    assert "exp_mix" in ANIMATED_FIELDS and "id_coeffs" not in ANIMATED_FIELDS
    assert posed.exp_mix == (1.0,) and posed.exp_coeffs == smiling.exp_coeffs
    assert posed.id_coeffs == other_person.id_coeffs and posed.id_residual == other_person.id_residual


def test_timeline_edits_keep_frame_order_and_refuse_what_cannot_be(doc):
    s = doc.state
    tl = Timeline().with_key(24, s.with_mix(0, 1.0)).with_key(0, s).with_key(120, s)
    assert tl.frames == [0, 24, 120] and tl.end == 120  # the end moved out to the last key
    assert tl.with_key(24, s).key_at(24).state == s  # a key set again at its frame replaces it
    assert tl.moved(24, 60).frames == [0, 60, 120] and tl.moved(24, 60).key_at(60).state.exp_mix == (1.0,)
    assert tl.without_key(0).frames == [24, 120]
    with pytest.raises(ValueError, match="has a keyframe already"):
        tl.moved(24, 120)
    with pytest.raises(ValueError, match="no keyframe"):
        tl.without_key(5)
    with pytest.raises(ValueError, match="before its keyframe"):
        tl.with_end(100)
    with pytest.raises(ValueError, match="frame rate"):
        tl.with_fps(23)
    assert Timeline.from_dict(json.loads(json.dumps(tl.to_dict()))) == tl
    np.testing.assert_allclose(tl.key_times(), [0.0, 1.0, 5.0])


def test_inbetweens_are_faces_of_the_interpolated_expression(doc):
    s = doc.state
    tl = Timeline().with_key(0, s.with_mix(0, 0.0)).with_key(24, s.with_mix(0, 1.0)).with_key(30, s.with_mix(0, 0.5))
    assert [k.frame for k in tl.samples()] == [0, 24, 30]  # none by default
    every6 = tl.with_inbetween(6)
    samples = every6.samples()
    assert [k.frame for k in samples] == [0, 6, 12, 18, 24, 30]
    assert samples[2].state.exp_mix == pytest.approx((0.5,)) and samples[1].state.id_coeffs == s.id_coeffs
    assert Timeline.from_dict(json.loads(json.dumps(every6.to_dict()))) == every6
    with pytest.raises(ValueError, match="in-betweens"):
        tl.with_inbetween(5)


def test_keyframes_carry_region_edits(doc):
    from dataclasses import replace

    from app.region_state import RegionState

    nose = replace(doc.state, regions=(RegionState("nose", exp_mix=(0.5,)),))
    tl = Timeline().with_key(0, doc.state).with_key(12, nose).with_inbetween(6)
    assert "regions" in ANIMATED_FIELDS
    assert Timeline.from_dict(json.loads(json.dumps(tl.to_dict()))) == tl
    assert tl.keys[1].apply(doc.state).regions == nose.regions
    assert tl.samples()[1].state.regions == ()  # an in-between takes the earlier keyframe's region edits


def test_keyframe_edits_are_undo_steps_between_face_edits(doc):
    start = doc.state
    assert doc.set_timeline(doc.timeline.with_key(0, start))
    doc.set_state(start.with_mix(0, 1.0))
    smile = doc.state
    assert doc.set_timeline(doc.timeline.with_key(24, smile))
    assert doc.set_timeline(doc.timeline.moved(24, 48))
    assert not doc.set_timeline(doc.timeline)  # nothing changed: no step

    assert doc.undo() and doc.timeline.frames == [0, 24] and doc.state == smile
    assert doc.undo() and doc.timeline.frames == [0] and doc.state == smile
    assert doc.undo() and doc.timeline.frames == [0] and doc.state == start
    assert doc.undo() and doc.timeline.frames == [] and not doc.can_undo
    for frames in ([0], [0], [0, 24], [0, 48]):
        assert doc.redo() and doc.timeline.frames == frames
    assert doc.state == smile and not doc.can_redo


def test_a_session_keeps_the_timeline_and_older_sessions_open_without_one(doc, tmp_path):
    s = doc.state
    doc.set_timeline(doc.timeline.with_key(0, s).with_key(30, s.with_mix(0, 1.5)).with_fps(30).with_end(90))
    path = tmp_path / "anim.imface.json"
    doc.save_session(path)
    saved = json.loads(path.read_text())
    assert saved["version"] == 3 and saved["timeline"]["fps"] == 30 and len(saved["timeline"]["keys"]) == 2

    other = Document(quality=64, seed=0)
    other.load_model(FakeEditor())
    other.open_session(path)
    assert other.timeline == doc.timeline and other.state == doc.state
    assert other.undo() and other.timeline == Timeline()  # opening it was one undo step

    for version in (1, 2):  # what older versions wrote: no timeline
        old = {k: v for k, v in saved.items() if k != "timeline"} | {"version": version}
        path.write_text(json.dumps(old))
        doc.open_session(path)
        assert doc.timeline == Timeline() and doc.state == s

    saved["timeline"]["keys"][1]["state"]["exp_mix"] = [7.0]  # outside the slider's range
    path.write_text(json.dumps(saved))
    with pytest.raises(SessionError, match="keyframe at frame 30"):
        doc.open_session(path)
    assert doc.timeline == Timeline()  # nothing changed


# ------------------------------------------------------------------------------------------------ the blend and the files
def _keyframe_faces(n_keys: int = 4) -> KeyframeFaces:
    sphere = trimesh.creation.icosphere(2)
    v = np.asarray(sphere.vertices, dtype=np.float32)
    positions = np.stack([v * (1.0 + 0.1 * k) + [0.02 * k, 0, 0] for k in range(n_keys)]).astype(np.float32)
    normals = np.stack([np.asarray(sphere.vertex_normals, dtype=np.float32)] * n_keys)
    times = np.array([0.0, 0.5, 1.25, 2.0][:n_keys])
    return KeyframeFaces(np.asarray(sphere.faces), positions, normals, times, [f"key {k + 1}" for k in range(n_keys)])


def test_the_blend_between_two_keyframes_and_the_morph_weights_agree():
    keys = _keyframe_faces()
    assert segment(keys.times, -1.0) == (0, 0, 0.0) and segment(keys.times, 9.0) == (3, 3, 0.0)
    i, j, a = segment(keys.times, 0.875)
    assert (i, j) == (1, 2) and a == pytest.approx(0.5)
    np.testing.assert_allclose(keys.at(0.875)[0], 0.5 * (keys.positions[1] + keys.positions[2]), atol=1e-6)
    np.testing.assert_allclose(keys.at(0.5)[0], keys.positions[1])
    # the glTF weights, interpolated linearly like a viewer does, give the same face at any time
    weights = keyframe_weights(4)
    base, deltas = keys.positions[0], keys.positions[1:] - keys.positions[0]
    for t in (0.1, 0.875, 1.9):
        i, j, a = segment(keys.times, t)
        w = (1 - a) * weights[i] + a * weights[j]
        np.testing.assert_allclose(base + np.tensordot(w, deltas, axes=1), blend(keys.positions, i, j, a), atol=1e-5)


def test_the_gltf_animation_passes_the_validator_and_holds_the_keyframes(tmp_path):
    keys = _keyframe_faces()
    path = tmp_path / "anim.glb"
    path.write_bytes(animation_glb_bytes(keys, extras={"source": {"fps": 24}}))
    report = validate(path)
    assert report["numErrors"] == 0 and report["numWarnings"] == 0, report["messages"]
    gltf, binary = read_glb(path.read_bytes())
    (anim,) = gltf["animations"]
    assert anim["channels"][0]["target"] == {"node": 0, "path": "weights"}
    sampler = anim["samplers"][0]
    assert sampler["interpolation"] == "LINEAR"

    def floats(index: int) -> np.ndarray:
        a = gltf["accessors"][index]
        view = gltf["bufferViews"][a["bufferView"]]
        return np.frombuffer(binary, dtype=np.float32, count=a["count"], offset=view["byteOffset"])

    np.testing.assert_allclose(floats(sampler["input"]), keys.times)
    np.testing.assert_array_equal(floats(sampler["output"]).reshape(4, 3), keyframe_weights(4))
    assert gltf["meshes"][0]["extras"]["targetNames"] == ["key 2", "key 3", "key 4"]
    with pytest.raises(ValueError, match="at least two keyframes"):
        animation_glb_bytes(_keyframe_faces(1))


def test_the_obj_sequence_writes_every_frame_of_the_blend(tmp_path):
    keys = _keyframe_faces()
    written = write_obj_sequence(keys, tmp_path / "seq", "face", fps=8, frames=17)
    assert [p.name for p in written] == [f"face_{k:04d}.obj" for k in range(17)]
    frame7 = trimesh.load(written[7], process=False)  # 0.875 s: half-way from key 2 to key 3
    np.testing.assert_allclose(frame7.vertices, 100.0 * keys.at(0.875)[0], atol=1e-3)
    np.testing.assert_array_equal(frame7.faces, keys.faces)
