"""The data pipeline (synth -> prep -> dataset) on a tiny procedural face model; no ../shared needed.

The model (``procedural_face.py``) has the arrays of the ICT npz but ~1,700
vertices, so a whole synth + prep round trip takes seconds. Expensive steps run
once per module (fixtures) and the tests read their outputs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from imface_core.data.dataset import REQUIRED_KEYS, DatasetError, FaceScanDataset, split_identities
from imface_core.data.detail import MAX_DETAIL_MM, DetailGenerator, PersonDetail, wrinkle_activations
from imface_core.data.expressions import EXPRESSION_NAMES, expression_weights
from imface_core.data.face_basis import load_face_basis
from imface_core.data.prep import PREP_INFO, PrepSettings, ScanError, prepare_dataset, prepare_scan
from imface_core.data.prepared import FORMAT, load_prepared
from imface_core.data.sampling import NEAR_SURFACE, signed_distance
from imface_core.data.synth import IdentitySpec, ScanSynthesizer, synthesize
from procedural_face import ARKIT_NAMES, write_face_model

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = 7
N_IDENTITIES = 2
N_EXPRESSIONS = 3  # neutral, smile, jaw_open
PREP = PrepSettings(surface_points=60_000, free_points=4_000, seed=0)
NPZ_KEYS = {"surface_points", "surface_normals", "free_points", "free_sdf", "free_grad", "landmarks", "translation_mm"}
PACKED_DTYPES = {
    "format": np.int32, "surface_points_i16": np.int16, "surface_normals_i8": np.int8, "free_points_i16": np.int16,
    "free_sdf_f16": np.float16, "free_grad_i8": np.int8, "landmarks": np.float32, "translation_mm": np.float32,
}


# -- fixtures: one model, one synth run, one prep run per module --------------------------------------


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return write_face_model(tmp_path_factory.mktemp("model") / "procedural_face.npz")


@pytest.fixture(scope="module")
def basis(model_path):
    return load_face_basis(model_path)


@pytest.fixture(scope="module")
def synthesizer(basis) -> ScanSynthesizer:
    return ScanSynthesizer(basis)


@pytest.fixture(scope="module")
def raw(tmp_path_factory, model_path):
    """(RAW dir, manifest) of 2 identities x 3 expressions."""
    out = tmp_path_factory.mktemp("raw") / "RAW"
    manifest = synthesize(model_path, out, N_IDENTITIES, N_EXPRESSIONS, seed=SEED, jobs=1)
    return out, manifest


@pytest.fixture(scope="module")
def prepped(tmp_path_factory, raw):
    """DATA dir prepared from the neutral and smile scans of both identities (4 scans)."""
    raw_dir, _ = raw
    subset = tmp_path_factory.mktemp("raw_subset") / "RAW"
    for ply in sorted(raw_dir.glob("*/[12]_*.ply")):
        dst = subset / ply.parent.name
        dst.mkdir(parents=True, exist_ok=True)
        for f in (ply, ply.with_name(ply.stem + "_landmarks.txt")):
            (dst / f.name).write_bytes(f.read_bytes())
    data = tmp_path_factory.mktemp("data") / "DATA"
    done, skipped = prepare_dataset(subset, data, PREP, jobs=1)
    assert skipped == [] and len(done) == 4, (done, skipped)
    return subset, data


def _ply_vertices(path: Path) -> np.ndarray:
    return np.asarray(trimesh.load(path, process=False, force="mesh").vertices)


# -- the procedural model itself -------------------------------------------------------------------


def test_procedural_model_looks_like_the_ict_npz(model_path, basis):
    data = np.load(model_path)
    assert data["mean"].dtype == np.float32 and data["faces"].dtype == np.int32
    assert tuple(str(n) for n in data["exp_names"]) == ARKIT_NAMES
    assert data["exp_basis"].shape == (53,) + data["mean"].shape
    mm = basis.mean  # the loader converts cm -> mm
    lm = mm[basis.landmarks68]
    assert basis.skin_vertex_count == len(mm)  # not 14,062 vertices: all skin
    assert basis.nose_tip == int(np.argmax(mm[:, 2]))
    assert 80 < np.linalg.norm(lm[36] - lm[45]) < 100 and lm[36, 0] < 0 < lm[45, 0]
    assert lm[17:27, 1].min() > max(lm[36:48, 1].max(), lm[30, 1]) > lm[30, 1] > lm[48:68, 1].max()


# -- synth -----------------------------------------------------------------------------------------


def test_synth_writes_scans_landmarks_and_manifest(raw, basis):
    raw_dir, manifest = raw
    names = list(EXPRESSION_NAMES[:N_EXPRESSIONS])
    assert names[0] == "neutral"
    on_disk = json.loads((raw_dir / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["seed"] == SEED and manifest["expressions"] == names
    people = manifest["identities"]
    assert [p["name"] for p in people] == sorted(p.name for p in raw_dir.iterdir() if p.is_dir())
    expected = {"manifest.json"}
    for person in people:
        assert len(person["id_coef"]) == basis.id_basis.shape[0]
        assert set(person["detail"]) == {"seed", "age"}
        assert [s["expression"] for s in person["scans"]] == names
        assert person["scans"][0]["weights"] == {}  # neutral is exactly neutral
        assert set(person["scans"][1]["weights"]) >= {"mouthSmile_L", "mouthSmile_R"}
        for k, scan in enumerate(person["scans"]):
            stem = f"{k + 1}_{names[k]}"
            assert scan["file"] == f"{person['name']}/{stem}.ply"
            expected |= {f"{person['name']}/{stem}.ply", f"{person['name']}/{stem}_landmarks.txt"}
            mesh = trimesh.load(raw_dir / scan["file"], process=False, force="mesh")
            lm = np.loadtxt(raw_dir / person["name"] / f"{stem}_landmarks.txt")
            assert lm.shape == (68, 3)
            # The landmarks are the scan's own vertices (written with 4 decimals).
            assert np.abs(lm - np.asarray(mesh.vertices)[basis.landmarks68]).max() < 1e-3
    written = {str(p.relative_to(raw_dir)) for p in raw_dir.rglob("*") if p.is_file()}
    assert written == expected  # and no temporary files left behind


def test_manifest_regenerates_every_scan(raw, basis, synthesizer):
    """Everything random is in the manifest: coefficients + weights + detail rebuild the file."""
    raw_dir, manifest = raw
    for person in manifest["identities"]:
        spec = IdentitySpec(
            person["name"],
            np.asarray(person["id_coef"], dtype=np.float32),
            PersonDetail(**person["detail"]),
            exp_rng_seed=0,  # not needed: the weights are recorded
        )
        for scan in person["scans"]:
            w = np.zeros(len(basis.exp_names), dtype=np.float32)
            for name, value in scan["weights"].items():
                w[basis.exp_index(name)] = value
            verts, _, _ = synthesizer.scan(spec, w)
            assert np.abs(verts - _ply_vertices(raw_dir / scan["file"])).max() < 1e-3  # mm


def test_synth_same_seed_is_byte_identical_and_takes_first_m_expressions(tmp_path, model_path, raw):
    raw_dir, manifest = raw
    again = synthesize(model_path, tmp_path / "RAW", 1, 2, seed=SEED, jobs=1)
    assert again["expressions"] == ["neutral", "smile"] == list(EXPRESSION_NAMES[:2])
    first = manifest["identities"][0]
    assert again["identities"][0]["id_coef"] == first["id_coef"]
    assert again["identities"][0]["detail"] == first["detail"]
    files = sorted(p.relative_to(tmp_path / "RAW") for p in (tmp_path / "RAW").rglob("*.ply"))
    assert [str(f) for f in files] == [f"{first['name']}/1_neutral.ply", f"{first['name']}/2_smile.ply"]
    for f in files:
        assert (tmp_path / "RAW" / f).read_bytes() == (raw_dir / f).read_bytes()


def test_synth_with_two_workers_writes_the_same_files(tmp_path, model_path):
    synthesize(model_path, tmp_path / "one", 2, 2, seed=1, jobs=1)
    synthesize(model_path, tmp_path / "two", 2, 2, seed=1, jobs=2)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert len(files) == 1 + 2 * 2 * 2
    assert files == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*") if p.is_file())
    for f in files:
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f


def test_synth_goes_on_where_a_stopped_run_left_off(tmp_path, model_path):
    out = tmp_path / "RAW"
    synthesize(model_path, out, 1, 3, seed=1, jobs=1)
    person = next(p for p in out.iterdir() if p.is_dir())
    complete = (person / "1_neutral.ply").read_bytes()
    lost = person / "3_jaw_open.ply"
    lost_bytes = lost.read_bytes()
    lost.unlink()  # a run killed while writing its third scan: that scan is missing, its landmarks too
    (person / "3_jaw_open_landmarks.txt").unlink()
    (person / "1_neutral.ply").write_bytes(b"kept")  # a finished scan is not written again
    synthesize(model_path, out, 1, 3, seed=1, jobs=1)
    assert lost.read_bytes() == lost_bytes
    assert (person / "3_jaw_open_landmarks.txt").exists()
    assert (person / "1_neutral.ply").read_bytes() == b"kept" != complete


def test_synth_different_seed_gives_different_people(tmp_path, model_path, raw):
    raw_dir, manifest = raw
    other = synthesize(model_path, tmp_path / "RAW", 1, 1, seed=SEED + 1, jobs=1)
    a, b = manifest["identities"][0], other["identities"][0]
    assert a["name"] != b["name"]
    assert not np.allclose(a["id_coef"], b["id_coef"])
    va = _ply_vertices(raw_dir / a["scans"][0]["file"])
    vb = _ply_vertices(tmp_path / "RAW" / b["scans"][0]["file"])
    assert va.shape == vb.shape and np.abs(va - vb).max() > 1.0  # mm


def test_synth_rejects_bad_counts(tmp_path, model_path):
    with pytest.raises(ValueError, match="--expressions"):
        synthesize(model_path, tmp_path / "RAW", 1, 0, seed=0)
    with pytest.raises(ValueError, match="--expressions"):
        synthesize(model_path, tmp_path / "RAW", 1, len(EXPRESSION_NAMES) + 1, seed=0)
    with pytest.raises(ValueError, match="--identities"):
        synthesize(model_path, tmp_path / "RAW", 0, 1, seed=0)


def test_expression_weights_neutral_and_variation():
    names = ARKIT_NAMES
    assert not expression_weights("neutral", names, np.random.default_rng(0)).any()
    plain = expression_weights("smile", names)
    varied = expression_weights("smile", names, np.random.default_rng(0))
    assert plain[names.index("mouthSmile_L")] == pytest.approx(0.85)
    assert (varied > 0).sum() == (plain > 0).sum() and not np.allclose(plain, varied)
    assert np.all((varied >= 0) & (varied <= 1))
    with pytest.raises(ValueError, match="unknown expression"):
        expression_weights("yawn", names)


# -- detail ----------------------------------------------------------------------------------------


def _weights(basis, name: str) -> np.ndarray:
    return expression_weights(name, basis.exp_names)


def test_detail_within_bound_in_synthesised_scans(synthesizer, basis):
    person = IdentitySpec("p", np.zeros(basis.id_basis.shape[0], np.float32), PersonDetail(seed=11, age=1.0), 0)
    for name in ("neutral", "brow_raise", "grin", "brow_lower"):
        w = _weights(basis, name)
        with_detail = synthesizer.scan(person, w)[0].astype(np.float64)
        without = synthesizer.scan(person, w, with_detail=False)[0].astype(np.float64)
        moved = np.linalg.norm(with_detail - without, axis=1)
        assert moved.max() <= MAX_DETAIL_MM + 1e-3
        assert moved.max() > 0.05  # there is detail at all
        raw_disp = synthesizer.details.displacement(person.detail, w, basis.exp_names)
        assert np.abs(raw_disp).max() <= MAX_DETAIL_MM


def test_forehead_wrinkles_appear_with_brow_raise_on_the_procedural_scan(synthesizer, basis):
    details = synthesizer.details
    person = PersonDetail(seed=3, age=0.8)
    rest, lm = details.rest, details.lm
    brow_y = lm[17:27, 1].max()
    cx = 0.5 * (lm[36, 0] + lm[45, 0])
    forehead = (rest[:, 1] > brow_y + 12) & (rest[:, 1] < brow_y + 35) & (np.abs(rest[:, 0] - cx) < 30)
    assert forehead.sum() > 200
    neutral = details.displacement(person, _weights(basis, "neutral"), basis.exp_names)
    raised = details.displacement(person, _weights(basis, "brow_raise"), basis.exp_names)
    diff = raised - neutral
    # Grooves several tenths of a mm deep with raised brows; only a trace of them in neutral.
    assert diff[forehead].min() < -0.2
    act = {name: wrinkle_activations(_weights(basis, name), basis.exp_names) for name in ("neutral", "brow_raise")}
    lines_neutral = np.abs(details.wrinkles(person, act["neutral"])[forehead]).max()
    lines_raised = np.abs(details.wrinkles(person, act["brow_raise"])[forehead]).max()
    assert lines_neutral < 0.2 * lines_raised
    # Nothing changes below the nose, and grooves only deepen, never bulge.
    assert np.abs(diff[rest[:, 1] < lm[30, 1]]).max() == 0.0
    assert diff.max() < 1e-9


def test_forehead_lines_on_a_dense_rest_surface(basis):
    """On a 0.5 mm grid the lines are horizontal grooves ~8-12 mm apart, there only with raised brows."""
    lm = basis.mean[basis.landmarks68].astype(np.float64)
    brow_y = lm[17:27, 1].max()
    xs, ys = np.meshgrid(np.arange(-20.0, 20.0, 0.5), np.arange(brow_y + 5.0, brow_y + 50.0, 0.5), indexing="ij")
    rest = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, lm[30, 2] - 15.0)], axis=1)
    gen = DetailGenerator(rest, lm, np.ones(len(rest)))
    person = PersonDetail(seed=5, age=0.7)
    act_neutral = wrinkle_activations(_weights(basis, "neutral"), basis.exp_names)
    act_raise = wrinkle_activations(_weights(basis, "brow_raise"), basis.exp_names)
    assert act_neutral["forehead"] == 0.0 and act_raise["forehead"] > 0.6
    w_neutral = gen.wrinkles(person, act_neutral).reshape(xs.shape)
    w_raise = gen.wrinkles(person, act_raise).reshape(xs.shape)
    assert np.abs(w_raise).max() > 4 * np.abs(w_neutral).max()
    assert w_raise.min() < -0.3
    # A vertical profile through the middle crosses several distinct grooves.
    column = w_raise[xs.shape[0] // 2]
    grooves = np.flatnonzero((column[1:-1] < column[:-2]) & (column[1:-1] <= column[2:]) & (column[1:-1] < -0.1))
    assert len(grooves) >= 2
    spacing = np.diff(ys[0, 1:-1][grooves])
    assert np.all((spacing > 6.0) & (spacing < 16.0)), spacing


def test_texture_is_skin_attached_and_expression_independent(synthesizer, basis):
    details = synthesizer.details
    person = PersonDetail(seed=21, age=0.5)
    texture = details.texture(person)
    assert np.abs(texture).max() > 0.05
    for name in ("neutral", "smile", "brow_raise", "sneer"):
        w = _weights(basis, name)
        act = wrinkle_activations(w, basis.exp_names)
        total = details.displacement(person, w, basis.exp_names)
        unclipped = np.abs(total) < MAX_DETAIL_MM
        # Whatever is not wrinkle is the same texture in every expression.
        np.testing.assert_allclose((total - details.wrinkles(person, act))[unclipped], texture[unclipped], atol=1e-12)
    # Expressions that drive no wrinkle family have identical detail on every vertex ...
    d_neutral = details.displacement(person, _weights(basis, "neutral"), basis.exp_names)
    d_jaw = details.displacement(person, _weights(basis, "jaw_open"), basis.exp_names)
    np.testing.assert_array_equal(d_neutral, d_jaw)
    # ... and in the scans the detail rides on the moving skin: same vertex, same offset.
    spec = IdentitySpec("p", np.zeros(basis.id_basis.shape[0], np.float32), person, 0)
    offsets = []
    for name in ("neutral", "jaw_open"):
        w = _weights(basis, name)
        offsets.append(np.linalg.norm(synthesizer.scan(spec, w)[0] - synthesizer.scan(spec, w, with_detail=False)[0], axis=1))
    np.testing.assert_allclose(offsets[0], offsets[1], atol=2e-3)
    # A different person has a different texture.
    assert not np.allclose(details.texture(PersonDetail(seed=22, age=0.5)), texture)


# -- prep ------------------------------------------------------------------------------------------


def _raw_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _npz(path: Path) -> dict[str, np.ndarray]:
    """A prepared scan's samples as float32 (either file format), with translation_mm when it has one."""
    raw = _raw_npz(path)
    return {**load_prepared(path), **({"translation_mm": raw["translation_mm"]} if "translation_mm" in raw else {})}


