"""An aligned scan -> fitting samples, through exactly the preprocessing of training data (``data/prep.py``).

crop_unit_sphere -> pseudo_watertight -> sample_surface / sample_free_space /
signed_distance, with prep's parameters; only the sample counts are smaller
(fitting draws a few thousand per step from this pool). Point clouds are first
triangulated as a frontal height field so that the same steps apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import Delaunay, cKDTree

from imface_core.data.height_field import pseudo_watertight
from imface_core.data.normalize import crop_unit_sphere
from imface_core.data.prep import PrepSettings
from imface_core.data.prepared import load_prepared
from imface_core.data.sampling import sample_free_space, sample_surface, signed_distance
from imface_core.fitting.scan_io import ScanError

MIN_CROP_FACES = 100  # as prep


@dataclass
class FitSamples:
    """Samples of one scan in normalised units (float32), and its pseudo-watertight surface."""

    surface: np.ndarray
    """(S, 3) points on the surface."""
    normals: np.ndarray
    """(S, 3) unit normals (towards +z)."""
    free: np.ndarray
    """(Q, 3) points in the unit ball."""
    free_sdf: np.ndarray
    """(Q,) signed distances (negative behind the surface)."""
    surface_mesh: tuple[np.ndarray, np.ndarray]
    """The pseudo-watertight surface (vertices, faces): the fit's ground truth."""
    landmarks: np.ndarray | None = None
    """(68|5, 3) landmarks in normalised units, when known."""


def triangulate_point_cloud(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A frontal height-field mesh of a point cloud (normalised units): front-most points, 2-D Delaunay,
    long edges dropped. ``pseudo_watertight`` then treats it as it treats a mesh."""
    tree = cKDTree(points)
    spacing = float(np.median(tree.query(points[:: max(1, len(points) // 5000)], k=2)[0][:, 1]))
    cell = max(2.0 * spacing, 1e-4)
    ij = np.floor(points[:, :2] / cell).astype(np.int64)
    _, inverse = np.unique(ij, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    top = np.full(inverse.max() + 1, -np.inf)
    np.maximum.at(top, inverse, points[:, 2])
    front = points[points[:, 2] >= top[inverse] - 3.0 * cell]
    _, first = np.unique(np.round(front[:, :2] / 1e-6).astype(np.int64), axis=0, return_index=True)
    front = front[np.sort(first)]
    if len(front) < 10:
        raise ScanError("too few points in front of the face to triangulate")
    tri = Delaunay(front[:, :2]).simplices.astype(np.int64)
    edges = np.linalg.norm(front[tri] - front[np.roll(tri, 1, axis=1)], axis=2).max(axis=1)
    tri = tri[edges < 6.0 * spacing]
    return front, tri


def prepare_samples(
    vertices: np.ndarray,
    faces: np.ndarray | None,
    surface_points: int = 60_000,
    free_points: int = 15_000,
    seed: int = 0,
    landmarks: np.ndarray | None = None,
    source: str = "scan",
) -> FitSamples:
    """Fitting samples of a scan already in normalised units (crop, pseudo-watertight, sample, SDF).

    ``faces`` None means a point cloud. Raises ``ScanError`` when too little of the scan lies in the
    unit sphere (the alignment put no face there).
    """
    settings = PrepSettings()
    v = np.asarray(vertices, dtype=np.float64)
    if faces is None:
        inside = np.linalg.norm(v, axis=1) < 1.0
        if inside.sum() < 200:
            raise ScanError(f"`{source}`: almost nothing of the scan lies within 100 mm of the (aligned) nose tip")
        points, crop_faces = triangulate_point_cloud(v[inside])
    else:
        points, crop_faces = crop_unit_sphere(v, np.asarray(faces, dtype=np.int64))
    if len(crop_faces) < MIN_CROP_FACES:
        raise ScanError(f"`{source}`: almost nothing of the scan lies within 100 mm of the (aligned) nose tip")
    normals = trimesh.Trimesh(points, crop_faces, process=False).vertex_normals
    wt_vertices, wt_faces = pseudo_watertight(points, crop_faces, normals)
    if len(wt_faces) < MIN_CROP_FACES:
        raise ScanError(f"`{source}`: the frontal surface of the scan is almost empty")
    rng = np.random.default_rng(seed)
    surface, surface_n = sample_surface(wt_vertices, wt_faces, surface_points, rng)
    dense = np.concatenate([surface, wt_vertices])
    dense_n = np.concatenate([surface_n, trimesh.Trimesh(wt_vertices, wt_faces, process=False).vertex_normals])
    free = sample_free_space(free_points, settings.near_fraction, surface, rng)
    free_sdf, _ = signed_distance(free, dense, dense_n)
    f32 = np.float32
    return FitSamples(
        surface.astype(f32), surface_n.astype(f32), free.astype(f32), free_sdf.astype(f32),
        (wt_vertices, wt_faces), None if landmarks is None else np.asarray(landmarks, dtype=f32),
    )


def samples_from_prepared(npz_path, surface_points: int | None = None, seed: int = 0) -> FitSamples:
    """Fitting samples from a file written by ``imface prep`` (normalised already), with its ``.ply``."""
    from pathlib import Path

    npz_path = Path(npz_path)
    d = load_prepared(npz_path)  # either file format, as float32
    surface, normals = d["surface_points"], d["surface_normals"]
    free, free_sdf, lm = d["free_points"], d["free_sdf"], d["landmarks"]
    if surface_points is not None and surface_points < len(surface):
        idx = np.random.default_rng(seed).choice(len(surface), surface_points, replace=False)
        surface, normals = surface[idx], normals[idx]
    ply = trimesh.load(npz_path.with_suffix(".ply"), process=False)
    mesh = (np.asarray(ply.vertices, dtype=np.float64), np.asarray(ply.faces, dtype=np.int64))
    return FitSamples(surface, normals, free, free_sdf, mesh, lm)
