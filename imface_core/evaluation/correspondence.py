"""How far dense correspondence can be trusted: points of one fitted scan carried onto another, against the truth.

Scans made on one topology (``imface synth``: every scan is the ICT head's mesh, so vertex i of one scan
corresponds to vertex i of every other) give the true correspondence. For a source scan A and a target scan B,
both fitted (``FitResult``: codes and the alignment of the scan to the model's frame):

* ``template``: A's vertex is located on A's template-topology mesh (the model's template mesh carried onto A's
  fitted face: closest triangle and barycentric weights); the same triangle and weights on B's template-topology
  mesh give its place on B (what a user gets from two ``--topology template`` exports);
* ``nearest``: A's vertex, both scans in the model's frame, goes to the nearest point of B's scan surface.

The error is the distance (mm, B's frame) to B's vertex i; reported over the 68 landmarks and over every vertex of
A that lies on the face region (within ``ON_MESH_MM`` of A's template-topology mesh, which is cut to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import trimesh
from scipy.spatial import cKDTree

if TYPE_CHECKING:
    from imface_core.fitting.align import Alignment

__all__ = ["CorrespondenceErrors", "FittedFace", "carry_points", "correspondence_errors", "summarise"]

ON_MESH_MM = 1.0
"""A vertex of A farther than this from A's template-topology mesh is outside the face region."""


@dataclass
class FittedFace:
    """One fitted scan: its vertices (scan frame, mm), landmark vertex indices, and its template-topology mesh
    in the scan's frame (mm)."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    landmark_vertices: np.ndarray
    template_mesh: trimesh.Trimesh
    alignment: "Alignment"
    """The fit's alignment: scan mm <-> the model's frame (normalised units)."""


@dataclass
class CorrespondenceErrors:
    """Errors (mm) of one source -> target pair."""

    source: str
    target: str
    template_landmarks: np.ndarray
    nearest_landmarks: np.ndarray
    template_region: np.ndarray
    nearest_region: np.ndarray


def fitted_face(model, name: str, vertices: np.ndarray, faces: np.ndarray, landmark_vertices: np.ndarray,
                fit, template_resolution: int | None = None) -> FittedFace:
    """A ``FittedFace`` from a ``FitResult`` (``imface_core.fitting.fit_scan``) of the scan (vertices in mm)."""
    carried = model.mesh(fit.codes, resolution=template_resolution, topology="template")
    mesh = trimesh.Trimesh(fit.alignment.to_scan(np.asarray(carried.vertices)), np.asarray(carried.faces),
                           process=False)
    return FittedFace(name, np.asarray(vertices, dtype=np.float64), np.asarray(faces), np.asarray(landmark_vertices),
                      mesh, fit.alignment)


def carry_points(points: np.ndarray, source: trimesh.Trimesh, target: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """Points on ``source`` taken to the same triangle and barycentric weights on ``target`` (same topology),
    and each point's distance to ``source`` (where it was located)."""
    if len(source.vertices) != len(target.vertices) or not np.array_equal(source.faces, target.faces):
        raise ValueError("source and target must share their topology")
    closest, distance, triangle = trimesh.proximity.closest_point(source, points)
    weights = trimesh.triangles.points_to_barycentric(source.triangles[triangle], closest)
    corners = target.vertices[target.faces[triangle]]
    return np.einsum("nk,nkd->nd", weights, corners), distance


def correspondence_errors(a: FittedFace, b: FittedFace, max_points: int | None = 5000,
                          seed: int = 0) -> CorrespondenceErrors:
    """Errors of A -> B by both methods (see the module doc), over the landmarks and at most ``max_points``
    vertices of the face region (a random choice; None: all)."""
    if len(a.vertices) != len(b.vertices):
        raise ValueError(f"{a.name} and {b.name} do not share a topology ({len(a.vertices)} vs {len(b.vertices)} "
                         "vertices): correspondence has no truth")
    near = cKDTree(a.template_mesh.vertices).query(a.vertices, distance_upper_bound=3 * ON_MESH_MM)[0] < np.inf
    candidates = np.flatnonzero(near)
    if max_points is not None and len(candidates) > max_points:
        candidates = np.sort(np.random.default_rng(seed).choice(candidates, max_points, replace=False))
    candidates = np.union1d(candidates, a.landmark_vertices)
    on_b, distance = carry_points(a.vertices[candidates], a.template_mesh, b.template_mesh)
    template_error = np.full(len(a.vertices), np.nan)
    template_error[candidates] = np.linalg.norm(on_b - b.vertices[candidates], axis=1)
    region = candidates[distance < ON_MESH_MM]
    # nearest point: A's vertices in the model's frame, onto B's scan in the model's frame, back to B's frame
    # (the face region's and the landmarks, which get theirs even off the region)
    asked = np.union1d(region, a.landmark_vertices)
    b_surface = trimesh.Trimesh(b.alignment.to_normalised(b.vertices), b.faces, process=False)
    nearest_model = trimesh.proximity.closest_point(b_surface, a.alignment.to_normalised(a.vertices[asked]))[0]
    nearest_error = np.full(len(a.vertices), np.nan)
    nearest_error[asked] = np.linalg.norm(b.alignment.to_scan(nearest_model) - b.vertices[asked], axis=1)
    return CorrespondenceErrors(a.name, b.name, template_error[a.landmark_vertices],
                                nearest_error[a.landmark_vertices], template_error[region], nearest_error[region])


def summarise(pairs: list[CorrespondenceErrors]) -> dict[str, dict[str, float]]:
    """Mean and 95th percentile (mm) per method and point set, over every pair."""
    out = {}
    for name in ("template_landmarks", "nearest_landmarks", "template_region", "nearest_region"):
        values = np.concatenate([getattr(p, name) for p in pairs])
        out[name] = {"mean_mm": float(np.mean(values)), "p95_mm": float(np.percentile(values, 95)),
                     "points": int(len(values))}
    return out
