"""Fixed-topology faces: one template mesh, carried onto every face (``FaceModel.mesh(..., topology="template")``).

Marching cubes gives every face its own vertices; production tools (rigs, blend shapes, texture maps) need the
same vertex count and order for every face. The model already has the correspondence for it: every surface
point has a template coordinate x_t (method.md section 1). So:

1. **The template mesh** (once per model, resolution and crop; cached on the model object): marching cubes of
   the template SDF T in template space, evaluated by a float64 CPU copy of the template field (so that
   the mesh does not depend on the device or on float32 rounding at grid points), cut to the face region
   (``region.py``; vertices *are* template coordinates, so the cut is exact), short edges collapsed (the
   slivers marching cubes and the cut leave) and a few rounds of tangential relaxation, each followed by a
   projection back onto T = 0. Its vertices are the **targets**: template coordinates every face's vertex
   ``i`` must have.
2. **Carrying** it onto a face (``carry_template``): the points x with x_t(x) = target are found by the
   fixed-point iteration of ``TemplateDeformer`` (x <- x - (x_t(x) - t), damped per vertex, checked), warm-
   started from the mean face's positions; they lie on the face up to the identity's SDF correction delta,
   so two Newton steps along the normal put them on the coarse zero set, the refinement field moves them to
   the fine surface as in ``displacement.py`` and a last Newton step on the fine SDF itself corrects what
   that approximation leaves.

The mesh's ``metadata["template_topology"]`` holds the diagnostics (warp residual, |fine SDF| at the
vertices, turned triangles) and the topology's fingerprint.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from scipy import sparse
from scipy.spatial import cKDTree

from imface_core.engine.chunks import DEFAULT_CHUNK, CancelToken, evaluate_in_chunks
from imface_core.engine.cleanup import drop_small_pieces
from imface_core.engine.colors import correspondence_colors
from imface_core.engine.displacement import keep_orientation, solve_offset
from imface_core.engine.extraction import sparse_mesh
from imface_core.engine.field import FaceField
from imface_core.engine.region import clip_mesh
from imface_core.settings import check_mesh_resolution

__all__ = ["TEMPLATE_RESOLUTION", "TemplateTopology", "template_topology", "carry_template",
           "template_face_mesh"]

TEMPLATE_RESOLUTION = 128
"""Grid resolution of the template mesh when none is given (2/127 = 1.6 mm cells)."""

_CACHE_ATTR = "_template_topologies"
_LOCK = threading.Lock()


@dataclass(frozen=True)
class TemplateTopology:
    """The template mesh of a model: what every template-topology face shares."""

    faces: np.ndarray
    """(F, 3) int64 triangles, outward (+z towards the viewer)."""
    targets: np.ndarray
    """(V, 3) float32 template coordinates of the vertices (vertex i of every face has x_t = targets[i])."""
    start: np.ndarray
    """(V, 3) float32 positions on the mean face (the warm start of every carry)."""
    resolution: int
    cropped: bool
    """Cut to the model's face region (False: the model has none, or ``crop=False``)."""

    @property
    def fingerprint(self) -> str:
        """A short digest of the vertex count and the triangles: equal for meshes of the same topology."""
        h = hashlib.blake2b(digest_size=8)
        h.update(np.int64(len(self.targets)).tobytes())
        h.update(np.ascontiguousarray(self.faces, dtype=np.int64).tobytes())
        return h.hexdigest()


