"""The editor's Qt-free logic: face state <-> codes, undo history, the newest-only worker, sessions, recent files.

No display needed; the face-space tests use the session's tiny trained model.
"""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

from app.face_state import SIGMA_RANGE, FaceSpace, FaceState
from app.history import History
from app.recent import RecentFiles
from app.session import Session, SessionError, load_session, save_session
from app.worker import BackgroundTask, LatestOnlyWorker


# ------------------------------------------------------------------------------------------------ face state
@pytest.fixture(scope="module")
def tiny_model(request):
    """The session's tiny model, or the checkpoint in $IMFACE_TEST_MODEL (quicker local runs)."""
    from imface_core import FaceModel

    path = os.environ.get("IMFACE_TEST_MODEL") or request.getfixturevalue("tiny_model_path")
    return FaceModel.load(path, device="cpu")


@pytest.fixture(scope="module")
def space(tiny_model):
    from imface_core.engine.navigation import LatentNavigator

    return FaceSpace.from_navigator(LatentNavigator(tiny_model))


def test_initial_state_is_the_most_typical_person_with_a_neutral_expression(space, tiny_model):
    state = space.initial_state()
    space.check(state)
    codes = space.codes(state)
    table = tiny_model.tables["id"]
    nearest = np.argmin(np.linalg.norm(table - table.mean(axis=0), axis=1))
    np.testing.assert_allclose(codes.z_id, table[nearest], atol=1e-5)
    assert state.label == tiny_model.identities[nearest]
    np.testing.assert_allclose(codes.z_exp, space.neutral, atol=1e-6)
    np.testing.assert_allclose(codes.z_det, tiny_model.tables["det"].mean(axis=0), atol=1e-6)
    assert all(w == 0 for w in state.exp_mix)
    assert "neutral" not in space.expression_names and len(space.expression_names) >= 1


