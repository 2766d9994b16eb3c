"""Pseudo-watertight frontal surface (method.md §4, step 2).

Keep what a scanner looking along -z sees, then re-triangulate the kept points
with a 2-D Delaunay on (x, y). Holes inside the face (mouth, eyes, scan holes)
are closed over; the outer outline follows the scan's own silhouette.

What is seen is decided per vertex, from a z-buffer of the scan's triangles
that remembers which triangle is frontmost in each cell:
- a vertex is hidden when another triangle covers its (x, y) in front of it
  (exactly, from that triangle's plane: an eyeball behind a closed lid, the
  inside of a lip under its rim), so steep walls need no slack;
- a vertex whose normal faces away from the viewer is the inside of the head
  seen through an opening (open mouth, lid slits) and is dropped: the opening
  is closed over, as a scan closes over what it cannot see;
- a vertex at the bottom of a crack narrower than ~2 mm and deeper than 1.5 mm
  (the slit between closed lids, the line between closed lips) is dropped: a
  scanner does not see into it and the surface closes over it.
Where the eyes are open the eyeball is the frontmost surface and is kept.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import Delaunay, cKDTree

ZBUFFER_CELL = 0.0025  # 0.25 mm in normalised units (the z-buffer that finds narrow cracks)
ACCEL_CELL = 0.0025  # 0.25 mm cells listing the triangles over them (exact visibility)
MASK_CELL = 0.01  # 1 mm cells for the footprint mask
COVER_TOLERANCE = 0.0001  # 0.01 mm: a triangle at least this far in front of a vertex hides it
BACK_FACING_NZ = -0.2  # vertex normals with z below this face away from the viewer
WALL_RADIUS = 0.005  # 0.5 mm: one depth per this much (x, y) on walls ...
WALL_SLOPE = 2.0  # ... steeper than this (63 degrees) ...
WALL_MIN_STEP = 0.0005  # ... and deeper than 0.05 mm
CRACK_RADIUS = 0.01  # 1 mm: cracks narrower than about twice this are not looked into ...
CRACK_DEPTH = 0.015  # ... when they are deeper than 1.5 mm


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


def _front_z(points: np.ndarray, faces: np.ndarray, chunk: int = 20_000) -> np.ndarray:
    """For each point, the highest z at its (x, y) of the triangles that cover it, other than its own, among
    those whose top is above it (-inf where none is): exact, from each triangle's plane. A grid of ACCEL_CELL
    cells lists the triangles whose (x, y) bounding box meets each cell, highest top first; a point tests
    those of its own cell that reach above it (about a third of the cell's list on a face)."""
    cell = ACCEL_CELL
    origin = points[:, :2].min(axis=0) - cell
    shape = tuple(np.ceil((points[:, :2].max(axis=0) - origin) / cell).astype(int) + 2)
    tri = points[faces]
    lo = ((tri[:, :, :2].min(axis=1) - origin) / cell).astype(np.int64)
    hi = ((tri[:, :, :2].max(axis=1) - origin) / cell).astype(np.int64)
    span = hi - lo + 1
    count = span[:, 0] * span[:, 1]
    owner = np.repeat(np.arange(len(faces)), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    key = (lo[owner, 0] + k % span[owner, 0]) * shape[1] + lo[owner, 1] + k // span[owner, 0]
    # One sorted value orders the list by cell, then by falling top: cell * width + depth below the highest point.
    top = tri[:, :, 2].max(axis=1)
    z_max = points[:, 2].max()
    width = z_max - points[:, 2].min() + 1.0
    rank = key * width + (z_max - top[owner])
    order = np.argsort(rank)
    listed, rank = owner[order], rank[order]
    vkey = ((points[:, 0] - origin[0]) / cell).astype(np.int64) * shape[1] + ((points[:, 1] - origin[1]) / cell).astype(np.int64)
    begin = np.searchsorted(rank, vkey * width)
    # A triangle whose top is not COVER_TOLERANCE above the point cannot hide it.
    stop = np.maximum(begin, np.searchsorted(rank, vkey * width + (z_max - points[:, 2] - COVER_TOLERANCE)))
    front = np.full(len(points), -np.inf)
    for s in range(0, len(points), chunk):
        vid = np.arange(s, min(len(points), s + chunk))
        n = stop[vid] - begin[vid]
        rows = np.repeat(vid, n)
        t = listed[np.repeat(begin[vid], n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)]
        f = faces[t]
        keep = ~(f == rows[:, None]).any(axis=1)
        rows, f = rows[keep], f[keep]
        a, b, c = points[f[:, 0]], points[f[:, 1]], points[f[:, 2]]
        e1, e2, p = b - a, c - a, points[rows] - a
        den = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
        ok = np.abs(den) > 1e-14
        den = np.where(ok, den, 1.0)
        u = (p[:, 0] * e2[:, 1] - e2[:, 0] * p[:, 1]) / den
        w = (e1[:, 0] * p[:, 1] - p[:, 0] * e1[:, 1]) / den
        inside = ok & (u >= 0) & (w >= 0) & (u + w <= 1)
        z = a[inside, 2] + u[inside] * e1[inside, 2] + w[inside] * e2[inside, 2]
        np.maximum.at(front, rows[inside], z)
    return front


def _disk(radius: int) -> np.ndarray:
    i, j = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return i * i + j * j <= radius * radius


def visible_points(points: np.ndarray, faces: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the points a scanner looking along -z sees (see the module docstring)."""
    cell = ZBUFFER_CELL
    origin = points[:, :2].min(axis=0) - cell
    shape = tuple(np.ceil((points[:, :2].max(axis=0) - origin) / cell).astype(int) + 2)
    zbuf = _rasterise_max_z(points[faces], cell, origin, shape)
    ix = ((points[:, 0] - origin[0]) / cell).astype(np.int64)
    iy = ((points[:, 1] - origin[1]) / cell).astype(np.int64)
    seen = points[:, 2] >= _front_z(points, faces) - COVER_TOLERANCE
    if normals is not None:
        # A scan whose triangles wind the other way has inward normals: judge by what most of the
        # visible surface says (a face seen from the front mostly faces the viewer).
        facing = np.sign(np.median(normals[seen, 2])) if seen.any() else 1.0
        seen &= facing * normals[:, 2] > BACK_FACING_NZ
    # Narrow cracks: where closing the z-buffer over ~2 mm lifts it by more than the crack depth.
    r = max(1, int(round(CRACK_RADIUS / cell)))
    z = np.where(np.isfinite(zbuf), zbuf, -10.0)
    crack = ndimage.grey_closing(z, footprint=_disk(r)) - z > CRACK_DEPTH
    seen &= ~crack[ix, iy]
    return seen


def footprint_mask(points: np.ndarray, faces: np.ndarray):
    """The scan's (x, y) silhouette with inner holes filled, as (mask, origin, cell)."""
    cell = MASK_CELL
    origin = points[:, :2].min(axis=0) - 2 * cell
    shape = tuple(np.ceil((points[:, :2].max(axis=0) - origin) / cell).astype(int) + 4)
    occupied = np.isfinite(_rasterise_max_z(points[faces], cell, origin, shape))
    occupied = ndimage.binary_closing(occupied, iterations=1)
    return ndimage.binary_fill_holes(occupied), origin, cell


def thin_walls(pts: np.ndarray) -> np.ndarray:
    """Keep one depth per WALL_RADIUS of (x, y) on near-vertical walls (lid margins, lip rims, the
    sides of the face): of two visible points closer than that in (x, y) and steeper than
    WALL_SLOPE apart, the one behind goes. Otherwise a wall's points, shuffled in (x, y) by skin
    texture, make a saw of slivers between its top and its foot; a range scan has one depth per pixel."""
    pairs = cKDTree(pts[:, :2]).query_pairs(WALL_RADIUS, output_type="ndarray")
    if len(pairs) == 0:
        return pts
    dz = pts[pairs[:, 0], 2] - pts[pairs[:, 1], 2]
    dxy = np.linalg.norm(pts[pairs[:, 0], :2] - pts[pairs[:, 1], :2], axis=1)
    steep = np.abs(dz) > np.maximum(WALL_SLOPE * dxy, WALL_MIN_STEP)
    behind = np.where(dz[steep] > 0, pairs[steep, 1], pairs[steep, 0])
    keep = np.ones(len(pts), dtype=bool)
    keep[behind] = False
    return pts[keep]


def pseudo_watertight(points: np.ndarray, faces: np.ndarray, vertex_normals: np.ndarray | None = None):
    """Frontal height-field mesh ``(vertices, faces)`` of a cropped scan; every normal has z > 0."""
    seen = visible_points(points, faces, vertex_normals)
    pts = thin_walls(points[seen])
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
