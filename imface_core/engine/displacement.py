"""The fast full-detail path: the coarse surface moved along its normals by the refinement field.

The fine SDF is s_fine(x) = s(x + d(x) n(x)) with d = a(x) * fade(s(x)), a = detail_scale * detail_max *
tanh(RDF(x_t)) and fade(s) = 1 / (1 + (s / detail_fade)^4) (method.md section 3). Its zero set is the coarse
zero set pulled back along the normal: a coarse-surface point v maps to x = v - t n where t = d(v - t n).
Along the normal s(v - t n) is about -t (a unit-gradient SDF), and a(x) varies slowly (it is a function of the
template coordinate), so t solves the scalar equation t (1 + (t / detail_fade)^4) = a(v), which Newton's method
does in a few numpy steps. Cost: one coarse + RDF evaluation per vertex and no gradient (the normal is the
mesh's vertex normal). ``iterations`` > 1 re-evaluates a at the moved point.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from imface_core.engine.chunks import DEFAULT_CHUNK, CancelToken, check_cancel
from imface_core.engine.field import FaceField

__all__ = ["displace_surface", "keep_orientation", "solve_offset"]


def solve_offset(a: np.ndarray, fade: float, steps: int = 8) -> np.ndarray:
    """Solve t (1 + (t / fade)^4) = a for t (same sign as a, |t| <= |a|), element-wise."""
    a = np.asarray(a, dtype=np.float64)
    t = a.copy()
    # f(t) = t + t^5 / fade^4 - a is increasing and convex for t > 0 (concave for t < 0); Newton from t = a
    # approaches the root monotonically from the far side.
    for _ in range(steps):
        f = t + t**5 / fade**4 - a
        t = t - f / (1.0 + 5.0 * t**4 / fade**4)
    return t.astype(np.float32)


def displace_surface(
    face: FaceField,
    coarse: trimesh.Trimesh,
    iterations: int = 1,
    chunk: int = DEFAULT_CHUNK,
    cancel: CancelToken | None = None,
) -> tuple[trimesh.Trimesh, np.ndarray]:
    """Move the vertices of a coarse-SDF mesh onto the fine surface.

    Args:
        face: the face (its ``detail_scale`` is the detail strength).
        coarse: marching-cubes mesh of the coarse SDF (outward normals).
        iterations: evaluations of the refinement field per vertex (1: at the coarse vertex).
    Returns:
        (the displaced mesh, same faces; template coordinates x_t (V, 3) of the last evaluated points).
    """
    v = np.asarray(coarse.vertices, dtype=np.float32)
    if len(v) == 0:
        return coarse.copy(), np.empty((0, 3), dtype=np.float32)
    n = np.asarray(coarse.vertex_normals, dtype=np.float32)
    fade = float(face.net.cfg.detail_fade)
    t = np.zeros(len(v), dtype=np.float32)
    x_t = np.empty((len(v), 3), dtype=np.float32)
    for _ in range(max(1, iterations)):
        x = v - t[:, None] * n
        a = np.empty(len(v), dtype=np.float32)
        for s in range(0, len(v), chunk):
            check_cancel(cancel)
            a[s : s + chunk], x_t[s : s + chunk] = face.detail_amplitude(x[s : s + chunk])
        t = solve_offset(a, fade)
    faces = np.asarray(coarse.faces)
    moved = keep_orientation(v, v - t[:, None] * n, faces)
    return trimesh.Trimesh(moved, faces, process=False), x_t


def keep_orientation(before: np.ndarray, after: np.ndarray, faces: np.ndarray, rounds: int = 3) -> np.ndarray:
    """``after`` with every patch of triangles that the move turned over moved rigidly, by its vertices' mean move.

    Marching cubes leaves sliver triangles whose vertex normals disagree; moving their vertices along those
    normals by even 0.05 mm can turn a sliver over, and a turned triangle drags its vertices' normals round and
    renders as a dark speck (39-85 per face at 128^3 with the v2 model, docs/experiments.md, "Mesh clean-up").
    The turned slivers' vertices (each connected patch of them) all take the patch's mean move, which cannot
    turn the patch; repeated while a triangle is still turned, and the vertices of any left turned after
    ``rounds`` keep the coarse position. (Putting them back at once left them up to the whole displacement,
    1-2 mm where the refinement is large, proud of the surface around them: white specks on the brows.)
    """
    out = np.array(after, dtype=np.float32, copy=True)
    if len(faces) == 0:
        return out
    before = np.asarray(before, dtype=np.float32)
    a, b, c = (before[faces[:, k]] for k in range(3))
    normal_before = np.cross(b - a, c - a)

    def turned_faces() -> np.ndarray:
        p, q, r = (out[faces[:, k]] for k in range(3))
        return faces[np.einsum("ij,ij->i", normal_before, np.cross(q - p, r - p)) < 0]

    turned = turned_faces()
    for _ in range(rounds):
        if len(turned) == 0:
            return out
        vertices, local = np.unique(turned, return_inverse=True)
        local = local.reshape(turned.shape)
        edges = np.concatenate([local[:, [0, 1]], local[:, [1, 2]]])
        graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(vertices),) * 2)
        count, patch = connected_components(graph, directed=False)
        move = out[vertices] - before[vertices]
        size = np.bincount(patch, minlength=count).astype(np.float32)
        mean = np.stack([np.bincount(patch, weights=move[:, k], minlength=count) for k in range(3)], axis=1) / size[:, None]
        out[vertices] = before[vertices] + mean[patch].astype(np.float32)
        turned = turned_faces()
    for _ in range(rounds):  # the last resort: no move at all
        if len(turned) == 0:
            break
        reset = np.unique(turned)
        out[reset] = before[reset]
        turned = turned_faces()
    return out