def test_training_codes_round_trip_exactly(space, tiny_model):
    codes = tiny_model.codes(1, 2)
    state = space.state_from_codes(codes, detail_scale=0.7, label="x")
    back = space.codes(state)
    for a, b in zip(back.as_dict().values(), codes.as_dict().values()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert all(-SIGMA_RANGE <= c <= SIGMA_RANGE for c in state.id_coeffs + state.exp_coeffs)
    assert state.detail_scale == 0.7


def test_sliders_move_the_codes(space):
    state = space.initial_state()
    if space.n_expression:
        moved = state.with_exp_coeff(0, 1.5)
        delta = space.z_exp(moved) - space.z_exp(state)
        expected = (1.5 - state.exp_coeffs[0]) * space.expression.sigma[0] * space.expression.components[0]
        np.testing.assert_allclose(delta, expected, atol=1e-5)
    smile = state.with_mix(0, 1.0)
    name = space.expression_names[0]
    np.testing.assert_allclose(space.z_exp(smile), space.presets[name], atol=1e-5)
    both = smile.with_mix(len(space.expression_names) - 1, 0.5)  # named expressions mix (add offsets)
    other = space.expression_names[-1]
    if other != name:
        expected = space.presets[name] + 0.5 * (space.presets[other] - space.neutral)
        np.testing.assert_allclose(space.z_exp(both), expected, atol=1e-5)
    assert space.neutral_expression(both).exp_mix == state.exp_mix


def test_random_and_reset_identity(space):
    state = space.initial_state()
    a, b = space.random_identity(state, 1), space.random_identity(state, 1)
    assert a == b and a != state
    assert space.random_identity(state, 2) != a
    back = space.reset_identity(a)
    np.testing.assert_allclose(space.z_id(back), space.z_id(state), atol=1e-5)
    assert back.label == state.label


def test_state_dict_round_trip_and_validation(space):
    state = space.random_identity(space.initial_state(), 5).with_detail_scale(1.3)
    assert FaceState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    bad = state.to_dict()
    bad["z_det"] = [1.0, "x"]
    with pytest.raises(ValueError, match="z_det"):
        FaceState.from_dict(bad)
    bad = state.to_dict()
    bad["id_coeffs"] = [float("nan")] * len(state.id_coeffs)
    with pytest.raises(ValueError, match="id_coeffs"):
        FaceState.from_dict(bad)
    short = FaceState.from_dict({**state.to_dict(), "z_det": [0.0]})
    with pytest.raises(ValueError, match="z_det"):
        space.check(short)


# ------------------------------------------------------------------------------------------------ history
def test_history_undo_redo_and_branching():
    h = History("a")
    assert not h.can_undo and h.undo() is None
    assert h.commit("b") and h.commit("c")
    assert not h.commit("c")  # no duplicate steps
    assert h.undo() == "b" and h.undo() == "a" and h.undo() is None
    assert h.redo() == "b"
    h.commit("d")  # a new edit drops the redo branch
    assert not h.can_redo and h.current == "d"
    assert h.undo() == "b"


def test_history_limit():
    h = History(0, limit=5)
    for i in range(1, 20):
        h.commit(i)
    assert len(h) == 5 and h.current == 19
    while h.undo() is not None:
        pass
    assert h.current == 15


# ------------------------------------------------------------------------------------------------ worker
class _Gate:
    """A fake mesh job: yields ("preview", r), waits on ``release``, then yields ("final", r) unless cancelled."""

    def __init__(self):
        self.release = threading.Event()
        self.started: list[int] = []
        self.lock = threading.Lock()

    def run(self, request, cancel):
        with self.lock:
            self.started.append(request)
        yield ("preview", request)
        self.release.wait(5)  # "refining"; looks at the cancel event only afterwards (like a chunk boundary)
        if cancel.is_set():
            return
        yield ("final", request)


def test_worker_computes_only_the_newest_request():
    gate = _Gate()
    results = []
    worker = LatestOnlyWorker(gate.run, lambda req, res: results.append(res))
    try:
        worker.submit(1)
        deadline = time.monotonic() + 5
        while ("preview", 1) not in results and time.monotonic() < deadline:
            time.sleep(0.005)
        for r in range(2, 50):  # a burst while request 1 refines: 2..48 are dropped, 1 is cancelled
            worker.submit(r)
        gate.release.set()
        assert worker.wait_idle(10)
    finally:
        worker.close()
    assert results[-1] == ("final", 49)
    assert gate.started == [1, 49]
    assert ("final", 1) not in results
    assert worker.stats.dropped == 47 and worker.stats.superseded == 1 and worker.stats.finished == 1


def test_worker_lets_a_running_request_show_its_first_result():
    """A request that has shown nothing yet is not cancelled by a newer one (no starvation during a drag)."""
    started, release = threading.Event(), threading.Event()
    results = []

    def run(request, cancel):
        started.set()
        release.wait(5)
        yield request  # the first result comes after the newer request was submitted
        if not cancel.is_set():
            yield f"{request}-refined"

    worker = LatestOnlyWorker(run, lambda req, res: results.append(res))
    try:
        worker.submit("a")
        assert started.wait(5)
        worker.submit("b")
        release.set()
        assert worker.wait_idle(5)
    finally:
        worker.close()
    assert results == ["a", "b", "b-refined"]


def test_worker_reports_errors_and_keeps_going():
    errors = []

    def run(request, cancel):
        if request == "bad":
            raise ValueError("boom")
        yield request

    results = []
    worker = LatestOnlyWorker(run, lambda req, res: results.append(res), on_error=lambda req, exc: errors.append(exc))
    try:
        worker.submit("bad")
        assert worker.wait_idle(5)
        worker.submit("good")
        assert worker.wait_idle(5)
    finally:
        assert worker.close()
    assert results == ["good"] and len(errors) == 1 and str(errors[0]) == "boom"
    with pytest.raises(RuntimeError):
        worker.submit("late")


def test_background_task_result_error_and_cancel():
    out = []
    done = threading.Event()
    BackgroundTask(lambda c: 42, lambda r: (out.append(r), done.set()), lambda e: None).start()
    assert done.wait(5) and out == [42]

    errors = []
    failed = threading.Event()
    BackgroundTask(lambda c: 1 / 0, lambda r: None, lambda e: (errors.append(e), failed.set())).start()
    assert failed.wait(5) and isinstance(errors[0], ZeroDivisionError)

    def slow(cancel):
        while not cancel.wait(0.01):
            pass
        raise RuntimeError("cancelled")

    stopped = threading.Event()
    task = BackgroundTask(slow, lambda r: None, lambda e: stopped.set()).start()
    task.cancel()
    assert stopped.wait(5) and task.join(5)


# ------------------------------------------------------------------------------------------------ sessions
def _session(space) -> Session:
    state = space.random_identity(space.initial_state(), 3).with_mix(0, 0.4)
    codes = space.codes(state)
    return Session(state, {k: v.tolist() for k, v in codes.as_dict().items()}, "model.pt",
                   {"colour_mode": "correspondence"})


def test_session_round_trip(space, tmp_path):
    session = _session(space)
    path = save_session(tmp_path / "a.imface.json", session)
    back = load_session(path)
    assert back.state == session.state
    assert back.view == {"colour_mode": "correspondence"} and back.model == "model.pt"
    np.testing.assert_allclose(back.codes["z_exp"], session.codes["z_exp"])


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "invalid JSON"),
        ("{not json", "invalid JSON"),
        ('{"kind": "something else"}', "not an ImFace Studio session"),
        ('[1, 2, 3]', "not an ImFace Studio session"),
        ('{"kind": "imface-studio-session", "version": 99}', "version"),
        ('{"kind": "imface-studio-session", "version": 1, "state": {"id_coeffs": [1]}}', "lacks"),
    ],
)
def test_corrupt_sessions_raise_session_error(tmp_path, content, message):
    path = tmp_path / "bad.imface.json"
    path.write_text(content)
    with pytest.raises(SessionError, match=message):
        load_session(path)


