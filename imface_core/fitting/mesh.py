"""Meshes of fitted codes, and cropping a mesh to a scan's frontal footprint.

``extract_mesh`` is the engine's ``FaceModel.mesh`` with a fit's cancel token.
"""

from __future__ import annotations

import numpy as np

from imface_core.data.height_field import footprint_mask


class _CancelAdapter:
    """A fit's cancel (an Event or a callable) as the engine's ``CancelToken`` (``is_set()``)."""

    def __init__(self, cancel):
        self._cancel = cancel

    def is_set(self) -> bool:
        from imface_core.fitting.optimize import is_cancelled

        return is_cancelled(self._cancel)


def extract_mesh(model, codes, resolution: int = 128, detail: bool = True, cancel=None) -> tuple[np.ndarray, np.ndarray]:
    """Zero level set of the model's SDF in [-1, 1]^3 (the engine's exact sparse marching cubes,
    ``FaceModel.mesh``): vertices (V, 3) in normalised units, faces (F, 3).

    ``cancel`` (an Event or a callable) is checked between chunks: ``FitCancelled`` is raised when set.
    """
    from imface_core.engine.chunks import Cancelled
    from imface_core.fitting.optimize import FitCancelled

    try:
        mesh = model.mesh(codes, resolution=resolution, detail=detail,
                          cancel=None if cancel is None else _CancelAdapter(cancel))
    except Cancelled as exc:
        raise FitCancelled("fit cancelled") from exc
    if len(mesh.faces) == 0:
        raise ValueError("the SDF has no zero crossing in [-1, 1]^3: the codes do not describe a surface")
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


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
