"""Meshes of fitted codes, and cropping a mesh to a scan's frontal footprint.

``extract_mesh`` is ``FaceModel.mesh`` as (vertices, faces) arrays.
"""

from __future__ import annotations

import numpy as np

from imface_core.data.height_field import footprint_mask
from imface_core.engine.cleanup import compact


def extract_mesh(model, codes, resolution: int = 128, detail: bool = True, cancel=None,
                 method: str = "displace") -> tuple[np.ndarray, np.ndarray]:
    """Zero level set of the model's SDF in [-1, 1]^3 (``FaceModel.mesh``): vertices (V, 3) in normalised
    units, faces (F, 3). ``method="displace"`` (default): the coarse surface moved by the refinement field,
    0.006 mm from the exact fine-SDF mesh at 256 and 2.3x faster (``imface bench``); "exact" for that one.

    ``cancel`` (a ``threading.Event``) is checked between chunks: ``errors.Cancelled`` is raised when set.
    """
    mesh = model.mesh(codes, resolution=resolution, detail=detail, cancel=cancel, method=method)
    if len(mesh.faces) == 0:
        raise ValueError("the SDF has no zero crossing in [-1, 1]^3: the codes do not describe a surface")
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


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
