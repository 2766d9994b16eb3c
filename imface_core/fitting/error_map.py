"""Per-vertex error map: the distance of each scan vertex to the fitted surface, and its statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from imface_core.data.normalize import SCALE_MM
from imface_core.data.sampling import sample_surface, signed_distance


@dataclass
class ErrorMap:
    """Signed distances (mm; positive in front of the fitted surface) of the scan's vertices.

    ``distances`` is NaN where the fitted surface does not cover the scan (outside the fitted
    region: back of the head, neck, hidden parts); ``covered`` marks the others.
    """

    distances: np.ndarray
    """(N,) float32, mm, NaN where not covered."""
    covered: np.ndarray
    """(N,) bool."""

    @property
    def stats(self) -> dict:
        d = np.abs(self.distances[self.covered])
        if d.size == 0:
            return {"covered_fraction": 0.0, "count": 0}
        return {
            "count": int(d.size),
            "covered_fraction": float(self.covered.mean()),
            "mean_mm": float(d.mean()),
            "median_mm": float(np.median(d)),
            "rms_mm": float(np.sqrt(np.mean(d**2))),
            "p90_mm": float(np.percentile(d, 90)),
            "p95_mm": float(np.percentile(d, 95)),
            "max_mm": float(d.max()),
            "within_1mm": float((d < 1.0).mean()),
        }


def surface_distance(points_mm: np.ndarray, vertices_mm: np.ndarray, faces: np.ndarray, samples: int = 400_000,
                     seed: int = 0) -> np.ndarray:
    """Signed distance (mm; positive on the side the faces' normals point to) of points to a mesh in mm.

    From a dense area-uniform sample of the mesh: the tangent-plane distance within 3 mm of it, the
    distance to the nearest sample farther away (``data.sampling.signed_distance``, which works in
    normalised units, so the inputs are divided by 100 first).
    """
    import trimesh

    v = np.asarray(vertices_mm, dtype=np.float64) / SCALE_MM
    faces = np.asarray(faces, dtype=np.int64)
    rng = np.random.default_rng(seed)
    pts, nrm = sample_surface(v, faces, samples, rng)
    dense = np.concatenate([pts, v])
    dense_n = np.concatenate([nrm, trimesh.Trimesh(v, faces, process=False).vertex_normals])
    sd, _ = signed_distance(np.asarray(points_mm, dtype=np.float64) / SCALE_MM, dense, dense_n, cKDTree(dense))
    return sd * SCALE_MM


def error_map(scan_vertices_mm: np.ndarray, mesh_vertices_mm: np.ndarray, mesh_faces: np.ndarray,
              covered: np.ndarray | None = None, max_mm: float = 10.0) -> ErrorMap:
    """Distance of each scan vertex to the fitted mesh (all in the scan's frame, mm).

    ``covered``: which vertices the fitted surface is meant to explain (default: those within
    ``max_mm`` of it); the others get NaN.
    """
    d = surface_distance(scan_vertices_mm, mesh_vertices_mm, mesh_faces).astype(np.float32)
    cov = np.abs(d) < max_mm if covered is None else np.asarray(covered, dtype=bool)
    out = np.where(cov, d, np.float32(np.nan)).astype(np.float32)
    return ErrorMap(out, cov)
