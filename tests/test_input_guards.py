"""Bad inputs at the core's boundaries get an error naming the problem, before any work and without changes.

Codes (``FaceModel.check_codes`` at every public entry), mesh resolutions, codes files, model paths, scan
landmarks, sparse point clouds and scan units. Uses the session's tiny model (``conftest.tiny_model``) and, for
the prior bounds, the shipped model.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from dataclasses import replace

import numpy as np
import pytest
import trimesh

from imface_core.code_bounds import MAX_SIGMAS
from imface_core.errors import CheckpointError, CodesError, ImFaceError, ScanError
from imface_core.face_model import DEFAULT_MODEL, FaceCodes, FaceModel
from imface_core.fitting import align_scan, load_scan, scan_from_arrays
from imface_core.fitting.scan_io import MIN_CLOUD_POINTS

@pytest.fixture(scope="module")
def tiny_model(request):
    """The session's tiny model, or the checkpoint in $IMFACE_TEST_MODEL (quicker local runs)."""
    path = os.environ.get("IMFACE_TEST_MODEL") or request.getfixturevalue("tiny_model_path")
    return FaceModel.load(path, device="cpu")


@pytest.fixture(scope="module")
def shipped_model():
    return FaceModel.load(DEFAULT_MODEL, device="cpu")


POINTS = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, -0.5]], dtype=np.float32)


# ------------------------------------------------------------------------------------------------ codes
def bad_codes(codes: FaceCodes) -> list[tuple[object, str]]:
    """(codes, words the message must hold)."""
    n_id = len(codes.z_id)
    return [
        (None, "got NoneType"),
        (codes.as_dict(), "got dict"),
        (FaceCodes(None, codes.z_exp, codes.z_det), "z_id is missing"),
        (codes.replace(z_id=np.zeros(n_id + 3)), f"z_id has {n_id + 3} values (shape ({n_id + 3},)); this model's z_id "
                                                 f"has {n_id} values"),
        (FaceCodes(codes.z_id, codes.z_exp[:, None], codes.z_det), "z_exp has"),
        (FaceCodes(codes.z_id, codes.z_exp, np.float32(0.0)), "z_det has a single number"),
        (FaceCodes(codes.z_id, ["a"] * len(codes.z_exp), codes.z_det), "z_exp is not an array of numbers"),
        (codes.replace(z_exp=np.where(np.arange(len(codes.z_exp)) == 2, np.nan, codes.z_exp)),
         "z_exp holds 1 NaN or infinite value(s) (first at index 2"),
        (codes.replace(z_det=codes.z_det + np.inf), "z_det holds"),
        (codes.replace(z_id=codes.z_id + 1e30), "standard deviations from this model's training codes"),
        (codes.replace(z_det=np.where(np.arange(len(codes.z_det)) == 1, 5.0, codes.z_det)), "z_det[1] = 5 is"),
    ]


def test_every_entry_refuses_unusable_codes_naming_the_code(tiny_model):
    from imface_core.engine.field import FaceField
    from imface_core.engine.navigation import LatentNavigator
    from imface_core.engine.progressive import MeshRequest, ProgressiveMesher
    from imface_core.fitting import fit_codes

    good = tiny_model.codes(0, 0)
    navigator = LatentNavigator(tiny_model)
    for codes, words in bad_codes(good):
        calls = [
            lambda: navigator.with_expression(codes, tiny_model.expressions[1]),
            lambda: fit_codes(tiny_model, None, init=codes) if codes is not None else tiny_model.check_codes(None),
            lambda: tiny_model.check_codes(codes),
            lambda: tiny_model.sdf(POINTS, codes),
            lambda: tiny_model.template_coords(POINTS, codes),
            lambda: tiny_model.mesh(codes, 32),
            lambda: FaceField(tiny_model, codes),
            lambda: next(ProgressiveMesher(tiny_model).run(MeshRequest(codes, resolution=32))),
        ]
        for call in calls:
            with pytest.raises(CodesError) as info:
                call()
            assert words in str(info.value), (words, str(info.value))
    assert isinstance(CodesError("x"), (ImFaceError, ValueError))
    # good codes pass unchanged (as float32), also given as float64 lists
    back = tiny_model.check_codes(FaceCodes(*(list(map(float, z)) for z in good.as_dict().values())))
    assert all(np.array_equal(a, b) and a.dtype == np.float32 for a, b in zip(back.as_dict().values(),
                                                                              good.as_dict().values()))
    assert np.isfinite(tiny_model.sdf(POINTS, good)).all()


