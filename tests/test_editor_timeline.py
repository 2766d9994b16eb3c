"""The timeline on a real window (issue 19 item 5): keyframes baked in the background, a frame between two
keyframes shown as the blend of their faces, playback, the edited face back after an edit, undo of keyframe
edits, sessions that keep the timeline, and the glTF / OBJ-sequence exports.

Needs an X server: `bash scripts/run_tests.sh` runs these on Xvfb.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from editor_window_fixtures import MESH_TIMEOUT_MS, messages, model_path, open_window, wait_face, window  # noqa: F401
from imface_core.engine.rig import read_glb
from test_rig import validate

pytestmark = pytest.mark.gui

BAKE_TIMEOUT_MS = 240_000


def keyed(win, qtbot, poses=((0, 0.0), (12, 1.0), (36, -0.5))):
    """Keyframes of the first named expression at the given (frame, slider value)s, baked at a small template
    resolution; the window's state is back at the first pose."""
    player = win.timeline
    player.resolution = 48
    start = win.state
    for frame, mix in poses:
        win.set_state(start.with_mix(0, mix))
        player.seek(frame)
        player.set_key()
    qtbot.waitUntil(lambda: player.baked, timeout=BAKE_TIMEOUT_MS)
    return player


def test_a_frame_between_keyframes_is_the_blend_of_their_faces(window, qtbot):
    player = keyed(window, qtbot)
    assert window.timeline.timeline.frames == [0, 12, 36]
    assert "3 keyframes ready" in player.panel.bake_label.text()
    keys = player.keyframe_faces()
    player.seek(24)  # half-way from the key at 12 to the key at 36
    assert player.showing and window.viewport.face.n_points == keys.positions.shape[1]
    np.testing.assert_allclose(window.viewport.face.points, 0.5 * (keys.positions[1] + keys.positions[2]), atol=1e-6)
    assert player.panel.slider.value() == 24 and "Frame 24 / 96" in player.panel.frame_label.text()
    assert np.abs(keys.positions[1] - keys.positions[0]).max() > 1e-3  # the expression moves the face

    # in-betweens: faces of the interpolated expression baked every 6 frames; frame 24 shows its own face
    window.document.set_timeline(window.timeline.timeline.with_inbetween(6))
    qtbot.waitUntil(lambda: player.baked, timeout=BAKE_TIMEOUT_MS)
    assert "3 keyframes and 4 in-betweens ready" in player.panel.bake_label.text()
    faces = player.keyframe_faces()
    assert list(np.round(faces.times * 24).astype(int)) == [0, 6, 12, 18, 24, 30, 36]
    player.seek(24)
    np.testing.assert_allclose(window.viewport.face.points, faces.positions[4], atol=1e-6)
    assert np.abs(faces.positions[4] - 0.5 * (keys.positions[1] + keys.positions[2])).max() > 1e-6
    window.undo()  # (back to the keyframes only)
    assert window.timeline.timeline.inbetween == 0 and player.baked

    # playback: frames advance in the viewport until paused
    shown = []
    player.frameShown.connect(shown.append)
    assert player.play() and player.panel.play.text() == "Pause"
    qtbot.waitUntil(lambda: len(shown) >= 10, timeout=30_000)
    player.pause()
    assert len(set(np.round(shown, 3))) >= 5 and player.shown_fps > 0
    frames, _ = player._ready_faces()
    i = int(np.searchsorted(frames, player.frame, side="right")) - 1
    assert 0 <= i < len(frames)

    # an edit of the face leaves the animation: the edited face's mesh is on screen again
    window.set_state(window.state.with_mix(0, 0.5))
    assert not player.showing
    wait_face(qtbot, window)
    assert window.viewport.face.n_points == window.scheduler.shown.poly.n_points


def test_keyframe_edits_undo_and_the_session_keeps_them(window, qtbot, tmp_path):
    player = keyed(window, qtbot, poses=((0, 0.0), (24, 1.0)))
    baked = set(player.baker.faces)
    player.move_key(24, 30)
    assert window.timeline.timeline.frames == [0, 30] and player.baked  # moved: nothing to bake again
    qtbot.wait(500)
    assert set(player.baker.faces) == baked and player.baker.task is None
    strip = player.panel.strip  # a key dragged on the strip above the frame slider
    y = strip.height() // 2
    x30, x40 = int(round(strip.x_of(30))), int(round(strip.x_of(40)))
    qtbot.mousePress(strip, Qt.MouseButton.LeftButton, pos=QPoint(x30, y))
    qtbot.mouseMove(strip, QPoint(x40, y))
    qtbot.mouseRelease(strip, Qt.MouseButton.LeftButton, pos=QPoint(x40, y))
    dropped = strip.frame_at(x40)
    assert abs(dropped - 40) <= 1 and window.timeline.timeline.frames == [0, dropped]
    player.move_key(0, dropped)  # onto another keyframe: refused, nothing changes
    assert window.timeline.timeline.frames == [0, dropped] and "has a keyframe" in window.statusBar().currentMessage()
    player.seek(0)
    player.remove_key()
    assert window.timeline.timeline.frames == [dropped]
    window.undo()
    assert window.timeline.timeline.frames == [0, dropped]
    window.undo()
    assert window.timeline.timeline.frames == [0, 30]
    window.undo()
    assert window.timeline.timeline.frames == [0, 24]
    assert player.panel.strip.frames == [0, 24]

    path = tmp_path / "anim.imface.json"
    assert window.save_session(path) and not window.isWindowModified()
    saved = window.timeline.timeline
    player.seek(0)
    player.remove_key()
    assert window.isWindowModified()
    other = open_window(qtbot, window.model_path)
    qtbot.waitUntil(lambda: other.editor is not None, timeout=MESH_TIMEOUT_MS)
    assert other.open_session(path)
    assert other.timeline.timeline.frames == [0, 24] and not other.isWindowModified()
    assert other.timeline.timeline == saved
    other.close()


def test_the_animation_exports_as_gltf_and_as_an_obj_sequence(window, qtbot, tmp_path, messages):
    assert window.export_animation_action.isEnabled()
    window.export_animation_action.trigger()  # no keyframes yet: said at once, before any file dialog
    assert messages[-1][:2] == ("critical", "Could not export the animation") and "two keyframes" in messages[-1][2]
    player = keyed(window, qtbot, poses=((0, 0.0), (6, 1.0), (12, 0.0)))
    window.document.set_timeline(window.timeline.timeline.with_end(12))
    keys = player.keyframe_faces()
    path = tmp_path / "anim.glb"
    with qtbot.waitSignal(window.animation_export.finished, timeout=60_000) as done:
        window.animation_export.start_gltf(path)
    assert done.args == [str(path)]
    report = validate(path)
    assert report["numErrors"] == 0, report["messages"]
    gltf, _ = read_glb(path.read_bytes())
    assert len(gltf["meshes"][0]["primitives"][0]["targets"]) == 2 and gltf["animations"][0]["samplers"]

    folder = tmp_path / "seq"
    with qtbot.waitSignal(window.animation_export.finished, timeout=120_000) as done:
        window.animation_export.start_obj(folder, "face")
    assert done.args == [str(folder)]
    files = sorted(folder.glob("face_*.obj"))
    assert len(files) == 13  # frames 0 .. 12
    import trimesh

    frame3 = trimesh.load(files[3], process=False)
    np.testing.assert_allclose(frame3.vertices, 100.0 * 0.5 * (keys.positions[0] + keys.positions[1]), atol=1e-3)