def test_session_with_bad_codes_and_binary_garbage(space, tmp_path):
    doc = json.loads(save_session(tmp_path / "s.json", _session(space)).read_text())
    doc["codes"]["z_id"] = ["a"]
    (tmp_path / "codes.json").write_text(json.dumps(doc))
    with pytest.raises(SessionError, match="z_id"):
        load_session(tmp_path / "codes.json")
    (tmp_path / "bin.json").write_bytes(bytes(range(256)) * 10)
    with pytest.raises(SessionError):
        load_session(tmp_path / "bin.json")
    with pytest.raises(SessionError, match="not found"):
        load_session(tmp_path / "missing.json")


def test_failed_save_keeps_the_old_file(space, tmp_path):
    path = save_session(tmp_path / "s.json", _session(space))
    before = path.read_text()
    with pytest.raises(OSError):
        save_session(path / "inside-a-file.json", _session(space))  # parent is a file
    assert path.read_text() == before


# ------------------------------------------------------------------------------------------------ recent files
def test_recent_files(tmp_path):
    recent = RecentFiles(tmp_path / "cfg" / "recent.json", limit=3)
    assert recent.entries() == []
    for name in ("a", "b", "c", "d"):
        recent.add("session", tmp_path / f"{name}.json")
    recent.add("scan", tmp_path / "b.json")
    recent.add("session", tmp_path / "c.json")  # moves to the front, no duplicate
    entries = recent.entries()
    assert [(k, p.name) for k, p in entries] == [("session", "c.json"), ("scan", "b.json"), ("session", "d.json")]
    (tmp_path / "cfg" / "recent.json").write_text("garbage")
    assert recent.entries() == []
    with pytest.raises(ValueError):
        recent.add("model", tmp_path / "x")


# ------------------------------------------------------------------------------------------------ engine adapter
def test_preview_stride_gives_a_coarse_grid():
    from app.engine import preview_stride

    assert preview_stride(48) == 1
    assert [preview_stride(n) for n in (64, 96, 128, 192, 256)] == [2, 2, 4, 4, 8]
    for n in (64, 96, 128, 192, 256, 320):
        assert 32 <= n // preview_stride(n) < 64


def test_scan_landmarks_beside_the_scan(tmp_path):
    from app.engine import scan_landmarks

    scan = tmp_path / "face.ply"
    scan.write_text("x")
    assert scan_landmarks(scan) is None
    (tmp_path / "face_landmarks.txt").write_text("0 0 0\n")
    assert scan_landmarks(scan) == tmp_path / "face_landmarks.txt"


def test_export_face_checks_the_format_and_writes_millimetres(tmp_path):
    import trimesh

    from app.engine import export_face

    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    with pytest.raises(ValueError, match=r"\.stl"):
        export_face(mesh, tmp_path / "face.stl", colors=False)
    with pytest.raises(ValueError, match="colours"):
        export_face(mesh, tmp_path / "face.ply", colors=True)  # no colours and no model to compute them
    path = export_face(mesh, tmp_path / "face.obj", colors=False)
    back = trimesh.load(path, process=False)
    np.testing.assert_allclose(back.vertices, mesh.vertices * 100.0, atol=1e-4)


