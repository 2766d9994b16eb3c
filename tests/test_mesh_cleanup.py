"""Stray pieces: dropped from faces, kept where they are a real share of the surface."""

from __future__ import annotations

import numpy as np
import trimesh

from imface_core.engine.cleanup import drop_small_pieces


def two_spheres(small_radius: float) -> trimesh.Trimesh:
    big = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    small = trimesh.creation.icosphere(subdivisions=1, radius=small_radius)
    small.apply_translation([3.0, 0.0, 0.0])
    mesh = trimesh.util.concatenate([big, small])
    mesh.visual.vertex_colors = np.tile([[10, 20, 30, 255]], (len(mesh.vertices), 1)).astype(np.uint8)
    mesh.visual.vertex_colors[len(big.vertices):] = [200, 0, 0, 255]
    return mesh


def test_small_blob_is_dropped_and_the_face_kept_whole():
    mesh = two_spheres(0.05)  # 80 of 5200 triangles: 1.5 %
    out = drop_small_pieces(mesh)
    assert len(out.faces) == 5120 and len(out.vertices) == 2562
    assert out.is_watertight
    assert np.abs(np.linalg.norm(out.vertices, axis=1) - 1.0).max() < 1e-6  # only the big sphere is left
    assert (np.asarray(out.visual.vertex_colors)[:, 0] == 10).all()  # its colours came along


def test_pieces_above_the_share_and_single_pieces_stay():
    mesh = two_spheres(0.05)
    assert len(drop_small_pieces(mesh, min_share=0.01).faces) == len(mesh.faces)
    assert len(drop_small_pieces(mesh, min_share=0.0).faces) == len(mesh.faces)
    sphere = trimesh.creation.icosphere(subdivisions=2)
    assert drop_small_pieces(sphere) is sphere
    empty = trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), process=False)
    assert len(drop_small_pieces(empty).faces) == 0
