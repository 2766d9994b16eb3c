"""Reconstruction metrics of method.md §8: Chamfer distance (mm) and F-score at 1 mm.

Sample ``n_samples`` points on each mesh (area-uniform), rigidly align the
reconstruction to the ground truth with ICP, then

* Chamfer = ½ (mean NN distance GT→rec + mean NN distance rec→GT), L1 distances (not squared);
* F-score@τ = 2PR / (P + R) × 100, P = share of rec points within τ of GT, R = share of GT points within τ of rec.

Inputs are in millimetres. Meshes are ``(vertices, faces)`` tuples or anything
with ``.vertices`` and ``.faces``; an (N, 3) array is taken as a point set.

The package's one Chamfer: ``to_surface=True`` measures to the other mesh's triangles instead of its
samples, which ``chamfer_mm`` (two meshes in normalised units, the engine's accuracy checks) uses.
The ICP is ``imface_core.rigid.icp``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial import cKDTree

from imface_core.data.normalize import SCALE_MM
from imface_core.rigid import icp

N_SAMPLES = 150_000
F_THRESHOLD_MM = 1.0
FAR_MM = 20.0
"""Nearest-neighbour distances beyond this come from a 10k-point subsample (an over-estimate by at most its
spacing, ~2 mm on a face): far queries on a 150k-point KD-tree are slow, and a point 20 mm off is a failure
whichever way it is counted."""
ICP_POINTS = 5_000
"""Reconstruction points the ICP aligns on (a random subset)."""


@dataclass(frozen=True)
class SurfaceMetrics:
    chamfer_mm: float
    fscore: float
    """F-score at ``threshold_mm``, x100."""
    precision: float
    recall: float
    accuracy_mm: float
    """Mean distance rec -> GT."""
    completeness_mm: float
    """Mean distance GT -> rec."""
    threshold_mm: float
    icp_shift_mm: float
    """Mean displacement ICP applied to the reconstruction's points."""

    def as_dict(self) -> dict:
        return asdict(self)