def test_prep_writes_compact_arrays_with_nose_tip_at_0_0_04(prepped):
    _, data_dir = prepped
    files = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file())
    assert PREP_INFO in files and len(files) == 1 + 2 * 4
    for npz in data_dir.glob("*/*.npz"):
        stored = _raw_npz(npz)
        assert {k: v.dtype for k, v in stored.items()} == PACKED_DTYPES and int(stored["format"]) == FORMAT
        a = _npz(npz)
        assert set(a) == NPZ_KEYS
        assert all(v.dtype == np.float32 for v in a.values())
        assert a["surface_points"].shape == a["surface_normals"].shape == (PREP.surface_points, 3)
        n_free = len(a["free_points"])
        assert 0.9 * PREP.free_points < n_free <= PREP.free_points
        assert a["free_points"].shape == a["free_grad"].shape == (n_free, 3) and a["free_sdf"].shape == (n_free,)
        assert a["landmarks"].shape == (68, 3)
        np.testing.assert_allclose(a["landmarks"][30], [0.0, 0.0, 0.4], atol=1e-6)
        for key in ("surface_points", "free_points", "free_sdf", "free_grad", "surface_normals"):
            assert np.isfinite(a[key]).all(), key
        assert np.linalg.norm(a["surface_points"], axis=1).max() < 1.0
        assert np.linalg.norm(a["free_points"], axis=1).max() < 1.0
        assert np.linalg.norm(a["landmarks"], axis=1).max() < 1.0
        normals = a["surface_normals"]
        np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
        assert normals[:, 2].min() > 0.0  # frontal height field: every normal faces the viewer
        np.testing.assert_allclose(np.linalg.norm(a["free_grad"], axis=1), 1.0, atol=1e-4)


