"""A linear (PCA) face model built from the same training scans: the baseline of ``imface eval``.

Dense correspondence: the training scans of this project share one mesh
topology (every synthetic scan is the same subdivided ICT head, vertex for
vertex), so a PCA over their vertices is a classic 3DMM with no registration
step. Each scan is normalised exactly as ``imface prep`` does (nose-tip
landmark to (0, 0, 40 mm), / 100 mm) and only vertices near the unit-sphere
crop are kept.

Parameters: identity PCA over the neutral scans (one per person, centred on
their mean) plus expression PCA over the offsets of every other scan from its
person's neutral scan (uncentred: zero offset is the neutral face). The total
matches the neural model's z_id + z_exp size; the identity part is capped at
(number of people - 1), the rank of the data, and the rest goes to expression.

Fitting uses the same samples as the neural fit (the scan's pseudo-watertight
surface samples in the normalised frame) and the same kind of objective:
distance of the scan's surface points to the model surface plus a Gaussian
prior on the coefficients, minimised by iterated point-to-plane least squares
(closest visible model vertex, linear solve); the model is linear, so each
step is exact. The fitted vertex mesh then goes through crop_unit_sphere and
pseudo_watertight like a raw scan.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from imface_core.data.height_field import pseudo_watertight, visible_points
from imface_core.data.normalize import NOSE_TIP_LANDMARK, SCALE_MM, crop_unit_sphere, normalising_translation
from imface_core.data.prep import find_raw_scans, landmark_path
from imface_core.io_utils import save_npz_atomic

logger = logging.getLogger(__name__)

KEEP_RADIUS = 1.15
"""Vertices within this radius (normalised units) of the origin in the first scan are modelled."""
NOISE = 0.01
"""Assumed scan-to-model residual (1 mm, normalised units): weighs the prior against the data."""


@dataclass
class PCAFaceModel:
    """mean (V, 3) + id_basis (n_id, V, 3) a + exp_basis (n_exp, V, 3) b; sigmas are the coefficient std."""

    mean: np.ndarray
    id_basis: np.ndarray
    id_sigma: np.ndarray
    exp_basis: np.ndarray
    exp_sigma: np.ndarray
    faces: np.ndarray
    info: dict

    @property
    def n_params(self) -> int:
        return len(self.id_sigma) + len(self.exp_sigma)

    def shape(self, coef: np.ndarray) -> np.ndarray:
        """Vertices (V, 3) for the concatenated coefficients (n_id + n_exp,)."""
        basis = self._basis()
        return self.mean + np.tensordot(coef, basis, axes=1)

    def _basis(self) -> np.ndarray:
        return np.concatenate([self.id_basis, self.exp_basis]) if len(self.exp_sigma) else self.id_basis

    def save(self, path: str | Path) -> None:
        save_npz_atomic(path, mean=self.mean.astype(np.float32), id_basis=self.id_basis.astype(np.float32),
                        id_sigma=self.id_sigma, exp_basis=self.exp_basis.astype(np.float32), exp_sigma=self.exp_sigma,
                        faces=self.faces, info=np.array(repr(self.info)))

    @classmethod
    def load(cls, path: str | Path) -> "PCAFaceModel":
        with np.load(path) as d:
            return cls(d["mean"].astype(np.float64), d["id_basis"], d["id_sigma"], d["exp_basis"], d["exp_sigma"],
                       d["faces"], {"file": str(path)})


def _normalised_scan(path: Path) -> np.ndarray:
    import trimesh

    mesh = trimesh.load(path, process=False, force="mesh")
    lm = np.loadtxt(landmark_path(path)).reshape(-1, 3)
    shift = normalising_translation(lm[NOSE_TIP_LANDMARK])
    return (np.asarray(mesh.vertices, dtype=np.float64) + shift) / SCALE_MM, np.asarray(mesh.faces, dtype=np.int64)


def _pca(rows: np.ndarray, count: int, centre: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, components (count, D), sigma (count,)) via the Gram matrix (few rows, many columns)."""
    mean = rows.mean(axis=0, dtype=np.float64) if centre else np.zeros(rows.shape[1])
    x = (rows - mean).astype(np.float32)
    gram = (x @ x.T).astype(np.float64)
    evals, evecs = np.linalg.eigh(gram)
    order = np.argsort(evals)[::-1][:count]
    evals, evecs = np.clip(evals[order], 1e-20, None), evecs[:, order]
    comps = (evecs.T.astype(np.float32) @ x).astype(np.float64) / np.sqrt(evals)[:, None]
    sigma = np.sqrt(evals / max(1, len(rows) - (1 if centre else 0)))
    return mean, comps, sigma


