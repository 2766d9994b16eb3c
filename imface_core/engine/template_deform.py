"""Fast preview by template deformation: keep a mesh's topology and move its vertices to new codes.

Every vertex v of a face mesh has a template coordinate t = x_t(v). For new codes, the point x with
x_t(x) = t lies on the new face (exactly when z_id is unchanged: s = T(x_t) + delta(x_c) and delta depends
on x_c only, which x_t fixes for a given identity). It is found by inverting the warps with the fixed-point
iteration x <- x - (x_t(x) - t) (damped per vertex where it would diverge), warm-started from the previous
frame's positions: a few warp evaluations (expression + identity fields, no template field) per vertex. When z_id changed, one
projection step x <- x - s(x) n puts the vertices back on the zero set (the SDF comes from the same
network passes as the warps).
"""

from __future__ import annotations

import numpy as np
import trimesh

from imface_core.engine.chunks import DEFAULT_CHUNK, CancelToken, evaluate_in_chunks
from imface_core.engine.field import FaceField

__all__ = ["TemplateDeformer"]


class TemplateDeformer:
    """A fixed-topology mesh that follows code changes.

    Args:
        faces: (F, 3) triangles.
        targets: (V, 3) template coordinates of the vertices.
        positions: (V, 3) current vertex positions (the warm start of the next ``deform``).
        z_id: identity code the positions belong to (a change triggers the projection step).
    """

    def __init__(self, faces: np.ndarray, targets: np.ndarray, positions: np.ndarray, z_id: np.ndarray):
        self.faces = np.asarray(faces, dtype=np.int64)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.positions = np.asarray(positions, dtype=np.float32).copy()
        self.z_id = np.asarray(z_id, dtype=np.float32).copy()
        self.last_residual = 0.0
        """Largest |x_t(x) - t| after the last ``deform`` (normalised units)."""
        self.chunk = DEFAULT_CHUNK * 2
        self._step = np.ones(len(self.positions), dtype=np.float32)  # per-vertex step of ``iterations=0``
        self._last_rn: np.ndarray | None = None

    @classmethod
    def from_mesh(cls, face: FaceField, mesh: trimesh.Trimesh, cancel: CancelToken | None = None) -> "TemplateDeformer":
        """Start from a mesh of ``face`` (one warp evaluation per vertex for the template coordinates)."""
        v = np.asarray(mesh.vertices, dtype=np.float32)
        t = evaluate_in_chunks(face.warp, v, DEFAULT_CHUNK * 2, cancel).reshape(-1, 3)
        return cls(mesh.faces, t, v, face.codes.z_id)

    def deform(self, face: FaceField, iterations: int = 2, tol: float = 1e-4,
               cancel: CancelToken | None = None) -> trimesh.Trimesh:
        """Move the vertices to ``face``'s codes; returns the mesh (same faces, no ``process``).

        Each iteration is one warp evaluation per vertex (plus one for the starting residual); 0 takes one
        unchecked step (one evaluation in all, see ``_single_step``). A vertex whose
        residual grows (the fixed point diverges where the warps are far from a translation, e.g. outside the
        trained region) keeps its better position and halves its step. When z_id changed, the same passes
        also give the coarse SDF (the warps plus the small template field, instead of a third network pass),
        and one step along the normals puts the vertices back on the zero set.
        """
        x = self.positions.copy()
        if len(x) == 0:
            return trimesh.Trimesh(x, self.faces, process=False)
        # region edits blend other faces in: their surface is not where x_t = t, so project as for a new z_id
        new_identity = bool(face.codes.regions) or not np.array_equal(face.codes.z_id, self.z_id)
        r, s = self._residual(face, x, new_identity, cancel)
        rn = np.linalg.norm(r, axis=1)
        if iterations == 0:
            return self._single_step(x, r, rn, s, face)
        step = np.ones(len(x), dtype=np.float32)
        for _ in range(iterations):
            if rn.max() < tol:
                break
            x_new = x - step[:, None] * r
            r_new, s_new = self._residual(face, x_new, new_identity, cancel)
            rn_new = np.linalg.norm(r_new, axis=1)
            better = rn_new < rn
            x[better], r[better], rn[better] = x_new[better], r_new[better], rn_new[better]
            if new_identity:
                s[better] = s_new[better]
            step = np.where(better, np.minimum(1.0, step * 2.0), step * 0.5).astype(np.float32)
        if new_identity:
            mesh = trimesh.Trimesh(x, self.faces, process=False)
            x = x - s[:, None] * np.asarray(mesh.vertex_normals, dtype=np.float32)
        self.positions = x
        self.z_id = np.asarray(face.codes.z_id, dtype=np.float32).copy()
        self.last_residual = float(rn.max())
        return trimesh.Trimesh(x, self.faces, process=False)

    def _single_step(self, x: np.ndarray, r: np.ndarray, rn: np.ndarray, s: np.ndarray | None,
                     face: FaceField) -> trimesh.Trimesh:
        """``iterations=0``: one step x - step * r, not checked by a second network pass (a slider-drag frame:
        the next frame starts from here and corrects it). The per-vertex step halves where the residual grew
        since the last frame and doubles back to 1 where it shrank. The SDF for the projection (new z_id) is
        carried to the moved point to first order: s(x - d) ~ s(x) - n . d."""
        if self._last_rn is not None and len(self._last_rn) == len(rn):
            grew = rn > 1.5 * self._last_rn + 1e-4
            self._step = np.where(grew, 0.5 * self._step, np.minimum(1.0, 2.0 * self._step)).astype(np.float32)
        move = self._step[:, None] * r
        x_new = x - move
        if s is not None:
            normals = np.asarray(trimesh.Trimesh(x, self.faces, process=False).vertex_normals, dtype=np.float32)
            s_new = s - np.einsum("ij,ij->i", normals, move)
            x_new = x_new - s_new[:, None] * normals
        self._last_rn = rn
        self.positions = x_new
        self.z_id = np.asarray(face.codes.z_id, dtype=np.float32).copy()
        self.last_residual = float(rn.max())
        return trimesh.Trimesh(x_new, self.faces, process=False)

    def _residual(self, face: FaceField, x: np.ndarray, with_sdf: bool,
                  cancel: CancelToken | None) -> tuple[np.ndarray, np.ndarray | None]:
        """(x_t(x) - targets, the coarse SDF at x or None)."""
        if not with_sdf:
            return evaluate_in_chunks(face.warp, x, self.chunk, cancel).reshape(-1, 3) - self.targets, None

        def warp_and_sdf(points: np.ndarray) -> np.ndarray:
            sdf, x_t = face.coarse(points)
            return np.concatenate([x_t, sdf[:, None]], axis=1)

        out = evaluate_in_chunks(warp_and_sdf, x, self.chunk, cancel).reshape(-1, 4)
        return out[:, :3] - self.targets, out[:, 3].copy()

    def try_deform(self, face: FaceField, cancel: CancelToken | None = None, **kwargs) -> trimesh.Trimesh | None:
        """``deform``, or None when the mesh is empty."""
        if len(self.positions) == 0:
            return None
        return self.deform(face, cancel=cancel, **kwargs)