def test_codes_check_refuses_before_any_network_runs_and_is_cheap(tiny_model, monkeypatch):
    codes = tiny_model.codes(1, 1)
    calls = []
    monkeypatch.setattr(tiny_model.net, "predict_landmarks", lambda *a: calls.append(a))
    with pytest.raises(CodesError):
        tiny_model.sdf(POINTS, codes.replace(z_exp=codes.z_exp * np.nan))
    assert calls == []
    monkeypatch.undo()
    tiny_model.check_codes(codes)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(200):
            tiny_model.check_codes(codes)
        runs.append((time.perf_counter() - t0) / 200)
    assert min(runs) < 300e-6, f"{min(runs) * 1e6:.0f} us per check"  # measured ~45 us; it runs on every slider move


def _sigmas(bounds, code) -> float:
    return float(np.max(np.abs(np.asarray(code, np.float64) - bounds.mean) / bounds.scale))


@pytest.mark.parametrize("which", ["tiny", "shipped"])
def test_everything_the_editor_can_reach_stays_well_inside_the_bounds(which, tiny_model, request):
    """Training codes, random faces, expression presets (even at twice their strength) and every slider at
    +-3 sigma with the worst signs per dimension: far inside MAX_SIGMAS."""
    from app.face_state import SIGMA_RANGE, FaceSpace
    from imface_core.engine.navigation import LatentNavigator

    model = tiny_model if which == "tiny" else request.getfixturevalue("shipped_model")
    nav = LatentNavigator(model)
    space = FaceSpace.from_navigator(nav)
    b_id, b_exp, b_det = model._code_bounds
    for k in range(len(model.scans)):
        model.check_codes(FaceCodes(model.tables["id"][model._identity_of_scan[k]], model.tables["exp"][k],
                                    model.tables["det"][k]))
    for seed in range(50):
        model.check_codes(nav.random_face(seed))
        model.check_codes(space.codes(space.random_identity(space.initial_state(), seed)))
    # worst case per dimension, analytically: start + sum_i 3 sigma_i |PC_i| (+ every preset's offset)
    reach_id = np.abs(space.start_identity - b_id.mean) + (
        SIGMA_RANGE * space.identity.sigma[: space.n_identity, None]
        * np.abs(space.identity.components[: space.n_identity])).sum(0)
    sliders = (SIGMA_RANGE * space.expression.sigma[: space.n_expression, None]
               * np.abs(space.expression.components[: space.n_expression])).sum(0)
    base = space.neutral - b_exp.mean
    up, down = np.clip(space._deltas, 0, None).sum(0), np.clip(-space._deltas, 0, None).sum(0)
    worst = {
        "z_id": float(np.max(reach_id / b_id.scale)),
        "z_exp (presets at 1)": float(np.max(np.maximum(base + sliders + up, -(base - sliders - down)) / b_exp.scale)),
        "z_exp (presets at 2)": float(np.max(np.maximum(base + sliders + 2 * up, -(base - sliders - 2 * down))
                                             / b_exp.scale)),
        "z_det": max(_sigmas(b_det, z) for z in model.tables["det"]),
    }
    assert worst["z_exp (presets at 2)"] < MAX_SIGMAS / 1.5, worst
    assert max(v for k, v in worst.items() if "at 2" not in k) < MAX_SIGMAS / 3, worst
    # the corners the sliders can actually set are accepted
    state = space.initial_state()
    for sign in (-1.0, 1.0):
        corner = replace(state, id_coeffs=(sign * SIGMA_RANGE,) * space.n_identity,
                         exp_coeffs=(sign * SIGMA_RANGE,) * space.n_expression,
                         exp_mix=(1.0,) * len(space.expression_names), detail_scale=2.0)
        space.check(corner)
        model.check_codes(space.codes(corner))


