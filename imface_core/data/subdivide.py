"""Midpoint subdivision of a chosen region, as a sparse linear map shared by every scan.

All synthetic scans share one topology, so the subdivision is planned once on
the mean face: ``new_vertices = plan.matrix @ vertices``. Only faces in the
region are split (the region's border gets T-junctions, which stay closed as
long as nothing is displaced there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class SubdivisionPlan:
    faces: np.ndarray  # (F', 3) int64 faces of the subdivided mesh
    matrix: sp.csr_matrix  # (V', V) new vertex positions from old ones
    n_original: int  # the first n_original new vertices are the old ones, unchanged

    def apply(self, vertices: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix @ vertices, dtype=vertices.dtype)


def plan_subdivision(faces: np.ndarray, n_vertices: int, face_mask: np.ndarray, levels: int) -> SubdivisionPlan:
    """Split every face with ``face_mask`` into 4, ``levels`` times (children stay selected)."""
    faces = np.asarray(faces, dtype=np.int64)
    selected = np.asarray(face_mask, dtype=bool)
    rows, cols = [np.arange(n_vertices)], [np.arange(n_vertices)]
    vals = [np.ones(n_vertices)]
    parents = sp.identity(n_vertices, format="csr")  # current vertices as combos of originals
    n_current = n_vertices
    for _ in range(levels):
        sel = faces[selected]
        edges = np.sort(np.concatenate([sel[:, [0, 1]], sel[:, [1, 2]], sel[:, [2, 0]]]), axis=1)
        unique, inverse = np.unique(edges, axis=0, return_inverse=True)
        inverse = inverse.reshape(3, -1).T  # (n_sel, 3) midpoint index per edge (01, 12, 20)
        mid = n_current + inverse
        # Midpoints as combos of the current vertices, then of the originals.
        m = len(unique)
        mid_map = sp.csr_matrix(
            (np.full(2 * m, 0.5), (np.repeat(np.arange(m), 2), unique.reshape(-1))), shape=(m, n_current)
        )
        parents = sp.vstack([parents, mid_map @ parents], format="csr")
        a, b, c = sel[:, 0], sel[:, 1], sel[:, 2]
        ab, bc, ca = mid[:, 0], mid[:, 1], mid[:, 2]
        children = np.concatenate(
            [np.stack([a, ab, ca], 1), np.stack([ab, b, bc], 1), np.stack([ca, bc, c], 1), np.stack([ab, bc, ca], 1)]
        )
        faces = np.concatenate([faces[~selected], children])
        selected = np.concatenate([np.zeros((~selected).sum(), bool), np.ones(len(children), bool)])
        n_current += m
    del rows, cols, vals
    return SubdivisionPlan(faces=faces, matrix=parents.tocsr(), n_original=n_vertices)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3)."""
    v = vertices.astype(np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    normals = np.zeros_like(v)
    for i in range(3):
        np.add.at(normals, faces[:, i], fn)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.maximum(length, 1e-12)