def sample_points(mesh, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` area-uniform points on a mesh (or a random subset / resampling of a point set)."""
    if isinstance(mesh, np.ndarray):
        pts = np.asarray(mesh, dtype=np.float64)
        return pts[rng.choice(len(pts), count, replace=len(pts) < count)]
    vertices, faces = (mesh.vertices, mesh.faces) if hasattr(mesh, "faces") else mesh
    vertices, faces = np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    if len(faces) == 0:
        raise ValueError("cannot sample a mesh without faces")
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not area.sum() > 0:
        raise ValueError("cannot sample a mesh of zero area")
    face = rng.choice(len(faces), count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[face]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])


def _nn_distance(tree: cKDTree, tree_points: np.ndarray, query: np.ndarray, rng) -> np.ndarray:
    """Distance of each query point to its nearest tree point (see ``FAR_MM`` for far ones).

    A 10k-point subsample answers first (quickly); only points it finds within ``FAR_MM`` ask the full tree.
    """
    coarse = tree_points[rng.choice(len(tree_points), min(10_000, len(tree_points)), replace=False)]
    d = cKDTree(coarse).query(query, k=1, workers=-1)[0]  # every core; the same distances
    near = d <= FAR_MM
    if near.any():
        d[near] = tree.query(query[near], k=1, workers=-1)[0]
    return d


def chamfer_fscore(reconstruction, ground_truth, n_samples: int = N_SAMPLES, threshold_mm: float = F_THRESHOLD_MM,
                   align: bool = True, seed: int = 0, to_surface: bool = False) -> SurfaceMetrics:
    """Chamfer (mm) and F-score@``threshold_mm`` between two surfaces in millimetres (method.md §8).

    ``to_surface``: distances from each mesh's samples to the other mesh's triangles (exact, for two meshes)
    instead of to the other's samples (method.md's protocol, biased up by the sample spacing).
    """
    rng = np.random.default_rng(seed)
    rec = sample_points(reconstruction, n_samples, rng)
    gt = sample_points(ground_truth, n_samples, rng)
    gt_tree = cKDTree(gt)
    shift = 0.0
    if align:
        src = rec if len(rec) <= ICP_POINTS else rec[rng.choice(len(rec), ICP_POINTS, replace=False)]
        _, rot, t, _ = icp(src, None, gt_tree, None, 1.0, np.eye(3), np.zeros(3), 30, 0.9, False, max_dist=FAR_MM,
                           min_pairs=100, tol=1e-6)
        moved = rec @ rot.T + t
        shift = float(np.linalg.norm(moved - rec, axis=1).mean())
        rec = moved
    if to_surface:
        d_rec = surface_distance(rec, ground_truth)
        d_gt = surface_distance(gt, _moved(reconstruction, rot, t) if align else reconstruction)
    else:
        d_rec = _nn_distance(gt_tree, gt, rec, rng)
        d_gt = _nn_distance(cKDTree(rec), rec, gt, rng)
    precision = float((d_rec < threshold_mm).mean())
    recall = float((d_gt < threshold_mm).mean())
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return SurfaceMetrics(
        chamfer_mm=float(0.5 * (d_rec.mean() + d_gt.mean())),
        fscore=100.0 * f,
        precision=precision,
        recall=recall,
        accuracy_mm=float(d_rec.mean()),
        completeness_mm=float(d_gt.mean()),
        threshold_mm=threshold_mm,
        icp_shift_mm=shift,
    )


def chamfer_mm(a, b, samples: int = 50_000, seed: int = 0) -> float:
    """Symmetric point-to-surface Chamfer (mm) between two meshes in the model's normalised units (1 = 100 mm),
    without alignment: how far apart two extractions of one face are."""
    def mm(mesh):
        return np.asarray(mesh.vertices, dtype=np.float64) * SCALE_MM, np.asarray(mesh.faces, dtype=np.int64)

    if len(a.faces) == 0 or len(b.faces) == 0:
        return float("inf")
    return chamfer_fscore(mm(a), mm(b), samples, align=False, seed=seed, to_surface=True).chamfer_mm


def _moved(mesh, rot: np.ndarray, t: np.ndarray):
    vertices, faces = (mesh.vertices, mesh.faces) if hasattr(mesh, "faces") else mesh
    return np.asarray(vertices, dtype=np.float64) @ rot.T + t, faces


def surface_distance(points: np.ndarray, mesh, k: int = 6, chunk: int = 4096) -> np.ndarray:
    """(P,) distance from each point to the surface of ``mesh`` (a trimesh or a (vertices, faces) pair).

    Candidate triangles are those around the k nearest vertices (exact for meshes whose triangles are small
    compared with the distances involved, as marching-cubes meshes are).
    """
    import trimesh

    if not isinstance(mesh, trimesh.Trimesh):
        vertices, faces = (mesh.vertices, mesh.faces) if hasattr(mesh, "faces") else mesh
        mesh = trimesh.Trimesh(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64), process=False)
    pts = np.asarray(points, dtype=np.float64)
    if len(mesh.faces) == 0:
        return np.full(len(pts), np.inf)
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    tree = cKDTree(verts)
    k = min(k, len(verts))
    vertex_faces = mesh.vertex_faces  # (V, max degree), padded with -1
    out = np.empty(len(pts))
    for s in range(0, len(pts), chunk):
        p = pts[s : s + chunk]
        _, vi = tree.query(p, k=k)
        cand = vertex_faces[np.asarray(vi).reshape(len(p), -1)].reshape(len(p), -1)
        valid = cand >= 0
        cand = np.where(valid, cand, 0)  # padding: any face; masked out below
        tri = verts[faces[cand]]  # (n, C, 3, 3)
        q = np.repeat(p, cand.shape[1], axis=0)
        closest = trimesh.triangles.closest_point(tri.reshape(-1, 3, 3), q)
        d = np.linalg.norm(closest - q, axis=1).reshape(len(p), -1)
        out[s : s + chunk] = np.where(valid, d, np.inf).min(axis=1)
    return out