def build_pca_model(raw_dir: str | Path, n_params: int, progress=None, limit_people: int | None = None) -> PCAFaceModel:
    """PCA model with ``n_params`` identity + expression parameters from ``RAW/<identity>/<k>_<expr>.ply``."""
    raw_dir = Path(raw_dir)
    scans = find_raw_scans(raw_dir)
    if not scans:
        raise FileNotFoundError(f"no training scans under `{raw_dir}` for the PCA baseline")
    by_person: dict[str, list[Path]] = {}
    for s in scans:
        by_person.setdefault(s.parent.name, []).append(s)
    people = sorted(by_person)[:limit_people] if limit_people else sorted(by_person)
    first, faces = _normalised_scan(by_person[people[0]][0])
    keep = np.flatnonzero(np.linalg.norm(first, axis=1) < KEEP_RADIUS)
    remap = np.full(len(first), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    sub_faces = remap[faces[(remap[faces] >= 0).all(axis=1)]]
    neutral_rows, offset_rows = [], []
    for person in people:
        files = by_person[person]
        neutral_file = next((f for f in files if re.search(r"_neutral\.", f.name)), files[0])
        neutral, _ = _normalised_scan(neutral_file)
        if len(neutral) != len(first):
            raise ValueError(f"`{neutral_file}` has {len(neutral)} vertices, the first scan {len(first)}: the PCA "
                             "baseline needs training scans that share one topology")
        neutral_rows.append(neutral[keep].reshape(-1).astype(np.float32))
        for f in files:
            if f == neutral_file:
                continue
            v, _ = _normalised_scan(f)
            offset_rows.append((v[keep] - neutral[keep]).reshape(-1).astype(np.float32))
            if progress:
                progress(1)
        if progress:
            progress(1)
    neutral_rows = np.stack(neutral_rows)
    n_id = min(n_params, len(people) - 1)
    mean, id_comp, id_sigma = _pca(neutral_rows, n_id, centre=True)
    n_exp = min(n_params - n_id, len(offset_rows))
    if n_exp > 0:
        _, exp_comp, exp_sigma = _pca(np.stack(offset_rows), n_exp, centre=False)
    else:
        exp_comp, exp_sigma = np.zeros((0, len(mean))), np.zeros(0)
    v = len(keep)
    info = {"people": len(people), "scans": len(people) + len(offset_rows), "n_id": n_id, "n_exp": n_exp,
            "vertices": v, "raw_dir": str(raw_dir)}
    logger.info("PCA baseline: %s", info)
    return PCAFaceModel(mean.reshape(v, 3), id_comp.reshape(-1, v, 3), id_sigma, exp_comp.reshape(-1, v, 3),
                        exp_sigma, sub_faces, info)


def fit_pca(model: PCAFaceModel, surface: np.ndarray, iterations: int = 12, points: int = 20_000, seed: int = 0,
            noise: float = NOISE, pose: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (and a rigid pose) fitting the model to surface samples (normalised units) of a scan.

    Each iteration: the scan points' closest *visible* model vertices (visibility from +z, as the
    pseudo-watertight surface is what was sampled), then the regularised point-to-plane least squares
    min sum (n_j . (p - S_j(c)))^2 / noise^2 + sum (c_k / sigma_k)^2, which is linear in c; with
    ``pose``, a point-to-plane rigid update of the points follows (the neural fit refines its pose too).
    Returns ``(coef, rigid)``, ``rigid`` the 4x4 taking the samples' frame to the model's.
    """
    import trimesh
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    p0 = surface if len(surface) <= points else surface[rng.choice(len(surface), points, replace=False)]
    p0 = np.asarray(p0, dtype=np.float64)
    basis = model._basis()  # (K, V, 3)
    sigma = np.concatenate([model.id_sigma, model.exp_sigma])
    coef = np.zeros(model.n_params)
    prior = np.diag(1.0 / sigma**2) * noise**2
    rot, trans = np.eye(3), np.zeros(3)
    used = np.unique(model.faces)
    for it in range(iterations):
        verts = model.shape(coef)
        vn = trimesh.Trimesh(verts, model.faces, process=False).vertex_normals
        if it % 3 == 0:
            vis_mask = np.zeros(len(verts), dtype=bool)
            vis_mask[used] = visible_points(verts, model.faces, vn)[used] & (vn[used, 2] > -0.2)
            vis = np.flatnonzero(vis_mask)
        tree = cKDTree(verts[vis])
        p = p0 @ rot.T + trans
        dist, idx = tree.query(p, k=1)
        ok = dist < 0.1  # 10 mm
        j, pp, n = vis[idx[ok]], p[ok], vn[vis[idx[ok]]]
        # Row i: n_j . (B_j c) = n_j . (p - mean_j)
        a = np.einsum("kmd,md->mk", basis[:, j, :], n)
        r = ((pp - model.mean[j]) * n).sum(1)
        coef = np.linalg.solve(a.T @ a + prior, a.T @ r)
        if pose:
            target = model.shape(coef)[j]
            lhs = np.concatenate([np.cross(pp, n), n], axis=1)
            x, *_ = np.linalg.lstsq(lhs, ((target - pp) * n).sum(1), rcond=None)
            d_rot = Rotation.from_rotvec(x[:3]).as_matrix()
            rot, trans = d_rot @ rot, d_rot @ trans + x[3:]
    rigid = np.eye(4)
    rigid[:3, :3], rigid[:3, 3] = rot, trans
    return coef, rigid


def pca_surface(model: PCAFaceModel, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fitted PCA face processed like a raw scan: crop to the unit sphere, pseudo-watertight."""
    import trimesh

    verts = model.shape(coef)
    points, crop_faces = crop_unit_sphere(verts, model.faces)
    normals = trimesh.Trimesh(points, crop_faces, process=False).vertex_normals
    return pseudo_watertight(points, crop_faces, normals)