# -- the template mesh -------------------------------------------------------------------------------------------
class _TemplateSDF:
    """The template field T in float64 on the CPU: values and gradients, numpy in and out."""

    def __init__(self, net):
        self.field = copy.deepcopy(net.template_field).to("cpu", torch.float64).eval()
        for p in self.field.parameters():
            p.requires_grad_(False)
        self.anchors = net.template_landmarks5.detach().to("cpu", torch.float64)[None]

    def __call__(self, points: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(np.asarray(points, dtype=np.float64))[None]
            return self.field(x, self.anchors)[0, :, 0].numpy().astype(np.float32)

    def value_and_grad(self, points: np.ndarray, chunk: int = DEFAULT_CHUNK * 2) -> tuple[np.ndarray, np.ndarray]:
        values, grads = [], []
        for s in range(0, len(points), chunk):
            with torch.enable_grad():
                x = torch.tensor(np.asarray(points[s:s + chunk], dtype=np.float64))[None].requires_grad_(True)
                out = self.field(x, self.anchors)[0, :, 0]
                (g,) = torch.autograd.grad(out.sum(), x)
            values.append(out.detach().numpy())
            grads.append(g[0].numpy())
        return np.concatenate(values), np.concatenate(grads)


def template_topology(model, resolution: int = TEMPLATE_RESOLUTION, crop: bool = True,
                      cancel: CancelToken | None = None) -> TemplateTopology:
    """The template mesh of ``model`` at ``resolution`` (cut to ``model.region`` when ``crop`` and the model has
    one), made on the first call and cached on the model object."""
    region = model.region if crop else None
    key = (int(resolution), id(region) if region is not None else None)
    with _LOCK:
        cache = model.__dict__.setdefault(_CACHE_ATTR, {})
        if key in cache and cache[key][0] is region:  # (the region is kept with it: its id is not reused)
            return cache[key][1]
        faces, targets = _template_mesh(model, int(resolution), region, cancel)
        start = _carry_to_mean_face(model, faces, targets, cancel)
        topology = TemplateTopology(faces, targets, start, int(resolution), region is not None)
        cache[key] = (region, topology)
        return topology


def _template_mesh(model, resolution: int, region, cancel) -> tuple[np.ndarray, np.ndarray]:
    """(faces, vertices in template space) of T = 0, cut to ``region`` and relaxed."""
    sdf = _TemplateSDF(model.net)
    mesh = sparse_mesh(sdf, resolution, cancel=cancel)
    if len(mesh.faces) == 0:
        raise ValueError("the model's template SDF has no surface in the box")
    if region is not None:
        mesh, _ = clip_mesh(mesh, region.share(mesh.vertices), region.threshold)
        if len(mesh.faces) == 0:
            raise ValueError("the model's template surface lies outside its face region")
    mesh = drop_small_pieces(mesh)
    f = np.asarray(mesh.faces, dtype=np.int64)
    v = _relax(np.asarray(mesh.vertices, dtype=np.float64), f, sdf, rounds=RELAX_ROUNDS)
    return f, v.astype(np.float32)


RELAX_ROUNDS = 6
"""Rounds of tangential relaxation of the template mesh (marching cubes and the region cut leave needles and
slivers: triangles whose normal a sub-millimetre error turns over)."""


def _boundary_vertices(faces: np.ndarray, n: int) -> np.ndarray:
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    out = np.zeros(n, dtype=bool)
    out[unique[counts == 1].ravel()] = True
    return out


def _adjacency(faces: np.ndarray, n: int) -> sparse.csr_matrix:
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    return sparse.coo_matrix((np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]],
                                                        np.r_[edges[:, 1], edges[:, 0]])), shape=(n, n)).tocsr()


def _face_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)


def _relax(v: np.ndarray, f: np.ndarray, sdf, rounds: int, amount: float = 0.5) -> np.ndarray:
    """Tangential Laplacian relaxation, each round projected back onto T = 0 by a Newton step along the
    gradient: rounder triangles on the same surface. Interior vertices move towards their neighbours' mean,
    boundary vertices along the boundary (towards the mean of their two boundary neighbours), so the slivers
    the region cut leaves beside the boundary open up too. A move that would leave one of the vertex's
    triangles facing more than 70 degrees away from the SDF gradient is not made. ``sdf``: a
    ``_TemplateSDF`` or anything with ``value_and_grad(points) -> (values, gradients)``."""
    n = len(v)
    adj = _adjacency(f, n)
    degree = np.maximum(np.asarray(adj.sum(axis=1)).ravel(), 1)
    boundary = _boundary_vertices(f, n)
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key, counts = np.unique(np.sort(edges, axis=1), axis=0, return_counts=True)
    rim = key[counts == 1]
    rim_adj = sparse.coo_matrix((np.ones(2 * len(rim)), (np.r_[rim[:, 0], rim[:, 1]], np.r_[rim[:, 1], rim[:, 0]])),
                                shape=(n, n)).tocsr()
    rim_degree = np.asarray(rim_adj.sum(axis=1)).ravel()
    slides = boundary & (rim_degree == 2)  # a plain boundary vertex (not where two boundary loops touch)
    v = v.copy()
    for _ in range(rounds):
        normals = np.asarray(trimesh.Trimesh(v, f, process=False).vertex_normals)
        lap = adj @ v / degree[:, None] - v
        rim_lap = rim_adj @ v / np.maximum(rim_degree, 1)[:, None] - v
        lap[boundary] = 0.0  # corners of the boundary stay where they are (projected only)
        lap[slides] = rim_lap[slides]
        lap -= np.einsum("ij,ij->i", lap, normals)[:, None] * normals
        moved = v + amount * lap
        s, g = sdf.value_and_grad(moved)
        moved = moved - (s / np.maximum(np.einsum("ij,ij->i", g, g), 1e-12))[:, None] * g
        g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        move = np.ones(n, dtype=bool)
        for _ in range(10):
            trial = np.where(move[:, None], moved, v)
            facing = g[f].mean(axis=1)
            off = np.einsum("ij,ij->i", _face_normals(trial, f), facing) < 0.34 * np.linalg.norm(facing, axis=1)
            off &= move[f].any(axis=1)
            if not off.any():
                break
            move[f[off].ravel()] = False
        v = np.where(move[:, None], moved, v)
    return v


