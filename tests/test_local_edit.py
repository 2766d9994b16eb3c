"""Local edits and symmetry in the core (issue 19 items 4 and 6): region masks, region edits in the codes and
the field, and the asymmetry measure, on the shipped model (CPU) and on plain meshes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from imface_core.engine.field import FaceField
from imface_core.fitting.symmetry import asymmetry, mirror_transform, symmetric_surface
from imface_core.errors import CodesError
from imface_core.face_codes import FaceCodes, RegionEdit, codes_key
from imface_core.face_model import DEFAULT_MODEL, FaceModel
from imface_core.local_edit import REGIONS, region_anchors, region_weight


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return FaceModel.load(DEFAULT_MODEL, device="cpu")


def test_the_mask_is_one_inside_zero_outside_and_smooth_between():
    anchors = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]])
    x = np.stack([np.linspace(-0.3, 0.4, 701), np.zeros(701), np.zeros(701)], axis=1)
    w = region_weight(x, anchors, 0.05, 0.15)
    assert w[np.abs(x[:, 0] - 0.05) < 0.05].min() == pytest.approx(1.0, abs=1e-3)  # between and at the anchors
    assert (w[(x[:, 0] < -0.16) | (x[:, 0] > 0.26)] == 0.0).all()
    assert np.allclose(region_weight(torch.from_numpy(x), torch.from_numpy(anchors), 0.05, 0.15).numpy(), w)
    # no kink, also where the nearest anchor changes (x = 0.05) inside the band: 1 mm samples along y = 0.1
    x[:, 1] = 0.1
    w = region_weight(x, anchors, 0.05, 0.15)
    slope = np.diff(w) / np.diff(x[:, 0])
    assert 0 < w[350] < 1 and np.abs(np.diff(slope)).max() < 0.05 * np.abs(slope).max()


def test_regions_lie_where_their_names_say(model):
    lm = model.net.template_landmarks68.numpy()
    centres = {name: region_anchors(name, lm).mean(axis=0) for name in REGIONS}
    assert centres["eye_r"][0] < 0 < centres["eye_l"][0] and centres["cheek_r"][0] < 0 < centres["cheek_l"][0]
    assert centres["forehead"][1] > centres["eye_r"][1] > centres["nose"][1] > centres["mouth"][1]
    for name, region in REGIONS.items():
        if region.mirror:
            assert REGIONS[region.mirror].mirror == name
            mirrored = region_anchors(region.mirror, lm) * [-1, 1, 1]
            assert np.abs(np.sort(mirrored, axis=0) - np.sort(region_anchors(name, lm), axis=0)).max() < 0.01


def test_region_edits_are_part_of_the_codes(model):
    base, other = model.codes(0, "neutral"), model.codes(7, "neutral")
    edited = FaceCodes(base.z_id, base.z_exp, base.z_det, (RegionEdit("nose", z_id=other.z_id),))
    assert codes_key(edited) != codes_key(base)
    assert codes_key(edited.replace(z_exp=base.z_exp)) == codes_key(edited)  # replace keeps the edits
    assert model.check_codes(edited).regions[0].region == "nose"
    with pytest.raises(CodesError, match="unknown face region 'ear'"):
        model.check_codes(FaceCodes(base.z_id, base.z_exp, base.z_det, (RegionEdit("ear", z_id=other.z_id),)))
    with pytest.raises(CodesError):
        model.check_codes(FaceCodes(base.z_id, base.z_exp, base.z_det, (RegionEdit("nose", z_id=other.z_id[:5]),)))


def test_a_region_edit_moves_only_its_region(model):
    base, other = model.codes(0, "neutral"), model.codes(7, "neutral")
    edited = FaceCodes(base.z_id, base.z_exp, base.z_det, (RegionEdit("nose", z_id=other.z_id, z_det=other.z_det),))
    before = model.mesh(base, 64, detail=True, method="displace")
    after = model.mesh(edited, 64, detail=True, method="displace")
    v = np.asarray(after.vertices)
    region = REGIONS["nose"]
    w = region_weight(FaceField(model, base, detail=False).warp(v).astype(np.float64),
                      region_anchors("nose", model.net.template_landmarks68.numpy()), region.inner, region.outer)
    moved = trimesh.proximity.closest_point(before, v)[1] * 100.0  # mm
    assert moved[w == 0].max() < 0.2  # the bound; the SDF there is the face's own
    assert moved[w == 1].mean() > 1.0  # the nose itself is another person's
    # the field: the face's own SDF outside, the other's inside
    face, nose = FaceField(model, edited, detail=False), FaceField(model, base.replace(z_id=other.z_id), detail=False)
    own = FaceField(model, base, detail=False)
    assert np.allclose(face.coarse_sdf(v[w == 0]), own.coarse_sdf(v[w == 0]), atol=1e-6)
    assert np.allclose(face.coarse_sdf(v[w == 1]), nose.coarse_sdf(v[w == 1]), atol=1e-6)


def _bumpy_sphere(shift: float) -> trimesh.Trimesh:
    sphere = trimesh.creation.icosphere(4, radius=0.5)
    v = np.asarray(sphere.vertices).copy()
    v[:, 0] += 0.05 * np.exp(-((v[:, 0] - 0.3) ** 2 + v[:, 1] ** 2) / 0.02) * np.sign(v[:, 2])  # one-sided bump
    rot = trimesh.transformations.rotation_matrix(0.1, [0, 1, 0])[:3, :3]
    return trimesh.Trimesh(v @ rot.T + [shift, 0.02, 0.0], sphere.faces, process=False)


def test_the_mirror_plane_is_found_and_symmetrising_halves_the_asymmetry():
    symmetric = trimesh.creation.icosphere(4, radius=0.5)
    symmetric.vertices[:, 1] *= 1.3  # an ellipsoid, moved off x = 0: still symmetric about its own plane
    symmetric.vertices[:, 0] += 0.07
    a, b = mirror_transform(symmetric.vertices)
    assert np.allclose(a, np.diag([-1.0, 1.0, 1.0]), atol=1e-3) and b[0] == pytest.approx(0.14, abs=1e-3)
    assert asymmetry(symmetric).mean_mm < 0.05
    bumpy = _bumpy_sphere(0.03)
    before = asymmetry(bumpy).mean_mm
    assert before > 0.1
    assert asymmetry(symmetric_surface(bumpy)).mean_mm < 0.5 * before
