"""Bring a scan into the model's normalised frame (method.md §4): nose tip at (0, 0, 0.4), +z to the viewer.

Training scans were normalised by a translation from their nose-tip landmark
(they were already posed). A user's scan is in any position and orientation,
so it is aligned rigidly to the model's own mean face:

* with landmarks: a rigid Procrustes of the scan's 5 landmarks (eye corners,
  nose tip, mouth corners) onto the mean face's, then ICP;
* without: trimmed ICP of the mean face onto the scan from many starts: the
  scan's most protruding points are nose-tip candidates, and each is tried
  with rotations that turn its normal towards the viewer (rolls every 30
  degrees, three tilts). The mean face is a frontal patch, so it is matched
  *into* the scan, which may also hold hair, neck, shoulders or the back of
  the head.

The result says how well the mean face fits; a poor fit (no face found) is a
``ScanError``, not a silent garbage alignment.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from imface_core.data.normalize import NOSE_OFFSET_MM, SCALE_MM
from imface_core.rigid import SCORE_CAP_MM, icp, similarity_fit
from imface_core.settings import AlignSettings
from imface_core.fitting.scan_io import (Scan, ScanError, check_landmark_spread, five_landmarks, robust_extent,
                                         units_hint)

logger = logging.getLogger(__name__)

REFERENCE_RADIUS = 0.8
"""Reference patch: mean-face surface within this distance (normalised units) of the nose tip."""
NOSE_TIP = np.array([0.0, 0.0, NOSE_OFFSET_MM / SCALE_MM])


@dataclass
class Alignment:
    """A similarity ``x_norm = scale * rotation @ x_mm + translation``, then / 100 (normalised units).

    ``rotation`` (3, 3), ``translation`` (3,) in mm; ``scale`` 1 for a rigid alignment.
    """

    rotation: np.ndarray
    translation: np.ndarray
    scale: float = 1.0
    method: str = "icp"
    inlier_fraction: float = float("nan")
    """Share of the mean face within ``inlier_mm`` of the scan."""
    residual_mm: float = float("nan")
    """Mean distance of the matched (trimmed) mean-face points to the scan."""
    nose_mm: float = float("nan")
    """Median distance of the mean face's nose region to the scan."""
    info: dict = field(default_factory=dict)

    @property
    def matrix(self) -> np.ndarray:
        """4x4 homogeneous: scan millimetres -> normalised units."""
        m = np.eye(4)
        m[:3, :3] = self.scale * self.rotation / SCALE_MM
        m[:3, 3] = self.translation / SCALE_MM
        return m

    def to_normalised(self, points_mm: np.ndarray) -> np.ndarray:
        return (self.scale * np.asarray(points_mm, dtype=np.float64) @ self.rotation.T + self.translation) / SCALE_MM

    def to_scan(self, points: np.ndarray) -> np.ndarray:
        """Normalised units -> the scan's own frame, millimetres."""
        p = np.asarray(points, dtype=np.float64) * SCALE_MM - self.translation
        return (p @ self.rotation) / self.scale

    def then(self, pose: np.ndarray) -> "Alignment":
        """This alignment followed by a rigid ``pose`` (4x4, normalised units), as one Alignment."""
        r, t = pose[:3, :3], pose[:3, 3]
        info = {**self.info, "pose_refinement_mm": float(np.linalg.norm(t) * SCALE_MM),
                "pose_refinement_deg": float(np.degrees(Rotation.from_matrix(r).magnitude()))}
        return Alignment(r @ self.rotation, r @ self.translation + t * SCALE_MM, self.scale, self.method,
                         self.inlier_fraction, self.residual_mm, self.nose_mm, info)

    def as_dict(self) -> dict:
        return {
            "matrix_scan_mm_to_normalised": self.matrix.tolist(),
            "method": self.method,
            "scale": self.scale,
            "inlier_fraction": self.inlier_fraction,
            "residual_mm": self.residual_mm,
            "nose_mm": self.nose_mm,
            **self.info,
        }


@dataclass(frozen=True)
class ReferenceFace:
    """The model's mean face as an oriented point set (normalised units), and its 5 landmarks."""

    points: np.ndarray
    normals: np.ndarray
    landmarks5: np.ndarray
    stored: bool = False
    """Read from the disk cache (``reference_cache``) rather than computed in this process."""