def _carry_to_mean_face(model, faces: np.ndarray, targets: np.ndarray, cancel) -> np.ndarray:
    """Positions on the mean face's coarse surface whose template coordinates are ``targets`` (from x = t)."""
    face = FaceField(model, model.mean_codes(), detail=False)
    x, residual = _invert_warp(face, targets, targets, MEAN_FACE_ITERATIONS, cancel=cancel)
    x = _fill(x, targets, residual > FILL_RESIDUAL, faces)
    return _onto_coarse_surface(face, x, cancel)[0]


# -- carrying ----------------------------------------------------------------------------------------------------
MEAN_FACE_ITERATIONS = 24
"""Warp inversions from x = t to the mean face (once per template mesh)."""
FILL_RESIDUAL = 5e-4
"""Vertices whose warp inversion ends farther than this (0.05 mm) from their target are not trusted: their
move is interpolated from their neighbours' (``_fill``) and they are counted in the diagnostics."""


def _invert_warp(face: FaceField, targets: np.ndarray, start: np.ndarray, iterations: int, tol: float = 1e-5,
                 cancel: CancelToken | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Points x with x_t(x) = targets: the fixed-point iteration x <- x - step (x_t(x) - t) of
    ``TemplateDeformer``, each step checked (a vertex whose residual grows keeps its position and halves its
    step), iterating only the vertices not yet within ``tol`` (1e-5 = 0.001 mm). Returns (x, |residual| (V,)).

    (A Newton step with a finite-difference Jacobian of the warp converged worse than this on the shipped
    model: the warps are sums of sines and their local slope is a poor guide a millimetre away.)"""
    chunk = DEFAULT_CHUNK * 2
    x = np.array(start, dtype=np.float32, copy=True)
    r = evaluate_in_chunks(face.warp, x, chunk, cancel).reshape(-1, 3) - targets
    rn = np.linalg.norm(r, axis=1)
    step = np.ones(len(x), dtype=np.float32)
    for _ in range(iterations):
        active = np.flatnonzero((rn > tol) & (step > 1.0 / 64))
        if len(active) == 0:
            break
        x_new = x[active] - step[active, None] * r[active]
        r_new = evaluate_in_chunks(face.warp, x_new, chunk, cancel).reshape(-1, 3) - targets[active]
        rn_new = np.linalg.norm(r_new, axis=1)
        better = rn_new < rn[active]
        keep = active[better]
        x[keep], r[keep], rn[keep] = x_new[better], r_new[better], rn_new[better]
        step[active] = np.where(better, np.minimum(1.0, 2.0 * step[active]), 0.5 * step[active])
    return x, rn


def _fill(x: np.ndarray, reference: np.ndarray, bad: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``x`` with the moves (x - reference) of the ``bad`` vertices replaced by the harmonic interpolation of
    their neighbours' moves (a smooth patch instead of vertices stuck where the warp folds)."""
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return x
    n = len(x)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    adj = sparse.coo_matrix((np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]],
                                                      np.r_[edges[:, 1], edges[:, 0]])), shape=(n, n)).tocsr()
    move = (np.asarray(x, dtype=np.float64) - reference).copy()
    move[bad] = 0.0
    idx = np.flatnonzero(bad)
    sub = adj[idx][:, idx]
    degree = np.asarray(adj[idx].sum(axis=1)).ravel()
    rhs = adj[idx] @ move  # known neighbours' moves (bad ones are 0 here)
    system = (sparse.diags(degree) - sub).tocsc()
    from scipy.sparse.linalg import spsolve

    try:
        solved = spsolve(system, rhs)
    except RuntimeError:
        solved = np.zeros((len(idx), 3))
    solved = np.asarray(solved).reshape(len(idx), 3)
    solved[~np.isfinite(solved).all(axis=1)] = 0.0  # a patch with no trusted neighbour keeps its reference move
    out = np.array(x, dtype=np.float32, copy=True)
    out[idx] = (reference[idx] + solved).astype(np.float32)
    return out


