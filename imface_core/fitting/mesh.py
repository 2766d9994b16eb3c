"""Meshes of fitted codes, and cropping a mesh to a scan's frontal footprint.

``extract_mesh`` uses the engine (``FaceModel.mesh``) when the model has it and
falls back to a small narrow-band marching cubes of its own.
"""

from __future__ import annotations

import logging

import numpy as np

from imface_core.data.height_field import footprint_mask

logger = logging.getLogger(__name__)


def extract_mesh(model, codes, resolution: int = 128, detail: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Zero level set of the model's SDF in [-1, 1]^3: vertices (V, 3) in normalised units, faces (F, 3).

    The engine's ``FaceModel.mesh`` (exact sparse marching cubes) when it works, else a small narrow-band
    marching cubes of our own (TODO: drop the fallback once the engine is settled).
    """
    if hasattr(model, "mesh"):
        try:
            mesh = model.mesh(codes, resolution=resolution, detail=detail)
            return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
        except Exception as exc:  # the engine is new: never let it break a fit
            logger.warning("engine mesh extraction failed (%s: %s); using the fallback", type(exc).__name__, exc)
    return _narrow_band_marching_cubes(model, codes, resolution, detail)


def _narrow_band_marching_cubes(model, codes, resolution: int, detail: bool) -> tuple[np.ndarray, np.ndarray]:
    """Fallback extraction: a coarse grid, then exact values only near its zero crossing."""
    from scipy import ndimage
    from skimage.measure import marching_cubes

    n = int(resolution)
    step = 2.0 / (n - 1)  # n samples over [-1, 1]
    coarse_n = max(9, (n - 1) // 4 + 1)
    c = np.linspace(-1.0, 1.0, coarse_n)
    grid = np.stack(np.meshgrid(c, c, c, indexing="ij"), axis=-1).reshape(-1, 3)
    coarse = model.sdf(grid, codes, detail=False).reshape(coarse_n, coarse_n, coarse_n)
    values = ndimage.zoom(coarse, (n - 1) / (coarse_n - 1), order=1)[:n, :n, :n]
    coarse_step = 2.0 / (coarse_n - 1)
    band = np.abs(values) < 1.5 * coarse_step
    idx = np.argwhere(band)
    if len(idx):
        pts = idx * step - 1.0
        values[band] = model.sdf(pts, codes, detail=detail)
    if not (values.min() < 0 < values.max()):
        raise ValueError("the SDF has no zero crossing in [-1, 1]^3: the codes do not describe a surface")
    verts, faces, _, _ = marching_cubes(values, level=0.0, spacing=(step, step, step))
    return verts - 1.0, faces.astype(np.int64)


def largest_component(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The connected component with the most faces."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(faces) == 0:
        return vertices, faces
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(vertices),) * 2)
    _, label = connected_components(graph, directed=False)
    face_label = label[faces[:, 0]]
    best = np.bincount(face_label).argmax()
    return compact(vertices, faces[face_label == best])


def compact(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop vertices no face uses."""
    used = np.unique(faces)
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return vertices[used], remap[faces]


class Footprint:
    """The (x, y) silhouette of a frontal surface (normalised units), as ``pseudo_watertight`` computes it."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, margin_cells: int = 0):
        from scipy import ndimage

        self.mask, self.origin, self.cell = footprint_mask(np.asarray(vertices, dtype=np.float64), faces)
        if margin_cells:
            self.mask = ndimage.binary_dilation(self.mask, iterations=margin_cells)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: whether each point's (x, y) falls inside the silhouette."""
        ix = np.floor((points[:, 0] - self.origin[0]) / self.cell).astype(np.int64)
        iy = np.floor((points[:, 1] - self.origin[1]) / self.cell).astype(np.int64)
        ok = (ix >= 0) & (ix < self.mask.shape[0]) & (iy >= 0) & (iy < self.mask.shape[1])
        out = np.zeros(len(points), dtype=bool)
        out[ok] = self.mask[ix[ok], iy[ok]]
        return out

    def crop_mesh(self, vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Faces whose centroid lies inside the silhouette (and in front of z = -1)."""
        keep = self.contains(vertices[faces].mean(axis=1))
        return compact(vertices, faces[keep]) if keep.any() else (vertices[:0], faces[:0])