_REFERENCE_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def reference_face(model, resolution: int = 96) -> ReferenceFace:
    """The mean-codes surface seen from +z, within ``REFERENCE_RADIUS`` of the nose tip (cached per model, and on
    disk per model file: ``reference_cache``)."""
    cached = _REFERENCE_CACHE.get(model)
    if cached is not None:
        return cached
    from imface_core.fitting.reference_cache import load_reference, save_reference

    stored = load_reference(model, resolution)
    if stored is not None:
        ref = ReferenceFace(stored["points"], stored["normals"], stored["landmarks5"], stored=True)
        _REFERENCE_CACHE[model] = ref
        return ref
    import torch
    import trimesh

    from imface_core.data.height_field import visible_points
    from imface_core.engine.cleanup import largest_piece
    from imface_core.fitting.mesh import extract_mesh

    codes = model.mean_codes()
    verts, faces = extract_mesh(model, codes, resolution=resolution, detail=False)
    tm = trimesh.Trimesh(verts, faces, process=False)
    normals = np.asarray(tm.vertex_normals)
    keep = (np.linalg.norm(verts - NOSE_TIP, axis=1) < REFERENCE_RADIUS) & (normals[:, 2] > 0.0)
    keep &= visible_points(verts, faces, normals)
    face_keep = keep[faces].all(axis=1)
    v, f = largest_piece(verts, faces[face_keep])
    tm = trimesh.Trimesh(v, f, process=False)
    # Even spacing for ICP: area-weighted samples rather than marching-cubes vertices.
    rng = np.random.default_rng(0)
    from imface_core.data.sampling import sample_surface

    pts, nrm = sample_surface(v, f, 20_000, rng)
    with torch.no_grad():
        cz = [torch.as_tensor(np.asarray(c, dtype=np.float32))[None] for c in (codes.z_id, codes.z_exp)]
        l_exp, _ = model.net.predict_landmarks(*[c.to(model.device) for c in cz])
    ref = ReferenceFace(np.asarray(pts, dtype=np.float64), np.asarray(nrm, dtype=np.float64),
                        l_exp[0].cpu().numpy().astype(np.float64))
    save_reference(model, resolution, ref.points, ref.normals, ref.landmarks5)
    _REFERENCE_CACHE[model] = ref
    return ref


# ----------------------------------------------------------------------------------------------- maths


def _frame_from_normal(n: np.ndarray) -> np.ndarray:
    """A rotation whose third row is ``n``: maps the scan so that ``n`` points to +z."""
    n = n / np.linalg.norm(n)
    helper = np.array([0.0, 1.0, 0.0]) if abs(n[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, n)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(n, x), n])


def _start_rotations(orientation: str, tip_normal: np.ndarray) -> list[np.ndarray]:
    """Rotations taking the scan's frame to the canonical one (x right, y up, z to the viewer).

    ``any``: the tip's normal to about +z (tilted by 0 or +-25 degrees, the nose points a little down),
    then every roll about the view axis in 30-degree steps; ICP's reach (~40 degrees from the right
    nose tip) covers the gaps. ``frontal``: yaws and pitches around the scan's own upright frame.
    """
    if orientation == "frontal":
        return [Rotation.from_euler("yx", [y, p], degrees=True).as_matrix()
                for p in (-25, 0, 25) for y in (-50, -25, 0, 25, 50)]
    if orientation != "any":
        raise ValueError(f"orientation must be `any` or `frontal`, got `{orientation}`")
    base = _frame_from_normal(tip_normal)
    out = []
    for tilt in (-25, 0, 25):
        t = Rotation.from_euler("x", tilt, degrees=True).as_matrix()
        for roll in range(0, 360, 30):
            out.append(t @ Rotation.from_euler("z", roll, degrees=True).as_matrix() @ base)
    return out


