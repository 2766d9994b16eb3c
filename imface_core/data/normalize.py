"""Bring a face scan into ImFace's normalised frame (method.md §4, step 1).

Nose tip to the origin, +40 mm in z, keep what lies inside the 100 mm sphere
about the origin (edges crossing the sphere contribute their crossing point),
divide by 100: the nose tip lands at (0, 0, 0.4), the face inside the unit sphere.
"""

from __future__ import annotations

import numpy as np

NOSE_OFFSET_MM = 40.0
CROP_RADIUS_MM = 100.0
SCALE_MM = 100.0
NOSE_TIP_LANDMARK = 30


def normalising_translation(nose_tip_mm: np.ndarray) -> np.ndarray:
    """Translation (mm) that puts the nose tip at (0, 0, 40 mm)."""
    return np.array([0.0, 0.0, NOSE_OFFSET_MM]) - np.asarray(nose_tip_mm, dtype=np.float64)


def to_normalised(points_mm: np.ndarray, translation_mm: np.ndarray) -> np.ndarray:
    return (np.asarray(points_mm, dtype=np.float64) + translation_mm) / SCALE_MM


def crop_unit_sphere(vertices: np.ndarray, faces: np.ndarray):
    """Vertices inside the unit sphere plus the points where mesh edges cross it.

    Returns ``(points, inside_faces)``: all points kept (inside vertices first,
    then crossing points), and the faces whose three vertices are inside,
    re-indexed into ``points``.
    """
    r = np.linalg.norm(vertices, axis=1)
    inside = r < 1.0
    keep = np.flatnonzero(inside)
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    full = inside[faces].all(axis=1)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    crossing = np.unique(np.sort(edges[inside[edges[:, 0]] != inside[edges[:, 1]]], axis=1), axis=0)
    a, b = vertices[crossing[:, 0]], vertices[crossing[:, 1]]
    # Solve |a + t (b - a)| = 1 for t in [0, 1].
    d = b - a
    qa = (d * d).sum(1)
    qb = 2 * (a * d).sum(1)
    qc = (a * a).sum(1) - 1.0
    disc = np.sqrt(np.maximum(qb * qb - 4 * qa * qc, 0.0))
    t1 = (-qb + disc) / (2 * qa)
    t2 = (-qb - disc) / (2 * qa)
    t = np.where((t1 >= 0) & (t1 <= 1), t1, t2)
    cross_points = a + np.clip(t, 0, 1)[:, None] * d
    points = np.concatenate([vertices[keep], cross_points])
    return points, remap[faces[full]]