def test_prep_landmarks_are_the_raw_ones_normalised(prepped):
    raw_dir, data_dir = prepped
    for npz in data_dir.glob("*/*.npz"):
        a = _npz(npz)
        raw_lm = np.loadtxt(raw_dir / npz.parent.name / (npz.stem + "_landmarks.txt"))
        np.testing.assert_allclose(a["landmarks"], (raw_lm + a["translation_mm"]) / 100.0, atol=1e-5)
        np.testing.assert_allclose(a["translation_mm"], [0, 0, 40] - raw_lm[30], atol=1e-3)


def _boundary_vertices(mesh: trimesh.Trimesh) -> np.ndarray:
    """Vertices on open edges (edges used by one face)."""
    edges, counts = np.unique(mesh.edges_sorted, axis=0, return_counts=True)
    return mesh.vertices[np.unique(edges[counts == 1])]


def _outline_points(mesh: trimesh.Trimesh, per_edge: int = 16) -> np.ndarray:
    """Points along the open edges, dense enough to measure distances to the outline."""
    edges, counts = np.unique(mesh.edges_sorted, axis=0, return_counts=True)
    a, b = mesh.vertices[edges[counts == 1, 0]], mesh.vertices[edges[counts == 1, 1]]
    t = np.linspace(0.0, 1.0, per_edge)[None, :, None]
    return (a[:, None] + t * (b - a)[:, None]).reshape(-1, 3)


