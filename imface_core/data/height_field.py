"""Pseudo-watertight frontal surface (method.md §4, step 2).

Keep what is seen from +z (a z-buffer of the scan's triangles decides which
vertices are hidden), then re-triangulate the visible points with a 2-D
Delaunay on (x, y). Holes inside the face (mouth, eyes, scan holes) are closed
over; the outer outline follows the scan's own silhouette.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import Delaunay

ZBUFFER_CELL = 0.0025  # 0.25 mm in normalised units
MASK_CELL = 0.01  # 1 mm cells for the footprint mask
VISIBLE_TOLERANCE = 0.003  # 0.3 mm


def _rasterise_max_z(tri: np.ndarray, cell: float, origin: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Highest z per (x, y) cell of a triangle soup (T, 3, 3), by dense barycentric sampling."""
    zbuf = np.full(shape[0] * shape[1], -np.inf)
    edge = np.linalg.norm(tri[:, [1, 2, 0], :2] - tri[:, :, :2], axis=2).max(axis=1)
    divisions = np.clip(np.ceil(edge / (0.7 * cell)).astype(int), 1, 64)
    for m in np.unique(divisions):
        sel = tri[divisions == m]
        i, j = np.meshgrid(np.arange(m + 1), np.arange(m + 1), indexing="ij")
        ok = i + j <= m
        bary = np.stack([i[ok], j[ok], m - i[ok] - j[ok]], axis=1) / m  # (S, 3)
        pts = np.einsum("sk,tkd->tsd", bary, sel).reshape(-1, 3)
        ix = ((pts[:, 0] - origin[0]) / cell).astype(np.int64)
        iy = ((pts[:, 1] - origin[1]) / cell).astype(np.int64)
        good = (ix >= 0) & (ix < shape[0]) & (iy >= 0) & (iy < shape[1])
        np.maximum.at(zbuf, ix[good] * shape[1] + iy[good], pts[good, 2])
    return zbuf.reshape(shape)


def visible_points(points: np.ndarray, faces: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the points seen from +z (not hidden behind any triangle)."""
    cell = ZBUFFER_CELL
    origin = points[:, :2].min(axis=0) - cell
    shape = tuple(np.ceil((points[:, :2].max(axis=0) - origin) / cell).astype(int) + 2)
    zbuf = _rasterise_max_z(points[faces], cell, origin, shape)
    ix = ((points[:, 0] - origin[0]) / cell).astype(np.int64)
    iy = ((points[:, 1] - origin[1]) / cell).astype(np.int64)
    top = zbuf[ix, iy]
    tol = np.full(len(points), VISIBLE_TOLERANCE)
    if normals is not None:
        # On steep slopes z changes quickly within one cell: allow for that change.
        nz = np.clip(np.abs(normals[:, 2]), 0.05, 1.0)
        tol += np.minimum(np.sqrt(1.0 - nz**2) / nz * cell * 1.5, 0.03)
    return ~np.isfinite(top) | (points[:, 2] >= top - tol)


def footprint_mask(points: np.ndarray, faces: np.ndarray):
    """The scan's (x, y) silhouette with inner holes filled, as (mask, origin, cell)."""
    cell = MASK_CELL
    origin = points[:, :2].min(axis=0) - 2 * cell
    shape = tuple(np.ceil((points[:, :2].max(axis=0) - origin) / cell).astype(int) + 4)
    occupied = np.isfinite(_rasterise_max_z(points[faces], cell, origin, shape))
    occupied = ndimage.binary_closing(occupied, iterations=1)
    return ndimage.binary_fill_holes(occupied), origin, cell


def pseudo_watertight(points: np.ndarray, faces: np.ndarray, vertex_normals: np.ndarray | None = None):
    """Frontal height-field mesh ``(vertices, faces)`` of a cropped scan; every normal has z > 0."""
    seen = visible_points(points, faces, vertex_normals)
    pts = points[seen]
    # Drop exact (x, y) duplicates: a height field has one z per (x, y).
    _, first = np.unique(np.round(pts[:, :2] / 1e-6).astype(np.int64), axis=0, return_index=True)
    pts = pts[np.sort(first)]
    tri = Delaunay(pts[:, :2]).simplices.astype(np.int64)
    mask, origin, cell = footprint_mask(points, faces)
    centroid = pts[tri, :2].mean(axis=1)
    cx = ((centroid[:, 0] - origin[0]) / cell).astype(np.int64).clip(0, mask.shape[0] - 1)
    cy = ((centroid[:, 1] - origin[1]) / cell).astype(np.int64).clip(0, mask.shape[1] - 1)
    tri = tri[mask[cx, cy]]
    # Counter-clockwise in (x, y) means the normal points to +z.
    a, b, c = pts[tri[:, 0], :2], pts[tri[:, 1], :2], pts[tri[:, 2], :2]
    area2 = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    tri[area2 < 0] = tri[area2 < 0][:, [0, 2, 1]]
    tri = tri[np.abs(area2) > 1e-14]
    used = np.unique(tri)
    remap = np.full(len(pts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return pts[used], remap[tri]
