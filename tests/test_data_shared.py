"""Integration tests of the data pipeline on the real ICT face model in ../shared.

The folder is ``../shared`` beside the checkout (or ``$IMFACE_SHARED``). Without it
these tests are skipped on a workstation and FAIL under CI (``CI`` set), where the
folder must be present.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import trimesh

from imface_core.data.detail import MAX_DETAIL_MM, PersonDetail
from imface_core.data.expressions import expression_weights
from imface_core.data.face_basis import (
    ICT_HEAD_VERTEX_COUNT,
    ICT_SKIN_VERTEX_COUNT,
    default_face_model,
    load_face_basis,
)
from imface_core.data.prep import PrepSettings, prepare_scan
from imface_core.data.prepared import load_prepared
from imface_core.data.synth import IdentitySpec, ScanSynthesizer, synthesize
from procedural_face import ARKIT_NAMES

pytestmark = pytest.mark.shared_data

SHARED = Path(os.environ.get("IMFACE_SHARED") or Path(__file__).resolve().parents[2] / "shared")
ICT_NPZ = SHARED / "data" / "ict_facekit" / "ict_head_sockets.npz"
EYES_NPZ = SHARED / "data" / "ict_facekit" / "ict_head_eyes.npz"


def _shared_file(path: Path) -> Path:
    if not path.is_file():
        message = (
            f"the ICT face model is not at {path}: put the read-only shared folder beside the "
            "checkout (../shared) or point IMFACE_SHARED at it"
        )
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this is an error, not a skip)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def ict_path() -> Path:
    return _shared_file(ICT_NPZ)


@pytest.fixture(scope="module")
def eyes_path() -> Path:
    return _shared_file(EYES_NPZ)


@pytest.fixture(scope="module")
def basis(ict_path):
    return load_face_basis(ict_path)


@pytest.fixture(scope="module")
def synthesizer(basis) -> ScanSynthesizer:
    return ScanSynthesizer(basis)


def test_real_model_loads_in_millimetres_with_skin_only_scans(basis):
    assert basis.mean.shape == (ICT_HEAD_VERTEX_COUNT, 3)
    assert basis.skin_vertex_count == ICT_SKIN_VERTEX_COUNT == 11248
    assert basis.id_basis.shape == (100, ICT_HEAD_VERTEX_COUNT, 3)
    assert basis.exp_names == ARKIT_NAMES  # the procedural test model uses the same 53 names
    lm = basis.mean[basis.landmarks68]
    eye_corners = np.linalg.norm(lm[36] - lm[45])
    assert 80.0 < eye_corners < 110.0, eye_corners  # mm (the mean face: ~89 mm)
    assert lm[36, 0] < 0 < lm[45, 0]  # subject's right eye at -x, +z towards the viewer
    assert lm[30, 2] - 0.5 * (lm[36, 2] + lm[45, 2]) > 30.0  # the nose is well in front of the eyes
    assert lm[48:68, 1].max() < lm[30, 1] < lm[36:48, 1].min() < lm[17:27, 1].min()  # upright
    assert basis.landmarks68.max() < basis.skin_vertex_count  # every landmark is on the skin


def test_synth_and_prep_a_real_scan(tmp_path, ict_path, basis, synthesizer):
    raw = tmp_path / "RAW"
    manifest = synthesize(ict_path, raw, 1, 3, seed=0, jobs=1)
    person = manifest["identities"][0]
    assert [s["expression"] for s in person["scans"]] == ["neutral", "smile", "jaw_open"]
    n_vertices = synthesizer.plan.matrix.shape[0]
    for scan in person["scans"]:
        mesh = trimesh.load(raw / scan["file"], process=False, force="mesh")
        assert mesh.vertices.shape == (n_vertices, 3)  # skin only (no eye or mouth sockets), subdivided
        assert mesh.faces.max() < n_vertices
    assert json.loads((raw / "manifest.json").read_text()) == manifest

    out = tmp_path / "DATA" / person["name"] / "1_neutral.npz"
    settings = PrepSettings(surface_points=30_000, free_points=3_000)
    prepare_scan(raw / person["scans"][0]["file"], out, settings)
    a = {**load_prepared(out), "translation_mm": np.load(out)["translation_mm"]}
    assert all(v.dtype == np.float32 for v in a.values())
    np.testing.assert_allclose(a["landmarks"][30], [0.0, 0.0, 0.4], atol=1e-6)
    assert a["surface_points"].shape == (30_000, 3)
    assert np.linalg.norm(a["surface_points"], axis=1).max() < 1.0
    assert np.linalg.norm(a["free_points"], axis=1).max() < 1.0
    assert a["surface_normals"][:, 2].min() > 0.0
    assert (a["free_sdf"] > 0).any() and (a["free_sdf"] < 0).any()
    eyes = np.linalg.norm(a["landmarks"][36] - a["landmarks"][45])
    assert 0.8 < eyes < 1.1  # normalised units: 100 mm per unit
    wt = trimesh.load(out.with_suffix(".ply"), process=False, force="mesh")
    assert wt.face_normals[:, 2].min() > 0.0
    # Eyes and mouth are closed over: the only open edges are on the outer outline, far from them.
    edges, counts = np.unique(wt.edges_sorted, axis=0, return_counts=True)
    outline = wt.vertices[np.unique(edges[counts == 1])]
    assert np.hypot(outline[:, 0], outline[:, 1]).min() > 0.6
    # The crop keeps the face: it spans well over 12 cm across and from chin to forehead.
    extent = wt.vertices.max(axis=0) - wt.vertices.min(axis=0)
    assert extent[0] > 1.2 and extent[1] > 1.4


def _forehead(details) -> np.ndarray:
    """Rest vertices of the lower forehead (8-22 mm above the brows, within 30 mm of the midline)."""
    rest, lm = details.rest, details.lm
    brow_y = lm[17:27, 1].max()
    cx = 0.5 * (lm[36, 0] + lm[45, 0])
    band = (rest[:, 1] > brow_y + 8) & (rest[:, 1] < brow_y + 22) & (np.abs(rest[:, 0] - cx) < 30)
    return band & (rest[:, 2] > lm[30, 2] - 60)  # the front of the head


def test_forehead_wrinkles_on_the_real_model(basis, synthesizer):
    details = synthesizer.details
    rest, lm = details.rest, details.lm
    forehead = _forehead(details)
    assert forehead.sum() > 500
    assert details.mask[forehead].mean() > 0.9  # the detail region covers the forehead
    person = IdentitySpec("p", np.zeros(basis.id_basis.shape[0], np.float32), PersonDetail(seed=4, age=0.7), 0)
    neutral_w = expression_weights("neutral", basis.exp_names)
    raised_w = expression_weights("brow_raise", basis.exp_names)
    neutral = details.displacement(person.detail, neutral_w, basis.exp_names)
    raised = details.displacement(person.detail, raised_w, basis.exp_names)
    diff = raised - neutral
    assert diff[forehead].min() < -0.3  # mm: grooves with raised brows ...
    assert np.abs(diff[rest[:, 1] < lm[30, 1]]).max() < 1e-9  # ... and nothing moves below the nose
    # In the geometry: detail in the forehead is much deeper in brow_raise than in neutral.
    depth = []
    for w in (neutral_w, raised_w):
        detailed = synthesizer.scan(person, w)[0].astype(np.float64)
        smooth = synthesizer.scan(person, w, with_detail=False)[0].astype(np.float64)
        moved = np.linalg.norm(detailed - smooth, axis=1)
        assert moved.max() <= MAX_DETAIL_MM + 1e-3
        depth.append(np.percentile(moved[forehead], 95))
    assert depth[1] > 2.0 * depth[0] and depth[1] > 0.3, depth


def test_every_wrinkle_family_shows_on_the_real_model(synthesizer):
    """Each family, fully driven, carves a groove of at least 0.15 mm (none is masked away)."""
    details = synthesizer.details
    families = ("forehead", "frown", "crow_L", "crow_R", "nasolabial_L", "nasolabial_R")
    rest_act = dict.fromkeys(families, 0.0)
    person = PersonDetail(seed=1, age=0.5)
    base = details.wrinkles(person, rest_act)
    depth = {f: float(np.abs(details.wrinkles(person, {**rest_act, f: 1.0}) - base).max()) for f in families}
    assert min(depth.values()) > 0.15, depth


def test_detail_leaves_no_cracks_at_the_subdivision_border(basis, synthesizer):
    """Midpoints on edges shared with unsubdivided faces (T-junctions) stay on those edges."""
    plan = synthesizer.plan
    n = plan.n_original
    coarse = plan.faces[(plan.faces < n).all(axis=1)]  # faces left as they were
    assert len(coarse) > 0
    edges = np.sort(np.concatenate([coarse[:, [0, 1]], coarse[:, [1, 2]], coarse[:, [2, 0]]]), axis=1)
    m = plan.matrix.tocsr()
    two = np.flatnonzero(np.diff(m.indptr) == 2)
    two = two[two >= n]
    pairs = np.sort(m.indices[m.indptr[two][:, None] + np.arange(2)], axis=1)
    t_junction = two[np.isin(pairs[:, 0] * n + pairs[:, 1], edges[:, 0] * n + edges[:, 1])]
    assert len(t_junction) > 100
    person = IdentitySpec("p", np.zeros(basis.id_basis.shape[0], np.float32), PersonDetail(seed=2, age=1.0), 0)
    verts = synthesizer.scan(person, expression_weights("grin", basis.exp_names))[0].astype(np.float64)
    on_edge = m[t_junction] @ verts[:n]
    assert np.abs(verts[t_junction] - on_edge).max() < 1e-3  # mm


# -- scans with eyes (ict_head_eyes.npz) -------------------------------------------------------------


def test_eyes_model_is_the_default_and_expressions_leave_the_eyeballs_still(eyes_path, monkeypatch):
    monkeypatch.setenv("IMFACE_SHARED", str(SHARED))
    assert default_face_model() == EYES_NPZ
    b = load_face_basis(eyes_path)
    eyes = b.eyeball_vertices
    assert len(eyes) == 3140 and eyes.min() == ICT_HEAD_VERTEX_COUNT and eyes.max() == len(b.mean) - 1
    assert b.skin_vertex_count == ICT_SKIN_VERTEX_COUNT
    assert b.id_basis.shape[0] == 100 and np.abs(b.id_basis[:, eyes]).max() > 0.5  # mm: identity shapes them
    assert np.abs(b.exp_basis[:, eyes]).max() == 0.0  # no expression moves them
    # A scan keeps skin and eyeballs, not the mouth or eye sockets.
    assert np.array_equal(b.scan_vertices, np.concatenate([np.arange(ICT_SKIN_VERTEX_COUNT), eyes]))


@pytest.fixture(scope="module")
def eye_scans(tmp_path_factory, eyes_path):
    """One person with eyes: raw scans of the first 8 expressions (neutral ... eyes_closed), three prepared."""
    root = tmp_path_factory.mktemp("eyes")
    manifest = synthesize(eyes_path, root / "RAW", 1, 8, seed=11, jobs=1)
    person = manifest["identities"][0]
    synth = ScanSynthesizer(load_face_basis(eyes_path))
    prepared = {}
    for scan in person["scans"]:
        if scan["expression"] in ("neutral", "brow_raise", "eyes_closed"):
            out = root / "DATA" / scan["file"].replace(".ply", ".npz")
            prepare_scan(root / "RAW" / scan["file"], out, PrepSettings(surface_points=40_000, free_points=2_000))
            prepared[scan["expression"]] = (root / "RAW" / scan["file"], out)
    return manifest, synth, prepared


def _on_eyeball(raw_ply: Path, npz: Path, eyeball: np.ndarray):
    """(prepared-mesh vertices that are eyeball vertices of the raw scan, surface samples on eyeball-only triangles)."""
    shift = np.load(npz)["translation_mm"].astype(np.float64)
    raw = np.asarray(trimesh.load(raw_ply, process=False, force="mesh").vertices, dtype=np.float64)
    eye_points = ((raw[eyeball] + shift) / 100.0).astype(np.float32)
    wt = trimesh.load(npz.with_suffix(".ply"), process=False, force="mesh")
    from scipy.spatial import cKDTree

    d, _ = cKDTree(eye_points).query(np.asarray(wt.vertices))
    is_eye = d < 1e-6
    eye_faces = is_eye[wt.faces].all(axis=1)
    samples = load_prepared(npz)["surface_points"].astype(np.float64)
    near = cKDTree(np.asarray(wt.vertices)[is_eye]).query(samples)[0] < 0.02 if is_eye.any() else np.zeros(len(samples), bool)
    on = np.zeros(len(samples), dtype=bool)
    if near.any():
        _, dist, tri = wt.nearest.on_surface(samples[near])
        on[np.flatnonzero(near)] = eye_faces[tri] & (dist < 1e-4)
    return int(is_eye.sum()), int(on.sum())


def test_eyes_show_between_open_lids_and_closed_lids_cover_them(eye_scans):
    manifest, synth, prepared = eye_scans
    assert len(manifest["identities"][0]["id_coef"]) == 100  # drawn over every ICT identity mode
    counts = {name: _on_eyeball(raw, npz, synth.eyeball) for name, (raw, npz) in prepared.items()}
    for name in ("neutral", "brow_raise"):
        vertices, samples = counts[name]
        assert vertices > 300 and samples > 100, (name, counts)  # eyeball surface between the lids (both eyes)
    # The lids cover it: no surface sample on it, at most a vertex or two where the lids meet at a corner.
    assert counts["eyes_closed"][0] <= 3 and counts["eyes_closed"][1] == 0, counts


def test_eyeballs_get_no_detail_and_stay_still_between_expressions(eye_scans):
    _, synth, _ = eye_scans
    b = synth.basis
    assert synth.eyeball.sum() > 3140 and synth.details.mask[synth.eyeball].max() == 0.0
    person = IdentitySpec("p", np.random.default_rng(3).normal(size=100).astype(np.float32), PersonDetail(seed=5, age=1.0), 0)
    scans = {n: synth.scan(person, expression_weights(n, b.exp_names)) for n in ("neutral", "eyes_closed", "grin")}
    smooth = synth.scan(person, expression_weights("grin", b.exp_names), with_detail=False)[0]
    eye = synth.eyeball
    np.testing.assert_array_equal(scans["grin"][0][eye], smooth[eye])  # no texture or wrinkles on the eyeballs
    assert np.abs(scans["grin"][0][~eye] - smooth[~eye]).max() > 0.1  # (the skin has them)
    for n in ("eyes_closed", "grin"):
        np.testing.assert_array_equal(scans[n][0][eye], scans["neutral"][0][eye])


def test_prepared_eye_region_has_no_streaks(eye_scans):
    """The open eye's surface has no long slivers: every triangle within the eye openings is short in (x, y)."""
    _, synth, prepared = eye_scans
    raw_ply, npz = prepared["neutral"]
    wt = trimesh.load(npz.with_suffix(".ply"), process=False, force="mesh")
    lm = load_prepared(npz, keys=("landmarks",))["landmarks"]
    v = np.asarray(wt.vertices)
    longest = np.max([np.linalg.norm(v[wt.faces[:, i], :2] - v[wt.faces[:, (i + 1) % 3], :2], axis=1) for i in range(3)], axis=0)
    centroid = v[wt.faces].mean(axis=1)
    for corners in ((36, 39), (42, 45)):
        c = lm[list(corners)].mean(axis=0)
        half = np.abs(lm[corners[0]] - lm[corners[1]])[0] / 2
        inside = (np.abs(centroid[:, 0] - c[0]) < half * 0.8) & (np.abs(centroid[:, 1] - c[1]) < 0.04)
        assert inside.sum() > 200
        assert longest[inside].max() < 0.03, longest[inside].max()  # 3 mm