# ------------------------------------------------------------------------------------------------ resolution
@pytest.mark.parametrize("resolution", [2.5, 64.0, "128", True, 4, 0, -3, 5000])
def test_mesh_resolution_must_be_a_whole_number_in_range(tiny_model, resolution):
    from imface_core.engine.progressive import MeshRequest

    codes = tiny_model.codes(0, 0)
    with pytest.raises(ValueError, match=r"resolution must be a whole number from 8 to 1024.*got"):
        tiny_model.mesh(codes, resolution=resolution)
    with pytest.raises(ValueError, match="resolution must be a whole number"):
        MeshRequest(codes, resolution=resolution)


# ------------------------------------------------------------------------------------------------ files
def test_codes_files_that_are_not_codes_are_named(tiny_model, tmp_path):
    from imface_core.engine.transfer import load_codes, save_codes, transfer_detail

    text = tmp_path / "notes.txt"
    text.write_text("z_id 1 2 3\n")
    npy = tmp_path / "one.npy"
    np.save(npy, np.zeros(3))
    partial = tmp_path / "partial.npz"
    np.savez(partial, z_id=np.zeros(3))
    cases = [
        (text, "`" + str(text) + "` is not a codes file"),
        (npy, "holds a single array, not a codes file"),
        (tmp_path, "is a folder, not a codes file"),
        (partial, "lacks z_exp, z_det"),
        (tmp_path / "missing.npz", "codes file not found"),
        ("no-such-thing", "is neither a codes file nor IDENTITY:EXPRESSION"),
    ]
    for spec, words in cases:
        with pytest.raises(CodesError) as info:
            load_codes(tiny_model, spec)
        assert words in str(info.value) and "allow_pickle" not in str(info.value), str(info.value)
    assert "z_id, z_exp and z_det" in str(info.value)  # says what a codes file must contain
    # a codes file of another model (other sizes) or with absurd values
    good = tiny_model.codes(0, 0)
    save_codes(tmp_path / "big.npz", good.replace(z_id=np.zeros(7)))
    with pytest.raises(CodesError, match="z_id has 7 values"):
        load_codes(tiny_model, tmp_path / "big.npz")
    save_codes(tmp_path / "huge.npz", good.replace(z_det=good.z_det + 1e6))
    with pytest.raises(CodesError, match="z_det"):
        load_codes(tiny_model, tmp_path / "huge.npz")
    with pytest.raises(CodesError, match="source of a detail transfer must be FaceCodes"):
        transfer_detail(good, None)


