"""Fixed-topology faces (issue 19, item 1): the model's template mesh carried onto every face: the same vertex
count and triangles for every face, vertices on the fine surface, no triangle turned over, the face region only."""

from __future__ import annotations


import numpy as np
import pytest
import trimesh

from imface_core.cli import main as cli_main
from imface_core.engine.field import FaceField
from imface_core.engine.template_topology import template_topology, turned_triangles

RESOLUTION = 64
SURFACE_MEDIAN_MM = 0.02
"""|fine SDF| at the vertices, median (the last Newton step leaves ~0.0001 mm on the shipped model)."""
SURFACE_P99_MM = 0.2
FOLDED_SHARE = 0.002
"""At most this share of the triangles may face away (> 90 degrees) from the marching-cubes surface of the same
face at the nearest point (0 measured on the tiny model; 19-115 of 52k, 0.04-0.2 %, on the shipped model, at the
lips and nostrils where the fine surface creases within a triangle)."""


def folded_against_marching_cubes(model, codes, mesh: trimesh.Trimesh) -> np.ndarray:
    """(F,) bool: triangles whose normal faces away from the normal of the (uncropped) marching-cubes surface of
    the same face at the point nearest their centre."""
    reference = model.mesh(codes, 96, crop=False)
    _, _, triangle = trimesh.proximity.closest_point(reference, mesh.triangles_center)
    return np.einsum("ij,ij->i", mesh.face_normals, reference.face_normals[triangle]) < 0


def test_every_face_shares_the_template_topology_on_its_fine_surface(region_model):
    model = region_model
    faces = [model.codes(0, 0), model.codes(2, model.expressions[-1])]
    meshes = [model.mesh(codes, RESOLUTION, topology="template") for codes in faces]
    a, b = meshes
    assert len(a.vertices) == len(b.vertices) > 500
    np.testing.assert_array_equal(a.faces, b.faces)
    assert np.abs(a.vertices - b.vertices).max() > 0.01  # different faces, not the same mesh twice
    assert a.metadata["template_topology"]["fingerprint"] == b.metadata["template_topology"]["fingerprint"]
    topology = template_topology(model, RESOLUTION)
    for codes, mesh in zip(faces, meshes):
        s_mm = 100 * np.abs(FaceField(model, codes).fine_sdf(np.asarray(mesh.vertices, dtype=np.float32)))
        assert np.median(s_mm) < SURFACE_MEDIAN_MM, np.median(s_mm)
        assert np.percentile(s_mm, 99) < SURFACE_P99_MM, np.percentile(s_mm, 99)
        assert turned_triangles(topology, np.asarray(mesh.vertices)).mean() <= FOLDED_SHARE
        assert folded_against_marching_cubes(model, codes, mesh).mean() <= FOLDED_SHARE
        assert mesh.is_winding_consistent


def test_template_faces_keep_to_the_face_region(region_model):
    model = region_model
    codes = model.codes(1, 1)
    face = model.mesh(codes, RESOLUTION, topology="template")
    whole = model.mesh(codes, RESOLUTION, topology="template", crop=False)
    assert face.metadata["template_topology"]["cropped"] and not whole.metadata["template_topology"]["cropped"]
    assert 0 < len(face.faces) < len(whole.faces)
    region = model.region
    # every triangle maps to covered template points: by its targets and by the carried surface's own x_t
    topology = template_topology(model, RESOLUTION)
    assert region.share(topology.targets[topology.faces].mean(axis=1)).min() >= region.threshold - 0.05
    centres = region.share(model.template_coords(face.triangles_center, codes))
    assert np.percentile(centres, 1) >= region.threshold - 0.1


def test_without_a_region_the_whole_template_surface_is_carried(tiny_model):
    assert tiny_model.region is None
    a = tiny_model.mesh(tiny_model.codes(0, 0), 48, topology="template", colors="correspondence", detail=False)
    b = tiny_model.mesh(tiny_model.codes(1, 2), 48, topology="template", colors="correspondence", detail=False)
    assert not a.metadata["template_topology"]["cropped"]
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_array_equal(a.visual.vertex_colors, b.visual.vertex_colors)  # colours follow the template
    s_mm = 100 * np.abs(FaceField(tiny_model, tiny_model.codes(1, 2), detail=False).coarse_sdf(
        np.asarray(b.vertices, dtype=np.float32)))
    assert np.median(s_mm) < SURFACE_MEDIAN_MM


def test_topology_option_is_checked(tiny_model):
    with pytest.raises(ValueError, match="topology"):
        tiny_model.mesh(tiny_model.codes(0, 0), 32, topology="quads")


def test_generate_writes_template_topology_faces(region_model, tmp_path, capsys):
    outs = []
    for identity in ("0", "2"):
        out = tmp_path / f"face{identity}.obj"
        assert cli_main(["generate", "--model", str(region_model.path), "--identity", identity, "--topology",
                         "template", "--resolution", str(RESOLUTION), "--device", "cpu", "--out", str(out)]) == 0
        assert "template topology" in capsys.readouterr().out
        outs.append(trimesh.load(out, process=False))
    a, b = outs
    assert len(a.vertices) == len(b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)
    # millimetres, like every generated mesh
    expected = region_model.mesh(region_model.codes(0, 0), RESOLUTION, topology="template")
    np.testing.assert_allclose(a.vertices, 100 * expected.vertices, atol=1e-3)