def _onto_coarse_surface(face: FaceField, x: np.ndarray, cancel, steps: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps x <- x - s(x) g / |g|^2 along the coarse SDF's gradient g onto its zero set; returns
    (x, the unit gradient at the last evaluated points: the normal the refinement displaces along)."""
    def sdf_and_gradient(points: np.ndarray) -> np.ndarray:
        value, grad = face.coarse_gradient(points)
        return np.concatenate([value[:, None], grad], axis=1)

    n = None
    for _ in range(steps):
        out = evaluate_in_chunks(sdf_and_gradient, x, DEFAULT_CHUNK, cancel).reshape(-1, 4)
        s, g = out[:, 0], out[:, 1:4]
        g2 = np.maximum(np.einsum("ij,ij->i", g, g), 1e-12)
        x = (x - (s / g2)[:, None] * g).astype(np.float32)
        n = (g / np.sqrt(g2)[:, None]).astype(np.float32)
    return x, n


def carry_template(model, codes, topology: TemplateTopology, detail: bool = True, detail_scale: float = 1.0,
                   iterations: int = 12, fine_correction: bool = True,
                   cancel: CancelToken | None = None) -> tuple[np.ndarray, dict]:
    """Vertex positions (V, 3) of ``topology`` carried onto the face of ``codes``, and diagnostics.

    ``iterations``: warp inversions (one warp evaluation per vertex each, stopped at 1e-5 = 0.001 mm).
    ``fine_correction``: one Newton step on the fine SDF itself after the displacement (one fine evaluation
    per vertex, about 2/3 of the cost; its values give ``sdf_abs_*`` in the diagnostics).
    """
    face = FaceField(model, codes, detail=detail, detail_scale=detail_scale)
    chunk = DEFAULT_CHUNK * 2
    x, residual = _invert_warp(face, topology.targets, topology.start, iterations, cancel=cancel)
    bad = residual > FILL_RESIDUAL
    x = _fill(x, topology.start, bad, topology.faces)
    # onto the coarse zero set (the identity's correction delta moves it off x_t = t); patches of triangles a
    # move along the normals would turn over move rigidly instead (``displacement.keep_orientation``)
    inverted = x
    x, n = _onto_coarse_surface(face, x, cancel)
    x = keep_orientation(inverted, x, topology.faces)
    info = {"warp_residual_median_mm": float(100.0 * np.median(residual)),
            "warp_residual_p99_mm": float(100.0 * np.percentile(residual, 99)) if len(residual) else 0.0,
            "filled_vertices": int(bad.sum())}
    if face.detail:
        coarse = x
        a = evaluate_in_chunks(lambda p: face.detail_amplitude(p)[0], x, chunk, cancel)
        t = solve_offset(a, float(model.net.cfg.detail_fade))
        x = x - t[:, None] * n
        if fine_correction:
            s = evaluate_in_chunks(face.fine_sdf, x, chunk, cancel)
            x = x - s[:, None] * n
            info["sdf_abs_median_mm_before_correction"] = float(100.0 * np.median(np.abs(s)))
        x = keep_orientation(coarse, x, topology.faces)
    return x.astype(np.float32), info


def turned_triangles(topology: TemplateTopology, vertices: np.ndarray) -> np.ndarray:
    """(F,) bool: triangles whose normal points against their template-space normal (turned over)."""
    t, f = topology.targets, topology.faces
    n0 = np.cross(t[f[:, 1]] - t[f[:, 0]], t[f[:, 2]] - t[f[:, 0]])
    n1 = np.cross(vertices[f[:, 1]] - vertices[f[:, 0]], vertices[f[:, 2]] - vertices[f[:, 0]])
    return np.einsum("ij,ij->i", n0, n1) <= 0


def template_face_mesh(model, codes, resolution: int | None = None, detail: bool = True,
                       detail_scale: float = 1.0, colors: str | None = None, crop: bool = True,
                       cancel: CancelToken | None = None, **carry_options) -> trimesh.Trimesh:
    """The face of ``codes`` in the template topology (normalised units; see the module doc).

    ``resolution``: of the template mesh (default ``TEMPLATE_RESOLUTION``). ``colors="correspondence"``:
    vertex RGB from the targets (the same colours on every face). ``crop``: cut to the face region (models
    without a region carry the whole template surface in the box).
    """
    from imface_core.engine.face_mesh import COLOR_MODES

    if colors not in COLOR_MODES:
        raise ValueError(f"colors must be one of {COLOR_MODES[1:]}, got {colors!r}")
    codes = model.check_codes(codes)
    resolution = check_mesh_resolution(TEMPLATE_RESOLUTION if resolution is None else resolution)
    topology = template_topology(model, resolution, crop, cancel)
    vertices, info = carry_template(model, codes, topology, detail=detail, detail_scale=detail_scale,
                                    cancel=cancel, **carry_options)
    mesh = trimesh.Trimesh(vertices, topology.faces, process=False)
    if colors == "correspondence":
        mesh.visual.vertex_colors = correspondence_colors(topology.targets)
    info.update(fingerprint=topology.fingerprint, resolution=topology.resolution, cropped=topology.cropped,
                turned_triangles=int(turned_triangles(topology, vertices).sum()))
    mesh.metadata["template_topology"] = info
    return mesh