def test_a_folder_is_not_a_model_file(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder, not a model file"):
        FaceModel.load(tmp_path, device="cpu")


# ------------------------------------------------------------------------------------------------ landmarks
@pytest.fixture(scope="module")
def face_scan(request):
    """A synthesized neutral scan (mm) with its 68 landmarks ($IMFACE_TEST_SCANS: a folder of them)."""
    env = os.environ.get("IMFACE_TEST_SCANS")
    root = Path(env) if env else request.getfixturevalue("tiny_raw_dir")
    path = sorted(root.glob("*/*_neutral.ply"))[0]
    return path, np.loadtxt(str(path)[: -len(".ply")] + "_landmarks.txt")


def test_degenerate_landmarks_are_refused_naming_the_file(face_scan, tmp_path):
    path, lm = face_scan
    five = lm[[36, 45, 30, 48, 54]]
    line = np.linspace([0.0, 0.0, 0.0], [90.0, 5.0, 1.0], 5) + np.random.default_rng(0).normal(0, 0.2, (5, 3))
    pair = five.copy()
    pair[4] = pair[3] + 0.3  # both mouth corners on one spot
    cases = {"identical": (np.repeat(five[:1], 5, axis=0), "all lie on one point"),
             "pair": (pair, "the right mouth corner and the left mouth corner coincide"),
             "line": (line, "lie on a line")}
    for name, (points, words) in cases.items():
        file = tmp_path / f"{name}_landmarks.txt"
        np.savetxt(file, points)
        with pytest.raises(ScanError) as info:
            load_scan(path, landmarks=file)
        assert f"`{file}`" in str(info.value) and words in str(info.value), str(info.value)
        with pytest.raises(ScanError, match=words):  # given as an array: named after the scan
            scan_from_arrays(np.asarray(trimesh.load(path).vertices), None, units="mm", landmarks=points)
    assert load_scan(path, landmarks=str(path)[: -len(".ply")] + "_landmarks.txt").landmarks.shape == (68, 3)


def test_landmarks_in_other_units_than_the_scan_are_refused(tiny_model, face_scan, tmp_path):
    from imface_core.fitting.align import reference_face
    from imface_core.fitting.scan_io import check_landmark_spread

    path, lm = face_scan
    file = tmp_path / "cm_landmarks.txt"
    np.savetxt(file, lm / 10.0)  # landmarks in cm, scan in mm
    scan = load_scan(path, units="mm", landmarks=file)
    with pytest.raises(ScanError) as info:  # refused before any ICP
        align_scan(tiny_model, scan)
    text = str(info.value)
    assert f"`{file}`" in text and "taken as mm" in text and re.search(r"\d+(\.\d+)?x smaller than a face", text), text
    face = reference_face(tiny_model).landmarks5 * 100.0
    for factor, refused in ((0.25, True), (0.4, False), (2.5, False), (4.0, True)):
        scaled = replace(scan, landmarks=lm * factor, landmarks_source="x")
        if refused:
            with pytest.raises(ScanError, match="larger than a face" if factor > 1 else "smaller than a face"):
                check_landmark_spread(scaled, face)
        else:
            check_landmark_spread(scaled, face)


# ------------------------------------------------------------------------------------------------ point clouds, units
def test_point_cloud_minimum_is_stated_with_its_reason(face_scan):
    path, _ = face_scan
    mesh = trimesh.load(path, process=False)
    points = trimesh.sample.sample_surface(mesh, MIN_CLOUD_POINTS, seed=0)[0]
    with pytest.raises(ScanError) as info:
        scan_from_arrays(points[:-1], None, units="mm", source="sparse.xyz")
    text = str(info.value)
    assert "`sparse.xyz`" in text and f"only {MIN_CLOUD_POINTS - 1:,} points" in text
    assert f"at least {MIN_CLOUD_POINTS:,}" in text and "too far apart" in text
    assert scan_from_arrays(points, None, units="mm").is_point_cloud
    # a mesh is sampled on its surface: its own minimum stays small
    assert scan_from_arrays(mesh.vertices, mesh.faces, units="mm").faces is not None


def test_auto_units_say_what_they_assumed_and_why(shipped_model, face_scan):
    path, _ = face_scan
    mesh = trimesh.load(path, process=False)
    inches = np.asarray(mesh.vertices) / 25.4
    scan = scan_from_arrays(inches, mesh.faces, source="face_in.obj")
    extent_in = float(np.max(np.percentile(inches, 99, axis=0) - np.percentile(inches, 1, axis=0)))
    (warning,) = [w for w in scan.warnings if "units" in w]
    assert f"{extent_in:.4g} units across" in warning and "too small for millimetres" in warning
    assert f"taking its units as {scan.units}" in warning and "--units in:" in warning, warning
    with pytest.raises(ScanError) as info:  # the wrong guess does not align: the error says which unit it took
        align_scan(shipped_model, scan)
    text = str(info.value)
    assert f"with its units taken as {scan.units}" in text and "--units in:" in text and "millimetres" not in text
    right = scan_from_arrays(inches, mesh.faces, units="in")
    np.testing.assert_allclose(right.vertices, mesh.vertices, rtol=1e-9)
    forced = scan_from_arrays(inches, mesh.faces, units="mm")
    assert any("not the size of a face" in w and "--units in:" in w for w in forced.warnings), forced.warnings