def test_pseudo_watertight_ply_is_a_hole_free_frontal_height_field(prepped):
    _, data_dir = prepped
    mesh = trimesh.load(data_dir / f"s{SEED}_000" / "1_neutral.ply", process=False, force="mesh")
    assert mesh.faces.shape[0] > 1000
    assert mesh.face_normals[:, 2].min() > 0.0
    assert np.linalg.norm(mesh.vertices, axis=1).max() <= 1.0 + 1e-6
    # No holes: the only open edges are on the face's outline (~0.65 from the nose tip), and
    # that outline is one loop (the footprint may pinch it at a vertex, so no Euler-number test).
    outline = _boundary_vertices(mesh)
    assert np.hypot(outline[:, 0], outline[:, 1]).min() > 0.55
    a = _npz(data_dir / f"s{SEED}_000" / "1_neutral.npz")
    # The surface samples lie on the saved mesh.
    _, distance, _ = mesh.nearest.on_surface(a["surface_points"][::100].astype(np.float64))
    assert distance.max() < 6e-5  # int16 fixed point: <= 0.003 mm per coordinate


@pytest.fixture(scope="module")
def sdf_reference(prepped):
    """A dense sample (200k points, ~0.25 mm apart) of one saved .ply, its normals and its outline (x, y)."""
    _, data_dir = prepped
    mesh = trimesh.load(data_dir / f"s{SEED}_000" / "2_smile.ply", process=False, force="mesh")
    points, face = trimesh.sample.sample_surface(mesh, 200_000, seed=1)
    points = np.concatenate([points, mesh.vertices])
    normals = np.concatenate([mesh.face_normals[face], mesh.vertex_normals])
    return mesh, cKDTree(points), points, normals, cKDTree(_outline_points(mesh)[:, :2])


