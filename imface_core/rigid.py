"""Rigid (and similarity) alignment of point sets: least squares from pairs (Umeyama) and trimmed ICP.

The one ICP of the package: the fit aligns its mean face to a scan with it (``fitting.align``) and the
reconstruction metrics align a reconstruction to its ground truth (``metrics.chamfer_fscore``). Millimetres.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["SCORE_CAP_MM", "icp", "point_to_plane_step", "similarity_fit"]

SCORE_CAP_MM = 10.0
"""Distances count at most this much in an ICP's score (a point with no partner is not worse than far)."""


def similarity_fit(src: np.ndarray, dst: np.ndarray, allow_scale: bool = False) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares (s, R, t) with dst ~ s R src + t (Umeyama)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2] = -1.0
    rot = u @ np.diag(d) @ vt
    s = float((sig * d).sum() / (a**2).sum() * len(src)) if allow_scale else 1.0
    if allow_scale:
        s = float(np.clip(s, 0.5, 2.0))
    return s, rot, mu_d - s * rot @ mu_s


def icp(ref_pts, ref_n, tree, scan_n, s, rot, t, iterations, trim, allow_scale, point_to_plane=False,
        max_dist=np.inf, min_pairs=10, tol=None):
    """Trimmed ICP moving ``ref_pts`` (normals ``ref_n`` or None) from the pose (s, R, t) onto the points of
    ``tree`` (a ``cKDTree``; their normals ``scan_n`` or None): returns (s, R, t, truncated mean distance).

    Pairs farther than ``max_dist`` (mm) or with opposite normals are dropped, then the closest ``trim``
    share is kept. The returned score is the mean of min(distance, 10 mm) over all reference points. Fewer
    than ``min_pairs`` pairs stop it (score 10 mm); with ``tol`` it also stops once the score improves by less.
    """
    score = prev = np.inf
    for _ in range(iterations):
        moved = s * ref_pts @ rot.T + t
        dist, idx = tree.query(moved, k=1, distance_upper_bound=max_dist)
        good = np.isfinite(dist)
        if scan_n is not None:
            # Normals that disagree are not the same surface (front vs back of a thin shell).
            good[good] &= (ref_n[good] @ rot.T * scan_n[idx[good]]).sum(1) > 0.0
        score = float(np.minimum(np.where(good, dist, np.inf), SCORE_CAP_MM).mean())
        if good.sum() < min_pairs:
            return s, rot, t, SCORE_CAP_MM
        if tol is not None and prev - score < tol:
            break
        prev = score
        cut = np.partition(dist[good], int(trim * (good.sum() - 1)))[int(trim * (good.sum() - 1))]
        use = good & (dist <= cut)
        target = tree.data[idx[use]]
        if point_to_plane and scan_n is not None and not allow_scale:
            rot, t = point_to_plane_step(moved[use], target, scan_n[idx[use]], rot, t)
        else:
            s, rot, t = similarity_fit(ref_pts[use], target, allow_scale)
    return s, rot, t, score


def point_to_plane_step(moved, target, normals, rot, t):
    """One linearised point-to-plane step, composed onto (rot, t)."""
    a = np.concatenate([np.cross(moved, normals), normals], axis=1)
    b = ((target - moved) * normals).sum(1)
    x, *_ = np.linalg.lstsq(a, b, rcond=None)
    d_rot = Rotation.from_rotvec(x[:3]).as_matrix()
    return d_rot @ rot, d_rot @ t + x[3:]