def test_a_strong_expression_of_a_new_person_aligns_with_its_landmarks(tmp_path, eyes_path):
    """A smile moves much of the face away from the neutral mean face (62 % of it within 4 mm here, under the
    65 % a scan without landmarks must reach); with its landmarks the scan is taken, a sphere with them is not."""
    from imface_core.errors import ScanError
    from imface_core.face_model import FaceModel
    from imface_core.fitting.align import align_scan
    from imface_core.fitting.scan_io import load_scan, scan_from_arrays
    from imface_core.settings import AlignSettings

    synthesize(eyes_path, tmp_path, 2, 2, seed=1, jobs=1)
    smile = tmp_path / "s1_001" / "2_smile.ply"
    landmarks = smile.with_name("2_smile_landmarks.txt")
    model = FaceModel.load_default()
    settings = AlignSettings()
    alignment = align_scan(model, load_scan(smile, units="mm", landmarks=landmarks), settings)
    assert alignment.method == "landmarks+icp"
    assert settings.min_inlier_fraction_landmarks <= alignment.inlier_fraction < settings.min_inlier_fraction
    assert alignment.nose_mm < 3.0
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=90.0)
    with pytest.raises(ScanError, match="landmarks are this scan's"):
        align_scan(model, scan_from_arrays(sphere.vertices, sphere.faces, units="mm",
                                           landmarks=np.loadtxt(landmarks)), settings)


