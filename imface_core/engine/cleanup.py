"""Removing the stray pieces a face's SDF draws away from the face (small closed blobs above the head or
below the chin, where no training scan constrained the field).

Measured on the compact model (3 people x 4 expressions at 128^3, docs/experiments.md, "Mesh clean-up"): the
face is one piece of 99.1-99.9 % of the triangles and the strays 0.06-0.5 % each, so pieces under 2 % of
the triangles are dropped.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["MIN_PIECE_SHARE", "compact", "drop_small_pieces", "largest_piece"]

MIN_PIECE_SHARE = 0.02
"""Pieces with fewer than this share of a mesh's triangles are dropped."""


def drop_small_pieces(mesh: trimesh.Trimesh, min_share: float = MIN_PIECE_SHARE) -> trimesh.Trimesh:
    """``mesh`` without its connected pieces smaller than ``min_share`` of the triangles (vertex colours kept;
    the mesh itself when nothing is dropped). ``min_share`` 0 keeps everything."""
    faces = np.asarray(mesh.faces)
    if min_share <= 0 or len(faces) == 0:
        return mesh
    n_vertices = len(mesh.vertices)
    n_pieces, face_label = _pieces(faces, n_vertices)
    if n_pieces == 1:
        return mesh
    size = np.bincount(face_label, minlength=n_pieces)
    keep_face = size[face_label] >= min_share * len(faces)
    if keep_face.all():
        return mesh
    if not keep_face.any():  # nothing big: a degenerate surface, left as it is
        return mesh
    kept = faces[keep_face]
    used = np.zeros(n_vertices, dtype=bool)
    used[kept.ravel()] = True
    new_index = np.cumsum(used) - 1
    out = trimesh.Trimesh(np.asarray(mesh.vertices)[used], new_index[kept], process=False)
    if mesh.visual.kind == "vertex":
        out.visual.vertex_colors = np.asarray(mesh.visual.vertex_colors)[used]
    return out


def largest_piece(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The connected piece of a (vertices, faces) mesh with the most triangles, without the vertices it does
    not use (how a fit keeps the face of a cropped surface)."""
    faces = np.asarray(faces)
    if len(faces) == 0:
        return vertices, faces
    n_pieces, face_label = _pieces(faces, len(vertices))
    return compact(vertices, faces[face_label == np.bincount(face_label, minlength=n_pieces).argmax()])


def compact(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, faces) without the vertices no face uses."""
    used = np.unique(faces)
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return vertices[used], remap[faces]


def _pieces(faces: np.ndarray, n_vertices: int) -> tuple[int, np.ndarray]:
    """(number of pieces, piece of each face): connected components of the vertices joined by the edges."""
    edges = coo_matrix((np.ones(faces.size, dtype=np.int8), (faces.ravel(), np.roll(faces, 1, axis=1).ravel())),
                       shape=(n_vertices, n_vertices))
    n_pieces, label = connected_components(edges, directed=False)
    return n_pieces, label[faces[:, 0]]