def test_free_sdf_matches_distance_to_the_saved_mesh(prepped, sdf_reference):
    _, data_dir = prepped
    mesh, tree, points, normals, boundary = sdf_reference
    a = _npz(data_dir / f"s{SEED}_000" / "2_smile.npz")
    q, sdf = a["free_points"].astype(np.float64), a["free_sdf"].astype(np.float64)
    dist, idx = tree.query(q)
    # Leave out what lies beside the outline (its nearest point within 3 mm of it, seen from +z).
    interior = boundary.query(points[idx][:, :2])[0] > 0.03
    assert interior.sum() > 0.3 * len(q)
    # The KD-tree distance to the dense sample is within ~0.0002 of the true distance from
    # 0.015 out; closer in, the sample spacing matters, so measure to the triangles there.
    close = dist < 0.015
    reference = dist.copy()
    reference[close] = mesh.nearest.on_surface(q[close])[1]
    err = np.abs(np.abs(sdf) - reference)[interior]
    # Near the surface prep measures to the nearest sample's tangent plane; on the pored skin
    # that costs up to ~0.2 mm, and 99% of the points are within 0.1 mm.
    assert np.percentile(err, 99) < 0.001 and err.max() < 0.0025, (np.percentile(err, 99), err.max())
    # Sign: positive in front of the surface (along its +z normal), negative behind.
    side = ((q - points[idx]) * normals[idx]).sum(axis=1)
    clear = interior & (dist > 0.003)
    assert clear.sum() > 0.2 * len(q)
    assert np.all(np.sign(sdf[clear]) == np.sign(side[clear]))  # never wrong 0.3 mm off the skin
    assert (sdf[clear] > 0.01).sum() > 100 and (sdf[clear] < -0.01).sum() > 100
    # Gradient: the surface normal near the surface ...
    near = interior & (np.abs(sdf) < NEAR_SURFACE)
    assert near.sum() > 100
    agree = (a["free_grad"][near] * normals[idx][near]).sum(axis=1)
    assert (agree > 0.5).all() and np.mean(agree > 0.95) > 0.9  # the skin is pored: normals vary
    # ... and away from it, the direction away from the nearest surface point times the sign.
    far = clear & (np.abs(sdf) > 0.05)
    assert far.sum() > 100
    direction = (q - points[idx])[far] / dist[far, None]
    assert ((a["free_grad"][far] * direction).sum(axis=1) * np.sign(sdf[far]) > 0.9).all()


def test_sdf_sign_convention_is_pinned(prepped, sdf_reference):
    """In front of the surface (+normal) is positive; trimesh's signed_distance is the opposite."""
    _, data_dir = prepped
    mesh, _, _, _, _ = sdf_reference
    a = _npz(data_dir / f"s{SEED}_000" / "2_smile.npz")
    surface, normals = a["surface_points"].astype(np.float64), a["surface_normals"].astype(np.float64)
    central = np.flatnonzero(np.hypot(surface[:, 0], surface[:, 1] - 0.05) < 0.3)[:200]
    assert len(central) == 200
    base, n = surface[central], normals[central]
    front, behind = base + 0.05 * n, base - 0.05 * n
    sdf_front, grad_front = signed_distance(front, surface, normals)
    sdf_behind, grad_behind = signed_distance(behind, surface, normals)
    assert (sdf_front > 0.03).all() and (sdf_behind < -0.03).all()
    # The gradient leans along the normal on both sides (behind the nose the nearest point is elsewhere).
    assert ((grad_front * n).sum(axis=1) > 0).all() and ((grad_behind * n).sum(axis=1) > 0).all()
    # trimesh.proximity.signed_distance has the opposite sign: negative outside (in front).
    few = np.arange(0, 200, 20)
    tm_front = trimesh.proximity.signed_distance(mesh, front[few])
    np.testing.assert_allclose(tm_front, -sdf_front[few], atol=0.005)
    # On a closed surface trimesh is positive inside; ours is negative there (behind the surface).
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    on, face = trimesh.sample.sample_surface(sphere, 20_000, seed=0)
    probe = sphere.vertices[::40]
    outward = probe / np.linalg.norm(probe, axis=1, keepdims=True)
    for offset in (0.02, -0.02):  # near the surface: the side of the normal decides the sign
        ours, _ = signed_distance(probe + offset * outward, on, sphere.face_normals[face])
        theirs = trimesh.proximity.signed_distance(sphere, probe + offset * outward)
        assert np.all(np.sign(ours) == np.sign(offset)) and np.all(np.sign(theirs) == -np.sign(offset))
        np.testing.assert_allclose(ours, -theirs, atol=0.002)