def nose_candidates(points: np.ndarray, normals: np.ndarray | None, count: int = 5,
                    radius: float = 30.0, rng: np.random.Generator | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Points that stick out most from their surroundings (the nose tip is the strongest on a face), with
    their smoothed outward normals: [(point, normal)], strongest first, at least 40 mm apart.

    Protrusion of p = mean over the scan points q within ``radius`` of (p - q) . n_p. Point clouds get
    PCA normals turned away from the centroid.
    """
    rng = rng or np.random.default_rng(0)
    # A 4 mm voxel grid makes the neighbourhoods the same size whatever the scan's density.
    _, first = np.unique(np.floor(points / 4.0).astype(np.int64), axis=0, return_index=True)
    sparse = np.sort(first)
    sparse_tree = cKDTree(points[sparse])
    probe = sparse if len(sparse) <= 4000 else rng.choice(sparse, 4000, replace=False)
    centroid = points.mean(axis=0)
    scores, nrm = np.full(len(probe), -np.inf), np.zeros((len(probe), 3))
    for k, (i, nb) in enumerate(zip(probe, sparse_tree.query_ball_point(points[probe], radius))):
        if len(nb) < 10:
            continue
        nb = sparse[np.asarray(nb)]
        q = points[nb]
        if normals is None:
            w, v = np.linalg.eigh(np.cov((q - q.mean(0)).T))
            n = v[:, 0] * np.sign(v[:, 0] @ (points[i] - centroid) or 1.0)
        else:
            near = np.linalg.norm(q - points[i], axis=1) < radius / 2
            n = normals[nb[near]].mean(0)
        n = n / (np.linalg.norm(n) + 1e-12)
        nrm[k] = n
        scores[k] = float(((points[i] - q) @ n).mean())
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for k in np.argsort(-scores):
        if not np.isfinite(scores[k]):
            break
        p = points[probe[k]]
        if all(np.linalg.norm(p - c) > 40.0 for c, _ in out):
            out.append((p, nrm[k]))
            if len(out) == count:
                break
    return out


# ----------------------------------------------------------------------------------------------- public


def scan_surface_samples(scan: Scan, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Evenly spread points on the scan (mm) and their normals (None for a point cloud)."""
    if scan.faces is None:
        pts = scan.vertices
        if len(pts) > count:
            pts = pts[rng.choice(len(pts), count, replace=False)]
        return pts, None
    from imface_core.data.sampling import sample_surface

    return sample_surface(scan.vertices, scan.faces, count, rng)


def align_scan(model, scan: Scan, settings: AlignSettings = AlignSettings()) -> Alignment:
    """Rigid (or similarity) alignment of ``scan`` into the model's normalised frame.

    Uses the scan's landmarks when it has them (then ICP). Without, for each nose-tip candidate
    (``nose_candidates``, strongest first): 36 start rotations around its normal, a short ICP from
    each, a finer ICP for the best few, a full ICP for those (point-to-point until it converges, then
    point-to-plane); it stops at the first candidate that gives a confident face alignment, else keeps the
    best over all candidates. Raises ``ScanError`` when the best alignment leaves the mean face far from the
    scan (not a face, or not in millimetres).
    """
    rng = np.random.default_rng(settings.seed)
    ref = reference_face(model)
    ref_mm = ref.points * SCALE_MM
    scan_pts, scan_n = scan_surface_samples(scan, 60_000, rng)
    tree = cKDTree(scan_pts)
    sub = rng.choice(len(ref_mm), min(settings.reference_points, len(ref_mm)), replace=False)
    r_pts, r_n = ref_mm[sub], ref.normals[sub]

    def finish(s, rot, t):
        s, rot, t, _ = icp(r_pts, r_n, tree, scan_n, s, rot, t, settings.fine_iterations, settings.trim,
                            settings.allow_scale, tol=settings.converged_mm)
        s, rot, t, _ = icp(r_pts, r_n, tree, scan_n, s, rot, t, 8, settings.trim, settings.allow_scale,
                            point_to_plane=True)
        return _quality(ref_mm, ref.normals, tree, scan_n, s, rot, t, settings), s, rot, t

    if scan.landmarks is not None:
        check_landmark_spread(scan, ref.landmarks5 * SCALE_MM)
        lm = five_landmarks(scan.landmarks)
        best = finish(*similarity_fit(ref.landmarks5 * SCALE_MM, lm, settings.allow_scale))
        method, n_starts = "landmarks+icp", 1
    else:
        method, n_starts, best = "icp", 0, None
        small = rng.choice(len(scan_pts), min(15_000, len(scan_pts)), replace=False)
        small_tree = cKDTree(scan_pts[small])
        small_n = None if scan_n is None else scan_n[small]
        few = rng.choice(len(r_pts), min(250, len(r_pts)), replace=False)
        mid = rng.choice(len(r_pts), min(800, len(r_pts)), replace=False)
        # Nose-tip candidates, strongest first; stop early once one gives an unambiguous face.
        for tip, normal in nose_candidates(scan_pts[small], small_n, rng=rng):
            scored = []
            for r0 in _start_rotations(settings.orientation, normal):
                rot = r0.T  # r0 maps scan -> canonical; the reference goes the other way
                res = icp(r_pts[few], r_n[few], small_tree, small_n, 1.0, rot, tip - rot @ (NOSE_TIP * SCALE_MM),
                           2, settings.trim, settings.allow_scale, max_dist=60.0)
                res = icp(r_pts[few], r_n[few], small_tree, small_n, *res[:3], settings.coarse_iterations,
                           settings.trim, settings.allow_scale, point_to_plane=True, max_dist=60.0)
                scored.append(res)
            n_starts += len(scored)
            scored.sort(key=lambda r: r[3])
            refined = [icp(r_pts[mid], r_n[mid], tree, scan_n, s, rot, t, 15, settings.trim, settings.allow_scale,
                            point_to_plane=True, max_dist=40.0) for s, rot, t, _ in scored[: settings.keep_starts]]
            # Near-equal starts can end in different minima (a few degrees of roll apart on a smooth face):
            # finish each and keep the one whose whole mean face lies closest to the scan.
            for cand in (finish(*r[:3]) for r in refined):
                if best is None or cand[0][3] < best[0][3]:
                    best = cand
            inliers, _, nose, _ = best[0]
            if inliers >= settings.confident_inliers and nose <= settings.confident_nose_mm:
                break
    (inliers, residual, nose, _), s, rot, t = best
    # ref -> scan is y = s R x + t, so scan -> ref is x = R^T (y - t) / s.
    rot_inv = rot.T
    alignment = Alignment(rot_inv, -rot_inv @ t / s, 1.0 / s, method, inliers, residual, nose,
                          {"starts": n_starts, "reference": "stored" if ref.stored else "computed"})
    logger.debug("alignment %s: inliers %.2f, residual %.2f mm, nose %.2f mm", method, inliers, residual, nose)
    least = settings.min_inlier_fraction if scan.landmarks is None else settings.min_inlier_fraction_landmarks
    if inliers < least or nose > settings.max_nose_mm:
        extent = robust_extent(scan.vertices) / scan.mm_per_unit
        raise ScanError(
            f"`{scan.source}` does not look like a face with its units taken as {scan.units} "
            f"({extent * scan.mm_per_unit:.0f} mm across): after the best alignment only "
            f"{100 * inliers:.0f}% of the mean face lies within {settings.inlier_mm:g} mm of the scan "
            f"(need {100 * least:.0f}%) and its nose is {nose:.1f} mm away "
            f"(need < {settings.max_nose_mm:g} mm). Check the file and --units{units_hint(extent, scan.units)}"
            + (", or give --landmarks." if scan.landmarks is None else ", and that the landmarks are this scan's.")
        )
    return alignment


def _quality(ref_mm, ref_n, tree, scan_n, s, rot, t, settings) -> tuple[float, float, float, float]:
    """(inlier fraction, trimmed mean distance mm, median nose-region distance mm, capped mean mm)."""
    moved = s * ref_mm @ rot.T + t
    dist, idx = tree.query(moved, k=1)
    if scan_n is not None:
        dist = np.where((ref_n @ rot.T * scan_n[idx]).sum(1) > 0.0, dist, np.inf)
    inliers = float((dist < settings.inlier_mm).mean())
    finite = np.sort(dist[np.isfinite(dist)])
    residual = float(finite[: max(1, int(settings.trim * len(dist)))].mean()) if len(finite) else np.inf
    nose_region = np.linalg.norm(ref_mm - NOSE_TIP * SCALE_MM, axis=1) < 20.0
    nose = float(np.median(dist[nose_region])) if nose_region.any() else np.inf
    return inliers, residual, nose, float(np.minimum(dist, SCORE_CAP_MM).mean())