def test_display_decimation_keeps_the_shape_rim_normals_and_colours():
    import trimesh
    from scipy.spatial import cKDTree

    from app.engine import decimated_for_display, to_polydata

    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.5)  # 20,480 triangles
    mesh = sphere.submesh([np.flatnonzero(sphere.triangles_center[:, 2] > 0.0)], append=True)  # open, like a face
    mesh.visual.vertex_colors = np.c_[(mesh.vertices * 200 + 128).clip(0, 255), np.full(len(mesh.vertices), 255)]
    poly = to_polydata(mesh)
    assert decimated_for_display(poly, 30_000) is poly
    small = decimated_for_display(poly, 2_500)
    assert 2_200 <= small.n_cells <= 2_700
    points = np.asarray(small.points, dtype=np.float64)
    radius = np.linalg.norm(points, axis=1)
    assert np.abs(radius - 0.5).max() < 0.005  # on the surface (1 % of the radius)
    assert ((small.point_data.active_normals * (points / radius[:, None])).sum(axis=1) > 0.97).all()
    # the rim stays on the rim of the full mesh
    edges = poly.extract_feature_edges(boundary_edges=True, feature_edges=False, manifold_edges=False,
                                       non_manifold_edges=False)
    p0, p1 = (np.asarray(edges.points)[edges.lines.reshape(-1, 3)[:, k]] for k in (1, 2))
    kept = small.extract_feature_edges(boundary_edges=True, feature_edges=False, manifold_edges=False,
                                       non_manifold_edges=False).points
    for q in np.asarray(kept):
        t = np.clip(((q - p0) * (p1 - p0)).sum(axis=1) / ((p1 - p0) ** 2).sum(axis=1), 0.0, 1.0)
        assert np.linalg.norm(p0 + t[:, None] * (p1 - p0) - q, axis=1).min() < 1e-3  # 5 % of an edge
    # colours of the nearest vertex of the full mesh; no slivers (marching-cubes-like triangles stay out)
    nearest = cKDTree(poly.points).query(points)[1]
    np.testing.assert_array_equal(small.point_data["rgb"], poly.point_data["rgb"][nearest])
    a, b, c = (points[small.regular_faces[:, k]] for k in range(3))
    sines = np.linalg.norm(np.cross(b - a, c - a), axis=1) / (np.linalg.norm(b - a, axis=1) * np.linalg.norm(c - a, axis=1))
    assert (sines > np.sin(np.radians(5))).mean() > 0.99


def test_mesh_computer_gives_a_preview_then_the_full_mesh_and_stops_when_cancelled(tiny_model, space):
    from app.engine import MeshComputer, MeshJob

    computer = MeshComputer(tiny_model)
    state = space.initial_state()
    codes = space.codes(state)
    meshes = list(computer.run(MeshJob(state, codes, 64, fresh=True), threading.Event()))
    assert [m.full_detail for m in meshes][-1] and not meshes[0].full_detail
    # up to quality 128 no refined level is drawn on the way: the full face follows within a second or two
    assert [m.stage for m in meshes] == ["preview", "final"]
    above = [m.stage for m in computer.run(MeshJob(state, codes, 160, fresh=True), threading.Event())]
    assert above == ["preview", "refine", "final"]
    final = meshes[-1]
    assert final.poly.n_points == final.n_vertices > 100
    assert final.poly.point_data.active_normals is not None

    # a triangle budget thins what the viewport draws, not the mesh itself
    budget = final.poly.n_cells // 2
    thin = list(MeshComputer(tiny_model, display_triangles=budget).run(MeshJob(state, codes, 64, fresh=True),
                                                                       threading.Event()))[-1]
    assert thin.poly.n_cells <= 1.05 * budget and len(thin.mesh.faces) == final.poly.n_cells

    moved = state.with_mix(0, 1.0)
    previews = list(computer.run(MeshJob(moved, space.codes(moved), 64, preview_only=True), threading.Event()))
    assert len(previews) == 1 and previews[0].stage == "preview" and not previews[0].full_detail

    cancelled = threading.Event()
    cancelled.set()
    assert list(computer.run(MeshJob(moved, space.codes(moved), 64), cancelled)) == []


def test_viewport_normals_ignore_slivers():
    import trimesh

    from app.engine import area_weighted_normals, to_polydata

    sphere = trimesh.creation.icosphere(subdivisions=3)
    radial = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    normals = area_weighted_normals(sphere.vertices, sphere.faces)
    assert np.einsum("ij,ij->i", normals, radial).min() > 0.999
    # a marching-cubes-like sliver (one angle near 180 degrees) tilted 90 degrees off the surface: with angle
    # weighting it pulls its vertices' normals far round; by area it counts for nothing
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.5, 0.5, 0], [0.5, 0.5, 0.001]], dtype=np.float32)
    f = np.array([[0, 1, 3], [0, 3, 2], [3, 1, 4]])
    n = area_weighted_normals(v, f)
    assert n[3, 2] > 0.99
    assert trimesh.Trimesh(v, f, process=False).vertex_normals[3, 2] < 0.9  # what angle weighting gives
    poly = to_polydata(sphere)
    np.testing.assert_allclose(np.asarray(poly.point_data["Normals"]), normals, atol=1e-6)