def test_prep_is_deterministic_for_a_seed(tmp_path, prepped):
    raw_dir, data_dir = prepped
    name = f"s{SEED}_001"
    raw_scan = raw_dir / name / "2_smile.ply"
    out = tmp_path / name / "2_smile.npz"
    prepare_scan(raw_scan, out, PREP)
    first, again = _npz(data_dir / name / "2_smile.npz"), _npz(out)
    assert set(first) == set(again)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)
    assert out.with_suffix(".ply").read_bytes() == (data_dir / name / "2_smile.ply").read_bytes()
    # Another prep seed draws other samples of the same surface.
    other = tmp_path / "other" / name / "2_smile.npz"
    prepare_scan(raw_scan, other, PrepSettings(surface_points=2_000, free_points=500, seed=1))
    assert not np.array_equal(_npz(other)["surface_points"], first["surface_points"][:2_000])


# -- bad input -------------------------------------------------------------------------------------


def _write_scan(folder: Path, stem: str, verts: np.ndarray, faces: np.ndarray, landmarks: np.ndarray | None):
    folder.mkdir(parents=True, exist_ok=True)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    (folder / f"{stem}.ply").write_bytes(mesh.export(file_type="ply"))
    if landmarks is not None:
        np.savetxt(folder / f"{stem}_landmarks.txt", landmarks, fmt="%.4f")


@pytest.fixture(scope="module")
def bad_raw(tmp_path_factory, raw):
    """One good scan plus one of each kind of bad input; returns (RAW dir, {bad file: reason regex})."""
    raw_dir, _ = raw
    src = raw_dir / f"s{SEED}_000" / "1_neutral.ply"
    mesh = trimesh.load(src, process=False, force="mesh")
    verts, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    lm = np.loadtxt(src.with_name("1_neutral_landmarks.txt"))
    root = tmp_path_factory.mktemp("bad") / "RAW"
    _write_scan(root / "good", "1_neutral", verts, faces, lm)
    bad = root / "bad"
    bad.mkdir(parents=True)
    (bad / "1_empty.ply").write_bytes(b"")
    np.savetxt(bad / "1_empty_landmarks.txt", lm)
    (bad / "2_text.ply").write_text("this is not a mesh\n")
    np.savetxt(bad / "2_text_landmarks.txt", lm)
    nan = verts.copy()
    nan[::97] = np.nan
    _write_scan(bad, "3_nan", nan, faces, lm)
    _write_scan(bad, "4_nolandmarks", verts, faces, None)
    centre = lm[30]
    facing_back = (verts - centre) * [-1, 1, -1] + centre  # 180 degrees about y: looks along -z
    _write_scan(bad, "5_backwards", facing_back, faces, (lm - centre) * [-1, 1, -1] + centre)
    upside_down = (verts - centre) * [-1, -1, 1] + centre  # 180 degrees about z
    _write_scan(bad, "6_upsidedown", upside_down, faces, (lm - centre) * [-1, -1, 1] + centre)
    _write_scan(bad, "7_centimetres", verts / 10, faces, lm / 10)
    reasons = {
        "1_empty.ply": "could not be read|not a triangle mesh",
        "2_text.ply": "could not be read|not a triangle mesh",
        "3_nan.ply": "NaN",
        "4_nolandmarks.ply": "landmark file .* missing",
        "5_backwards.ply": r"\+z must face the viewer",
        "6_upsidedown.ply": "not upright",
        "7_centimetres.ply": "millimetres",
    }
    return root, reasons


def test_each_bad_scan_raises_a_scan_error_naming_the_file(tmp_path, bad_raw):
    root, reasons = bad_raw
    for name, reason in reasons.items():
        with pytest.raises(ScanError, match=reason) as info:
            prepare_scan(root / "bad" / name, tmp_path / "bad" / (Path(name).stem + ".npz"), PREP)
        assert name in str(info.value)
    assert not (tmp_path / "bad").exists()  # nothing written for a rejected scan