# ------------------------------------------------------------------------------------------- real scans (FaceFuns)
FACEFUNS = SHARED / "data" / "facefuns"


@pytest.fixture(scope="module")
def facefuns_f18() -> Path:
    return _shared_file(FACEFUNS / "f18.ply")


def test_face_regions_of_a_real_scan_lie_where_the_face_has_them(facefuns_f18):
    """The eval's per-region errors group a real scan's surface by the fitted face's template coordinates: the
    regions must come out where a face has them (y up, +z towards the viewer, millimetres)."""
    from imface_core.evaluation.real_scans import FACE_REGIONS, region_labels
    from imface_core.face_model import DEFAULT_MODEL, FaceModel
    from imface_core.fitting import FitSettings, fit_scan
    from imface_core.metrics import sample_points

    model = FaceModel.load(DEFAULT_MODEL)
    res = fit_scan(model, facefuns_f18, settings=FitSettings(steps=30), with_metrics=False)
    points = sample_points(res.target_mm, 20_000, np.random.default_rng(0))
    labels = region_labels(model, res.codes, res.mesh, res.mesh_mm[0], points)
    names = list(FACE_REGIONS)
    centre = {name: points[labels == k].mean(axis=0) for k, name in enumerate(names)}
    share = {name: float((labels == k).mean()) for k, name in enumerate(names)}
    assert all(s > 0.02 for s in share.values()), share
    assert centre["forehead"][1] > centre["eyes"][1] > centre["nose"][1] > centre["mouth"][1]
    assert centre["nose"][2] > max(centre[n][2] for n in ("eyes", "cheeks", "forehead"))  # the nose sticks out
    eyes = points[labels == names.index("eyes")]
    assert (eyes[:, 0] < centre["nose"][0]).mean() > 0.3 and (eyes[:, 0] > centre["nose"][0]).mean() > 0.3


