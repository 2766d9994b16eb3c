"""Symmetry of a face: its mid-plane, how asymmetric it is (mm), and the codes of its symmetrised face.

The mid-plane is found, not assumed: the face mirrored about x = 0 is aligned to itself by rigid ICP, and that
alignment composed with the mirror is the reflection about the face's own mid-plane (a head turned or shifted
a little in the model's frame keeps its asymmetry figure). The asymmetry is the distance of each vertex of the
mirrored face to the face (point-to-plane at the nearest vertex), in mm; its mean is taken over the 90 % of
vertices that are nearest (the rim of the cropped face is not symmetric, whatever the face).

``symmetrise`` meshes the face, averages it with its mirror image (each vertex half-way to the mirrored
surface) and fits the model's codes to that surface with the scan fitter (``imface_core.fitting``), started
from the face's own codes: the result is the model's nearest face to the symmetric one, so what the model
cannot represent symmetrically stays (``Symmetrised`` says how much, before and after).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from imface_core.engine.chunks import CancelToken, check_cancel
from imface_core.face_codes import FaceCodes
from imface_core.rigid import similarity_fit

__all__ = ["Asymmetry", "Symmetrised", "asymmetry", "mirror_transform", "symmetric_surface", "symmetrise"]

MM = 100.0
KEEP = 0.9
"""Share of the vertices (the nearest) that the mean asymmetry is taken over."""
FLIP = np.diag([-1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Asymmetry:
    """Distances of a face's mirror image to the face, mm."""

    mean_mm: float
    """Mean over the nearest ``KEEP`` share of the vertices."""
    p95_mm: float


@dataclass(frozen=True)
class Symmetrised:
    codes: FaceCodes
    """The fitted codes (no region edits: the fit puts them in the codes of the whole face)."""
    before: Asymmetry
    target: Asymmetry
    """Of the averaged surface the codes were fitted to (0 up to the mesh's sampling)."""
    after: Asymmetry


def mirror_transform(vertices: np.ndarray, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """(A (3, 3), b (3,)): x -> A x + b reflects ``vertices`` (V, 3) about their own mid-plane (see module doc)."""
    v = np.asarray(vertices, dtype=np.float64)
    tree = cKDTree(v)
    rot, t = np.eye(3), np.zeros(3)
    mirrored = v @ FLIP
    for _ in range(iterations):
        moved = mirrored @ rot.T + t
        d, nearest = tree.query(moved)
        keep = d <= np.quantile(d, KEEP)
        _, rot, t = similarity_fit(mirrored[keep], v[nearest[keep]])
    return rot @ FLIP, t


def _distance(points: np.ndarray, mesh: trimesh.Trimesh) -> np.ndarray:
    v = np.asarray(mesh.vertices)
    _, nearest = cKDTree(v).query(points)
    return np.abs(np.einsum("ij,ij->i", points - v[nearest], np.asarray(mesh.vertex_normals)[nearest]))


def asymmetry(mesh: trimesh.Trimesh) -> Asymmetry:
    """How far the mirror image of ``mesh`` (normalised units) lies from it, mm (see the module doc)."""
    a, b = mirror_transform(mesh.vertices)
    d = _distance(np.asarray(mesh.vertices) @ a.T + b, mesh) * MM
    kept = np.sort(d)[: max(1, int(KEEP * len(d)))]
    return Asymmetry(float(kept.mean()), float(np.percentile(d, 95)))


def symmetric_surface(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """``mesh`` with every vertex moved half-way to its mirror image's surface (along the normal there)."""
    a, b = mirror_transform(mesh.vertices)
    v = np.asarray(mesh.vertices, dtype=np.float64)
    mirror = trimesh.Trimesh(v @ a.T + b, np.asarray(mesh.faces)[:, ::-1], process=False)  # (a flips orientation)
    mv = np.asarray(mirror.vertices)
    _, nearest = cKDTree(mv).query(v)
    n = np.asarray(mirror.vertex_normals)[nearest]
    offset = np.einsum("ij,ij->i", mv[nearest] - v, n)
    return trimesh.Trimesh(v + 0.5 * offset[:, None] * n, np.asarray(mesh.faces), process=False)


def symmetrise(model, codes: FaceCodes, steps: int = 150, resolution: int = 128,
               progress: Callable[[int, int, str], None] | None = None,
               cancel: CancelToken | None = None) -> Symmetrised:
    """The codes of the face of ``codes`` made symmetric (see the module doc); ``progress(step, steps, phase)``;
    ``cancel`` raises ``errors.Cancelled`` between steps."""
    from imface_core.fitting import FitSettings
    from imface_core.fitting.optimize import fit_codes
    from imface_core.fitting.samples import prepare_samples

    def say(step: int, phase: str) -> None:
        if progress is not None:
            progress(step, steps, phase)

    say(0, "mesh")
    mesh = model.mesh(codes, resolution, detail=True, method="displace", cancel=cancel)
    check_cancel(cancel)
    before = asymmetry(mesh)
    say(0, "mirror")
    target = symmetric_surface(mesh)
    samples = prepare_samples(target.vertices, target.faces, source="the symmetrised face")
    settings = FitSettings(steps=steps, optimise_pose=False)
    fit = fit_codes(model, samples, settings, init=codes.without_regions(), cancel=cancel,
                    progress=None if progress is None else (lambda p: say(int(p.step), str(p.phase))))
    say(steps, "check")
    after = model.mesh(fit.codes, resolution, detail=True, method="displace", cancel=cancel)
    return Symmetrised(fit.codes, before, asymmetry(target), asymmetry(after))