def test_prepare_dataset_skips_bad_scans_and_reports_them(tmp_path, bad_raw):
    root, reasons = bad_raw
    out = tmp_path / "DATA"
    done, skipped = prepare_dataset(root, out, PrepSettings(surface_points=5_000, free_points=1_000), jobs=1)
    assert [Path(d["scan"]).name for d in done] == ["1_neutral.ply"]
    assert sorted(Path(s["scan"]).name for s in skipped) == sorted(reasons)
    for item in skipped:
        name = Path(item["scan"]).name
        assert name in item["error"] and re.search(reasons[name], item["error"]), item
        assert "unexpected failure" not in item["error"]
    info = json.loads((out / PREP_INFO).read_text())
    assert sorted(Path(s["scan"]).name for s in info["skipped"]) == sorted(reasons)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert files == ["good", "good/1_neutral.npz", "good/1_neutral.ply", PREP_INFO]
    # A second run resumes: the good scan is kept as is, the bad ones are reported again.
    before = (out / "good" / "1_neutral.npz").stat().st_mtime_ns
    done2, skipped2 = prepare_dataset(root, out, PrepSettings(surface_points=5_000, free_points=1_000), jobs=1)
    assert done2 == [] and len(skipped2) == len(reasons)
    assert (out / "good" / "1_neutral.npz").stat().st_mtime_ns == before


def test_prepare_dataset_rejects_missing_or_empty_raw_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        prepare_dataset(tmp_path / "nope", tmp_path / "DATA")
    (tmp_path / "RAW" / "someone").mkdir(parents=True)
    with pytest.raises(ScanError, match="holds no scans"):
        prepare_dataset(tmp_path / "RAW", tmp_path / "DATA")


# -- dataset ---------------------------------------------------------------------------------------


