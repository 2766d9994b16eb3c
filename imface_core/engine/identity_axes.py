"""Named identity directions ("face width", "nose length", ...) found by regression on the training faces.

For every training identity the 68 iBUG landmarks of its face with a neutral expression are located: the
model's template landmarks (``template_landmarks68``) carried to that face by inverting its warps
(``x_t(x) = t``, the fixed-point iteration of ``template_deform``), then moved onto its surface. A few
distances between landmarks are measured in mm (``MEASUREMENTS``), and each is regressed on the identity's
principal-direction coefficients (the editor's "Variation" sliders, in units of the training faces'
standard deviation)::

    m_i = a + beta . c_i        (least squares over the training identities)

The axis is ``u = beta / |beta|`` in coefficient space: the direction that changes the measurement most for
a move of one typical difference between training faces (the coefficients are whitened, so the training faces
spread with standard deviation 1 along any such direction, and one unit of the axis is that spread). Each axis
reports how well the regression fits (R^2, in-sample and leave-one-out: with 40 identities and 10
coefficients the in-sample R^2 flatters, so the number of coefficients k is chosen per measurement by the
leave-one-out R^2) and which share of the identity codes' variance lies along it.

A regression over the training faces says how they differ, not what the network draws between them: the
shipped model's codes away from a training code inflate the face (most directions lengthen the face and
widen the nose), so an axis can explain 78 % of the training noses' lengths and still not lengthen the nose.
Each axis is therefore also measured on the model itself: from the start face, at ``RESPONSE_STEPS`` along
it. It is ``steady`` when the measurement grows at every step (by ``MIN_RESPONSE_MM`` or more over the
whole range), and then its promised effect is the measured one, not the regression's slope.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from imface_core.engine.export import MM_PER_UNIT

if TYPE_CHECKING:
    from imface_core.engine.navigation import CodeSpace
    from imface_core.face_model import FaceModel

__all__ = ["IdentityAxis", "MEASUREMENTS", "Measurement", "axis_code_step", "face_landmarks68", "fit_axis",
           "identity_axes", "measure", "measured_landmarks"]


@dataclass(frozen=True)
class Measurement:
    """A distance between two iBUG-68 landmarks (0-based indices)."""

    name: str
    landmarks: tuple[int, int]
    description: str
    """What grows when the measurement grows, in words."""


MEASUREMENTS = (
    Measurement("Face width", (0, 16), "a wider face (measured across the cheeks, where the jaw line starts)"),
    Measurement("Face length", (27, 8), "a longer face (from the top of the nose to the chin)"),
    Measurement("Jaw width", (4, 12), "a wider lower jaw"),
    Measurement("Nose length", (27, 33), "a longer nose (from its bridge to its base)"),
    Measurement("Nose width", (31, 35), "a wider nose (across the nostrils)"),
    Measurement("Mouth width", (48, 54), "a wider mouth (corner to corner)"),
)
INVERSION_STEPS = 20
"""Most fixed-point iterations that carry the template landmarks to a face (the shipped model's converge in 5)."""
INVERSION_TOLERANCE = 1e-6
"""Stop when every landmark's template coordinate is this close to its target (normalised units: 0.1 um)."""
PROJECTION_STEPS = 3
"""Newton steps that put the landmarks on the face's (coarse) surface."""
RESPONSE_STEPS = (-1.5, -0.75, 0.0, 0.75, 1.5)
"""Positions along an axis (its slider units) where its effect on the model is measured."""
MIN_RESPONSE_MM = 1.0
"""A steady axis changes its measurement by at least this much between the first and last response step."""


@dataclass(frozen=True)
class IdentityAxis:
    """One named direction of the identity sliders."""

    name: str
    description: str
    direction: np.ndarray
    """(K,) unit vector in the space of the first K principal coefficients (sigma units)."""
    mm_per_unit: float
    """Predicted change of the measurement (mm) for +1 along the axis."""
    r2: float
    """Share of the measurement's variance over the training faces the regression explains (in-sample)."""
    r2_loo: float
    """The same, each face predicted by a regression without it (leave-one-out); nan when undefined."""
    code_variance_share: float
    """Share of the identity codes' total variance that lies along the axis (0..1)."""
    spread_mm: float
    """Standard deviation of the measurement over the training faces (mm)."""
    response_mm: tuple[float, ...] = ()
    """The measurement at ``RESPONSE_STEPS`` along the axis from the start face, minus its value there (mm)."""

    @property
    def steady(self) -> bool:
        """Whether the measurement grows at every response step, by ``MIN_RESPONSE_MM`` or more in all."""
        r = np.asarray(self.response_mm)
        return len(r) > 1 and bool(np.all(np.diff(r) > 0)) and float(r[-1] - r[0]) >= MIN_RESPONSE_MM

    @property
    def measured_mm_per_unit(self) -> float:
        """The measured change per slider unit from the start face (mm; nan when not measured)."""
        if len(self.response_mm) < 2:
            return float("nan")
        return (self.response_mm[-1] - self.response_mm[0]) / (RESPONSE_STEPS[-1] - RESPONSE_STEPS[0])


def face_landmarks68(model: "FaceModel", z_ids: np.ndarray, z_exp: np.ndarray,
                     indices: Sequence[int] | None = None) -> np.ndarray:
    """(N, L, 3) landmarks (normalised units) of the faces with identity codes ``z_ids`` (N, D) and the
    expression code ``z_exp`` (all at once, one batch): the template landmarks ``indices`` (iBUG-68 order; None:
    all 68) carried through the inverse warps (per-point damped fixed-point iteration), then
    ``PROJECTION_STEPS`` Newton steps onto the coarse surface."""
    net, device = model.net, model.device
    z_id = torch.as_tensor(np.asarray(z_ids, dtype=np.float32), device=device)
    n = z_id.shape[0]
    z_e = torch.as_tensor(np.asarray(z_exp, dtype=np.float32), device=device).reshape(1, -1).expand(n, -1)
    template = net.template_landmarks68.to(device)
    if indices is not None:
        template = template[torch.as_tensor(list(indices), dtype=torch.long, device=device)]
    target = template.unsqueeze(0).expand(n, -1, -1)
    with torch.no_grad():
        landmarks = net.predict_landmarks(z_id, z_e)

        def residual(x: torch.Tensor) -> torch.Tensor:
            x_c = net.to_canonical(x, z_e, landmarks[0])
            return net.to_template(x_c, z_id, landmarks[1])[0] - target

        x = target.clone()
        r = residual(x)
        rn = r.norm(dim=-1)
        step = torch.ones_like(rn)
        for _ in range(INVERSION_STEPS):
            if float(rn.max()) < INVERSION_TOLERANCE:
                break
            x_new = x - step[..., None] * r
            r_new = residual(x_new)
            rn_new = r_new.norm(dim=-1)
            better = rn_new < rn
            x = torch.where(better[..., None], x_new, x)
            r = torch.where(better[..., None], r_new, r)
            rn = torch.where(better, rn_new, rn)
            step = torch.where(better, (step * 2).clamp(max=1.0), step * 0.5)
    for _ in range(PROJECTION_STEPS):
        with torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)
            sdf = net.coarse(xg, z_id, z_e, landmarks)["sdf"]
            (grad,) = torch.autograd.grad(sdf.sum(), xg)
        x = (xg - (sdf / grad.pow(2).sum(-1).clamp(min=1e-12))[..., None] * grad).detach()
    return x.cpu().numpy().astype(np.float64)