def test_eval_real_scans_table_with_all_three_methods(facefuns_f18, tmp_path, tiny_raw_dir):
    import shutil

    from imface_core.cli import main
    from imface_core.evaluation.real_scans import FACE_REGIONS

    real = tmp_path / "real"
    real.mkdir()
    shutil.copy(facefuns_f18, real / "f18.ply")
    (real / "notes.txt").write_text("not a scan")  # other files are left alone
    out = tmp_path / "eval"
    args = ["eval", "--real", str(real), "--train-raw", str(tiny_raw_dir), "--makehuman", "0", "--steps", "30",
            "--out", str(out)]
    assert main(args) == 0
    rows = {r["method"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert set(rows) == {"full", "stage1", "pca"}
    for r in rows.values():  # (the PCA baseline here is built from the test's procedural faces: no real face)
        assert r["dataset"] == "real" and r["scan"] == "f18" and 0 < r["chamfer_mm"] < (20.0 if r["method"] == "pca" else 3.0)
        assert set(r["regions"]) == set(FACE_REGIONS) and all(np.isfinite(v) and v > 0 for v in r["regions"].values())
    assert rows["full"]["chamfer_mm"] < 1.0  # the neural model fits a real face to within a millimetre
    table = (out / "table.md").read_text()
    assert "### Real scans" in table and "| f18 |" in table and "PCA baseline" in table
    assert all(f"| {name} |" in table for name in FACE_REGIONS)
    before = (out / "results.jsonl").read_text()
    assert main(args) == 0 and (out / "results.jsonl").read_text() == before  # resumed: nothing fitted again