def _fake_scan(path: Path, rng: np.random.Generator, n_surface=64, n_free=32, landmark_value=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lm = rng.normal(size=(68, 3)) * 0.1 if landmark_value is None else np.full((68, 3), landmark_value)
    normals = rng.normal(size=(n_surface, 3))
    np.savez(
        path,
        surface_points=rng.normal(size=(n_surface, 3)) * 0.1,
        surface_normals=normals / np.linalg.norm(normals, axis=1, keepdims=True),
        free_points=rng.normal(size=(n_free, 3)) * 0.1,
        free_sdf=rng.normal(size=n_free) * 0.05,
        free_grad=np.tile([0.0, 0.0, 1.0], (n_free, 1)),
        landmarks=lm,
    )


def test_dataset_batches_from_prepped_scans(prepped):
    _, data_dir = prepped
    ds = FaceScanDataset(data_dir)
    assert len(ds) == 4
    assert ds.identities == [f"s{SEED}_000", f"s{SEED}_001"]
    assert ds.identity_index.tolist() == [0, 0, 1, 1]
    assert [s.expression for s in ds.scans] == ["neutral", "smile"] * 2
    assert ds.expressions == ["neutral", "smile"]
    assert ds.neutral_scan.tolist() == [0, 2] and ds.is_neutral.tolist() == [True, False, True, False]
    batch = ds.batch(np.array([1, 2, 3]), n_surface=50, n_free=40, rng=np.random.default_rng(0))
    shapes = {k: v.shape for k, v in batch.items()}
    assert shapes == {
        "surface": (3, 50, 3), "normals": (3, 50, 3), "free": (3, 40, 3), "free_sdf": (3, 40),
        "free_grad": (3, 40, 3), "scan": (3,), "identity": (3,), "landmarks": (3, 68, 3),
        "neutral_landmarks": (3, 68, 3), "is_neutral": (3,),
    }
    for key in ("surface", "normals", "free", "free_sdf", "free_grad", "landmarks", "neutral_landmarks"):
        assert batch[key].dtype == np.float32, key
    assert batch["identity"].tolist() == [0, 1, 1] and batch["is_neutral"].tolist() == [False, True, False]
    neutral_0 = _npz(data_dir / f"s{SEED}_000" / "1_neutral.npz")["landmarks"]
    neutral_1 = _npz(data_dir / f"s{SEED}_001" / "1_neutral.npz")["landmarks"]
    smile_0 = _npz(data_dir / f"s{SEED}_000" / "2_smile.npz")["landmarks"]
    np.testing.assert_array_equal(batch["neutral_landmarks"], np.stack([neutral_0, neutral_1, neutral_1]))
    np.testing.assert_array_equal(batch["landmarks"][0], smile_0)
    assert not np.array_equal(smile_0, neutral_0)
    np.testing.assert_allclose(ds.template_landmarks(), (neutral_0 + neutral_1) / 2, atol=1e-6)
    # Batch points are drawn from the scan's own arrays.
    smile_points = _npz(data_dir / f"s{SEED}_000" / "2_smile.npz")["surface_points"]
    assert (cKDTree(smile_points).query(batch["surface"][0])[0] == 0).all()
    small = FaceScanDataset(data_dir, max_surface_points=1000)
    assert len(small.arrays[0]["surface_points"]) == 1000


def test_dataset_split_by_identity_is_disjoint_and_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    people = [f"p{i:02d}" for i in range(10)]
    for p in people:
        for k, expr in enumerate(("neutral", "smile")):
            _fake_scan(tmp_path / p / f"{k + 1}_{expr}.npz", rng)
    train = FaceScanDataset(tmp_path, split="train", test_fraction=0.3, split_seed=4)
    test = FaceScanDataset(tmp_path, split="test", test_fraction=0.3, split_seed=4)
    assert len(test.identities) == 3 and len(train.identities) == 7
    assert set(train.identities).isdisjoint(test.identities)
    assert sorted(train.identities + test.identities) == people
    assert {s.identity for s in train.scans} == set(train.identities) and len(train) == 14
    assert split_identities(people, 0.3, 4) == split_identities(people, 0.3, 4) == (train.identities, test.identities)
    assert any(split_identities(people, 0.3, s)[1] != test.identities for s in range(1, 6))
    # Indices are positions in the split's own identity list.
    assert train.identity_index.max() == 6 and test.identity_index.max() == 2
    with pytest.raises(DatasetError, match="no scans"):
        FaceScanDataset(tmp_path, split="test", test_fraction=0.0)
    with pytest.raises(ValueError, match="split"):
        FaceScanDataset(tmp_path, split="validation")


def test_dataset_neutral_falls_back_to_the_lowest_k(tmp_path):
    rng = np.random.default_rng(1)
    _fake_scan(tmp_path / "a" / "3_smile.npz", rng, landmark_value=3.0)
    _fake_scan(tmp_path / "a" / "2_pucker.npz", rng, landmark_value=2.0)
    _fake_scan(tmp_path / "b" / "5_neutral.npz", rng, landmark_value=5.0)
    _fake_scan(tmp_path / "b" / "1_smile.npz", rng, landmark_value=1.0)
    (tmp_path / "b" / "notes.txt").write_text("ignored")
    ds = FaceScanDataset(tmp_path)
    assert [(s.identity, s.k) for s in ds.scans] == [("a", 2), ("a", 3), ("b", 1), ("b", 5)]
    assert ds.landmarks[ds.neutral_scan][:, 0, 0].tolist() == [2.0, 5.0]


def test_dataset_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        FaceScanDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no prepared scans"):
        FaceScanDataset(tmp_path / "empty")

    rng = np.random.default_rng(2)
    root = tmp_path / "data"
    _fake_scan(root / "a" / "1_neutral.npz", rng)
    _fake_scan(root / "a" / "2_smile.npz", rng)
    bad = root / "a" / "2_smile.npz"
    bad.write_bytes(bad.read_bytes()[:300])  # truncated
    for load_only in (None, {0}):
        with pytest.raises(DatasetError, match=re.escape(str(bad))):
            FaceScanDataset(root, load_only=load_only)
    bad.write_text("not an npz")
    with pytest.raises(DatasetError, match=re.escape(str(bad))):
        FaceScanDataset(root)
    # Missing arrays, wrong shapes and NaN are named too.
    np.savez(bad, **{k: np.zeros((20, 3), np.float32) for k in REQUIRED_KEYS if k != "free_grad"})
    with pytest.raises(DatasetError, match=r"2_smile\.npz.*missing arrays .*free_grad"):
        FaceScanDataset(root)
    _fake_scan(bad, rng)
    arrays = _npz(bad)
    arrays["free_sdf"][3] = np.nan
    np.savez(bad, **arrays)
    with pytest.raises(DatasetError, match=r"2_smile\.npz.*free_sdf.*NaN"):
        FaceScanDataset(root)
    arrays["free_sdf"][3] = 0.0
    arrays["landmarks"] = arrays["landmarks"][:60]
    np.savez(bad, **arrays)
    with pytest.raises(DatasetError, match=r"2_smile\.npz.*landmarks.*shape"):
        FaceScanDataset(root)


# -- command line ----------------------------------------------------------------------------------


def _imface(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "imface_core", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_cli_synth_then_prep_end_to_end(tmp_path, model_path):
    raw, data = tmp_path / "RAW", tmp_path / "DATA"
    r = _imface("synth", "--face-model", str(model_path), "--out", str(raw), "--identities", "1",
                "--expressions", "2", "--seed", "3", "--jobs", "1", cwd=REPO_ROOT)
    assert r.returncode == 0, r.stderr
    assert "wrote 2 scans" in r.stdout
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["expressions"] == ["neutral", "smile"]
    assert sorted(p.name for p in (raw / "s3_000").iterdir()) == [
        "1_neutral.ply", "1_neutral_landmarks.txt", "2_smile.ply", "2_smile_landmarks.txt",
    ]
    r = _imface("prep", "--raw", str(raw), "--out", str(data), "--surface-points", "3000",
                "--free-points", "800", "--jobs", "1", cwd=REPO_ROOT)
    assert r.returncode == 0, r.stderr
    assert "prepared 2 scans" in r.stdout
    for stem in ("1_neutral", "2_smile"):
        a = _npz(data / "s3_000" / f"{stem}.npz")
        assert a["surface_points"].shape == (3000, 3)
        np.testing.assert_allclose(a["landmarks"][30], [0, 0, 0.4], atol=1e-6)
        assert (data / "s3_000" / f"{stem}.ply").exists()
    # A bad scan makes prep report it and exit 1; the good ones stay.
    (raw / "s3_000" / "3_broken.ply").write_text("not a mesh")
    r = _imface("prep", "--raw", str(raw), "--out", str(data), "--jobs", "1", cwd=REPO_ROOT)
    assert r.returncode == 1 and "3_broken.ply" in r.stdout
    # User errors exit 2 with a message and no traceback.
    r = _imface("synth", "--face-model", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "X"),
                "--identities", "1", "--expressions", "1", "--jobs", "1", cwd=REPO_ROOT)
    assert r.returncode == 2 and "face model not found" in r.stderr and "Traceback" not in r.stderr