def measured_landmarks(measurements: Sequence[Measurement] = MEASUREMENTS) -> list[int]:
    """The iBUG-68 indices ``measurements`` use, sorted."""
    return sorted({i for m in measurements for i in m.landmarks})


def measure(landmarks: np.ndarray, measurements: Sequence[Measurement] = MEASUREMENTS,
            indices: Sequence[int] | None = None) -> np.ndarray:
    """(N, L, 3) landmarks (normalised units; ``indices``: their iBUG-68 numbers, None: all 68 in order) ->
    (N, M) distances in mm."""
    lm = np.asarray(landmarks, dtype=np.float64)
    row = {i: r for r, i in enumerate(range(68) if indices is None else indices)}
    return np.stack([np.linalg.norm(lm[:, row[a]] - lm[:, row[b]], axis=-1)
                     for a, b in (m.landmarks for m in measurements)], axis=1) * MM_PER_UNIT


def fit_axis(coefficients: np.ndarray, values: np.ndarray, sigma: np.ndarray, total_variance: float
             ) -> tuple[np.ndarray, float, float, float, float] | None:
    """Regress ``values`` (N,) on ``coefficients`` (N, K) (whitened principal coefficients of the codes whose
    principal standard deviations are ``sigma`` (K,); ``total_variance``: the codes' total variance).

    Returns (unit direction (K,), slope |beta| per unit, R^2, leave-one-out R^2, share of the code variance
    along the direction), or None when the values do not vary or nothing predicts them.
    """
    c = np.asarray(coefficients, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    n, k = c.shape
    ss_total = float(((y - y.mean()) ** 2).sum())
    if n < 2 or k == 0 or ss_total <= 1e-12 * max(1.0, float((y**2).sum())):
        return None
    design = np.concatenate([np.ones((n, 1)), c], axis=1)
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    beta = solution[1:]
    slope = float(np.linalg.norm(beta))
    if slope <= 1e-12:
        return None
    errors = y - design @ solution
    r2 = 1.0 - float((errors**2).sum()) / ss_total
    hat = np.einsum("ij,ji->i", design, np.linalg.pinv(design))
    r2_loo = float("nan") if np.any(hat > 1 - 1e-9) else 1.0 - float(((errors / (1 - hat)) ** 2).sum()) / ss_total
    direction = beta / slope
    code_step = direction * np.asarray(sigma, dtype=np.float64)  # in the orthonormal principal basis
    along = float((code_step**2 * np.asarray(sigma, dtype=np.float64) ** 2).sum() / (code_step**2).sum())
    return direction, slope, r2, r2_loo, along / float(total_variance)


def identity_axes(model: "FaceModel", identity: "CodeSpace", z_exp: np.ndarray, max_components: int,
                  start: np.ndarray | None = None, measurements: Sequence[Measurement] = MEASUREMENTS
                  ) -> list[IdentityAxis]:
    """The named axes of ``model``: ``MEASUREMENTS`` of its training identities (with the expression code
    ``z_exp``, the neutral one) regressed on their first k principal coefficients of ``identity``, k chosen
    per measurement from 1..K by the best leave-one-out R^2 (K = min(``max_components``, the components,
    identities // 4)); each direction has K entries (zeros past its k). Each axis's response is measured from
    the identity code ``start`` (None: no response, no axis is ``steady``). Empty with fewer than three
    identities or no identity variation."""
    table = np.asarray(model.tables["id"], dtype=np.float64)
    n = len(table)
    k_max = min(int(max_components), identity.num_components, max(1, n // 4))
    if n < 3 or k_max < 1:
        return []
    coefficients = np.stack([identity.coefficients(z)[:k_max] for z in table])
    indices = measured_landmarks(measurements)
    values = measure(face_landmarks68(model, table, z_exp, indices), measurements, indices)
    total = float((np.asarray(identity.sigma, dtype=np.float64) ** 2).sum())
    axes = []
    for j, m in enumerate(measurements):
        fits = [fit_axis(coefficients[:, :k], values[:, j], identity.sigma[:k], total) for k in range(1, k_max + 1)]
        fits = [f for f in fits if f is not None]
        if not fits:
            continue
        direction, slope, r2, r2_loo, share = max(fits, key=lambda f: -np.inf if np.isnan(f[3]) else f[3])
        direction = np.concatenate([direction, np.zeros(k_max - len(direction))])
        axes.append(IdentityAxis(m.name, m.description, direction, slope, r2, r2_loo, share,
                                 float(values[:, j].std(ddof=1))))
    if start is None or not axes:
        return axes
    by_name = {m.name: j for j, m in enumerate(measurements)}
    steps = np.asarray(RESPONSE_STEPS)
    codes = [np.asarray(start, dtype=np.float64) + s * axis_code_step(identity, axis.direction)
             for axis in axes for s in steps]
    measured = measure(face_landmarks68(model, np.stack(codes), z_exp, indices), measurements, indices)
    measured = measured.reshape(len(axes), len(steps), -1)
    centre = int(np.argmin(np.abs(steps)))
    return [replace(axis, response_mm=tuple(float(v) for v in r[:, j] - r[centre, j]))
            for axis, r, j in zip(axes, measured, (by_name[axis.name] for axis in axes))]


def axis_code_step(identity: "CodeSpace", direction: np.ndarray) -> np.ndarray:
    """The identity-code change of +1 along an axis ``direction`` (sigma-unit coefficients of ``identity``)."""
    k = len(direction)
    return (np.asarray(direction, dtype=np.float64) * identity.sigma[:k]) @ identity.components[:k]
