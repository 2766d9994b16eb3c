"""The face region: learnt from the training scans in template space, stored in the model file, and every
mesh cut to it along a smooth boundary (nothing outside, no sawtooth of whole triangles)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import trimesh

from imface_core.engine.region import FaceRegion, clip_mesh


def boundary_vertices(mesh: trimesh.Trimesh) -> np.ndarray:
    edges = np.sort(mesh.edges, axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    return np.unique(unique[counts == 1])


def test_clip_cuts_along_the_level_line_and_keeps_orientation():
    sphere = trimesh.creation.icosphere(4)
    values = sphere.vertices[:, 2] - 0.3
    out, data = clip_mesh(sphere, values, 0.0, vertex_data=sphere.vertices)
    assert 0 < len(out.faces) < len(sphere.faces)
    assert out.vertices[:, 2].min() >= 0.3 - 1e-9
    rim = boundary_vertices(out)
    assert len(rim) > 20
    np.testing.assert_allclose(out.vertices[rim, 2], 0.3, atol=1e-9)  # on the level line: no sawtooth
    assert len(out.outline().entities) == 1  # one closed boundary loop
    assert out.is_winding_consistent
    outward = np.einsum("ij,ij->i", out.face_normals, out.triangles_center) > 0
    assert outward.all()
    np.testing.assert_allclose(data, out.vertices, atol=1e-12)  # vertex data interpolated like positions


def test_clip_keeps_everything_or_nothing_at_the_extremes():
    sphere = trimesh.creation.icosphere(2)
    whole, _ = clip_mesh(sphere, np.ones(len(sphere.vertices)), 0.0)
    assert len(whole.faces) == len(sphere.faces)
    empty, _ = clip_mesh(sphere, -np.ones(len(sphere.vertices)), 0.0)
    assert len(empty.faces) == 0


def test_region_learns_the_share_of_scans_covering_a_point():
    rng = np.random.default_rng(0)
    plane = lambda x0, x1: np.stack([rng.uniform(x0, x1, 4000), rng.uniform(-0.3, 0.3, 4000),  # noqa: E731
                                     np.zeros(4000)], axis=1)
    region = FaceRegion.learn([plane(-0.5, 0.5), plane(-0.5, 0.5), plane(0.0, 0.5)])
    share = region.share(np.array([[-0.3, 0.0, 0.0], [0.3, 0.0, 0.0], [0.9, 0.0, 0.0], [0.0, 0.0, 0.4]]))
    np.testing.assert_allclose(share[:2], [2 / 3, 1.0], atol=0.05)
    assert share[2] == pytest.approx(0.0, abs=1e-3) and share[3] == pytest.approx(0.0, abs=1e-3)
    again = FaceRegion.from_state(region.to_state())
    np.testing.assert_allclose(again.share(np.zeros((1, 3))), region.share(np.zeros((1, 3))), atol=1 / 255)


def test_meshes_are_cut_to_the_region_with_a_smooth_boundary(region_model):
    model = region_model
    assert model.region is not None and model.region.scans > 0
    codes = model.codes(0, 0)
    whole = model.mesh(codes, 64, crop=False)
    face = model.mesh(codes, 64)
    assert 0 < len(face.faces) < len(whole.faces)
    # no triangle outside the region: every triangle centre maps to a covered template point
    centres = model.region.share(model.template_coords(face.triangles_center, codes))
    assert centres.min() >= model.region.threshold - 0.05
    # the uncropped surface does have triangles outside (what the crop removed)
    outside = model.region.share(model.template_coords(whole.triangles_center, codes)) < model.region.threshold
    assert outside.sum() > 0.02 * len(whole.faces)
    # the boundary follows the region's level line (share 0.5), not the triangles' edges
    rim = boundary_vertices(face)
    rim = rim[np.abs(face.vertices[rim]).max(axis=1) < 0.98]  # where the box, not the region, ends the surface
    rim_share = model.region.share(model.template_coords(face.vertices[rim], codes))
    assert np.median(np.abs(rim_share - model.region.threshold)) < 0.05


def test_a_resumed_run_keeps_the_region_and_gains_in_what_it_writes(region_model, tiny_run_dir, tiny_data_dir, tmp_path):
    import torch

    from imface_core.checkpoint import store_in_model
    from imface_core.training.face_region import store_face_region
    from imface_core.training.trainer import Trainer

    run = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run)
    store_face_region(run / "checkpoint.pt", region_model.region)
    store_in_model(run / "checkpoint.pt", {"expression_gains": {"smile": 1.3}})
    trainer = Trainer(tiny_data_dir, run, None, resume=True, progress=False, device=torch.device("cpu"))
    payload = trainer.payload(with_training_state=False)
    assert payload["face_region"]["scans"] == region_model.region.scans
    assert payload["expression_gains"] == {"smile": 1.3}
