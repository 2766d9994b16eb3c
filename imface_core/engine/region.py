"""The face region: where the training scans had surface, in template space, and meshes cropped to it.

Every surface point of a face has template coordinates (the dense correspondence), so one region in template
space crops every face the same way: what no training scan covered (the lumps beside the cheeks and around
the ears, the flat cuts at the box) is removed, whatever the identity or expression.

``FaceRegion.learn`` takes the training scans' surface points with their training codes, maps them to
template space and records, per 2.5 mm voxel, the share of scans that had surface within ``reach`` of it.
``crop_mesh`` keeps the part of a mesh whose template coordinates lie where at least half of the scans
had surface, cutting triangles along that level line (interpolated along edges), so the boundary is smooth
instead of a sawtooth of whole triangles. The region travels in the model file (``to_state``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import trimesh

__all__ = ["FaceRegion", "clip_mesh", "crop_mesh", "vertex_share"]


@dataclass(frozen=True)
class FaceRegion:
    """Share of training scans covering each voxel of a box in template space."""

    coverage: np.ndarray
    """(nx, ny, nz) float32 in [0, 1]."""
    origin: np.ndarray
    """(3,) template coordinates of the centre of voxel (0, 0, 0)."""
    spacing: float
    """Voxel size, normalised units (1 = 100 mm)."""
    scans: int
    """How many scans it was learnt from."""
    threshold: float = 0.5
    """A template point belongs to the face when at least this share of the scans covered it."""

    # -- learning ---------------------------------------------------------------------------------
    @classmethod
    def learn(cls, template_points: Iterable[np.ndarray], spacing: float = 0.025, reach: float = 0.05,
              smooth_voxels: float = 1.0) -> "FaceRegion":
        """The region of scans given as their surface points' template coordinates, one (N, 3) array each.

        ``reach`` (normalised units, 5 mm by default) is how far from a scan's points a voxel still counts
        as covered by it: the crop is applied to surfaces whose template coordinates lie a little off the
        training points (detail, other codes). The share is smoothed by ``smooth_voxels`` (Gaussian sigma).
        """
        from scipy import ndimage

        clouds = [np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in template_points]
        clouds = [c[np.isfinite(c).all(axis=1)] for c in clouds if len(c)]
        if not clouds:
            raise ValueError("no scan points to learn the face region from")
        lo = np.min([c.min(axis=0) for c in clouds], axis=0) - 2 * reach
        hi = np.max([c.max(axis=0) for c in clouds], axis=0) + 2 * reach
        shape = tuple(int(s) for s in np.ceil((hi - lo) / spacing).astype(int) + 1)
        radius = max(1, int(round(reach / spacing)))
        ball = np.linalg.norm(np.mgrid[-radius:radius + 1, -radius:radius + 1, -radius:radius + 1], axis=0)
        ball = ball <= reach / spacing + 1e-9
        count = np.zeros(shape, dtype=np.float32)
        for c in clouds:
            hit = np.zeros(shape, dtype=bool)
            ijk = np.round((c - lo) / spacing).astype(np.int64)
            hit[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
            count += ndimage.binary_dilation(hit, structure=ball)
        share = count / len(clouds)
        if smooth_voxels > 0:
            share = ndimage.gaussian_filter(share, smooth_voxels, mode="constant")
        return cls(share.astype(np.float32), lo.astype(np.float32), float(spacing), len(clouds))

    # -- queries ----------------------------------------------------------------------------------
    def share(self, template_points: np.ndarray) -> np.ndarray:
        """(N,) share of scans covering each template point (trilinear; 0 outside the box)."""
        from scipy import ndimage

        xt = np.asarray(template_points, dtype=np.float64).reshape(-1, 3)
        idx = ((xt - self.origin) / self.spacing).T
        return ndimage.map_coordinates(self.coverage, idx, order=1, mode="constant", cval=0.0)

    # -- storage (a model file's ``face_region`` entry) ------------------------------------------------
    def to_state(self) -> dict:
        import torch

        quantised = np.round(np.clip(self.coverage, 0.0, 1.0) * 255.0).astype(np.uint8)
        return {"coverage_u8": torch.from_numpy(quantised), "origin": torch.from_numpy(self.origin.copy()),
                "spacing": float(self.spacing), "scans": int(self.scans), "threshold": float(self.threshold)}

    @classmethod
    def from_state(cls, state: dict) -> "FaceRegion":
        coverage = np.asarray(state["coverage_u8"].numpy(), dtype=np.float32) / 255.0
        origin = np.asarray(state["origin"].numpy(), dtype=np.float32).reshape(3)
        if coverage.ndim != 3 or not np.isfinite(origin).all() or not float(state["spacing"]) > 0:
            raise ValueError("the face region in the model file is malformed")
        return cls(coverage, origin, float(state["spacing"]), int(state["scans"]), float(state["threshold"]))


def clip_mesh(mesh: trimesh.Trimesh, values: np.ndarray, level: float = 0.0,
              vertex_data: np.ndarray | None = None) -> tuple[trimesh.Trimesh, np.ndarray | None]:
    """The part of ``mesh`` where the per-vertex ``values`` are >= ``level``, cut along that level line.

    Triangles with vertices on both sides are split where their edges cross the level (linear interpolation,
    one new vertex per crossed edge, shared by the two triangles of the edge), so the boundary follows the
    level line smoothly. ``vertex_data`` (V, ...) is interpolated the same way and returned for the result's
    vertices; vertex colours of ``mesh`` are carried over too.
    """
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.faces, dtype=np.int64)
    s = np.asarray(values, dtype=np.float64).reshape(-1) - level
    colors = np.asarray(mesh.visual.vertex_colors, dtype=np.float64) if mesh.visual.kind == "vertex" else None
    inside = s >= 0.0
    n_in = inside[f].sum(axis=1)
    whole = f[n_in == 3]
    one, two = f[n_in == 1], f[n_in == 2]
    # rotate each cut triangle (keeping its orientation) so its odd vertex comes first
    one = _roll_first(one, inside[one])
    two = _roll_first(two, ~inside[two])
    edges = np.concatenate([one[:, [0, 1]], one[:, [0, 2]], two[:, [0, 1]], two[:, [0, 2]]])
    keys, inverse = np.unique(np.sort(edges, axis=1), axis=0, return_inverse=True)
    a, b = keys[:, 0], keys[:, 1]
    t = np.clip(s[a] / np.where(s[a] == s[b], 1.0, s[a] - s[b]), 0.0, 1.0)[:, None]
    new_index = len(v) + inverse.reshape(-1)
    k1, k2 = len(one), len(two)
    p01, p02 = new_index[:k1], new_index[k1:2 * k1]
    q01, q02 = new_index[2 * k1:2 * k1 + k2], new_index[2 * k1 + k2:]
    faces = np.concatenate([
        whole,
        np.stack([one[:, 0], p01, p02], axis=1),  # the inside corner and the two crossings
        np.stack([q01, two[:, 1], two[:, 2]], axis=1),  # the inside quad (q01, b, c, q02) as two triangles
        np.stack([q01, two[:, 2], q02], axis=1),
    ])

    def lerp(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(len(v), -1)
        return np.concatenate([x, x[a] + t * (x[b] - x[a])])

    all_v = lerp(v)
    used = np.unique(faces)
    remap = np.full(len(all_v), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    out = trimesh.Trimesh(all_v[used], remap[faces], process=False)
    if colors is not None:
        out.visual.vertex_colors = np.round(lerp(colors)[used]).astype(np.uint8)
    data = None
    if vertex_data is not None:
        shape = np.asarray(vertex_data).shape[1:]
        data = lerp(vertex_data)[used].reshape((len(used),) + shape).astype(np.asarray(vertex_data).dtype)
    return out, data


def _roll_first(tris: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """Rotate each triangle (a cyclic shift keeps its orientation) so its ``odd`` vertex comes first."""
    first = np.argmax(odd, axis=1)
    order = (first[:, None] + np.arange(3)[None]) % 3
    return np.take_along_axis(tris, order, axis=1)


def crop_mesh(mesh: trimesh.Trimesh, template_coords: np.ndarray, region: FaceRegion
              ) -> tuple[trimesh.Trimesh, np.ndarray]:
    """``mesh`` cut to ``region`` by its vertices' template coordinates; returns the mesh and its vertices'
    template coordinates (interpolated on the cut)."""
    xt = np.asarray(template_coords, dtype=np.float32).reshape(-1, 3)
    if len(mesh.faces) == 0:
        return mesh, xt
    return clip_mesh(mesh, region.share(xt), region.threshold, xt)


SAMPLE_SPACING = 0.04
"""``vertex_share`` maps one vertex per 4 mm cell to template space ..."""
EXACT_BAND = 0.3
"""... and every vertex whose share read from its nearest sample lies within this of the threshold."""


def vertex_share(vertices: np.ndarray, warp, region: FaceRegion) -> np.ndarray:
    """(V,) share of the region at mesh vertices, for cropping, with far fewer warp evaluations than vertices.

    The share is smooth on the surface (it goes from 0 to 1 over about 10 mm), so one vertex per
    ``SAMPLE_SPACING`` cell is mapped (``warp``: (M, 3) points -> (M, 3) template coordinates) and every vertex
    reads the share of its nearest sample; the vertices that read within ``EXACT_BAND`` of the threshold, where
    the cut goes, are then mapped themselves (``benchmarks/bench_crop.py`` counts the evaluations and the
    vertices the cut treats differently from mapping every vertex).
    """
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, dtype=np.float32).reshape(-1, 3)
    if len(v) == 0:
        return np.zeros(0)
    cells = np.floor(v / SAMPLE_SPACING).astype(np.int64)
    _, first = np.unique(cells, axis=0, return_index=True)
    share_s = region.share(warp(v[first]))
    _, nearest = cKDTree(v[first]).query(v, k=1)
    share = share_s[nearest]  # a sample's nearest sample is itself
    near = np.flatnonzero(np.abs(share - region.threshold) < EXACT_BAND)
    if len(near):
        share[near] = region.share(warp(v[near]))
    return share
