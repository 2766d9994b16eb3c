"""Named expressions as strong as the scans: presets calibrated on the model's landmarks.

The mean z_exp of one label's training scans moves a face less than the scans themselves moved their people:
the scans' codes scatter, and their mean shrinks towards the middle. A preset is therefore
``neutral + gain * (mean_label - neutral)``, with the gain that makes the landmarks move, averaged over the
training people, as far from the neutral preset as the label's own training codes moved them from their own
neutral scans. Landmarks are the model's own prediction from the codes (``ImFaceNet.predict_landmarks``, the
K landmarks of its blend regions, in millimetres), so calibrating costs a few batched MLP calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from imface_core.face_model import FaceModel

__all__ = ["NEUTRAL", "ExpressionStrength", "calibrated_presets", "expression_strength", "mean_presets"]

NEUTRAL = "neutral"
"""The label whose preset is the zero of every expression slider."""
MAX_GAIN = 4.0
"""The largest gain a preset gets (a label whose mean barely differs from neutral stays bounded)."""


@dataclass(frozen=True)
class ExpressionStrength:
    """How far one label moves the landmarks, mean over the training people (mm)."""

    scans_mm: float
    """The label's training codes, each from its own person's neutral scan."""
    mean_preset_mm: float
    """The plain mean code of the label, from the neutral preset."""
    preset_mm: float
    """The calibrated preset, from the neutral preset."""
    gain: float

    @property
    def ratio(self) -> float:
        return self.preset_mm / self.scans_mm if self.scans_mm > 0 else float("nan")


def mean_presets(model: FaceModel) -> dict[str, np.ndarray]:
    """Named expression -> mean z_exp of the training scans with that label (training order)."""
    labels = np.array([s["expression"] for s in model.scans])
    return {name: model.tables["exp"][labels == name].mean(axis=0).astype(np.float32) for name in model.expressions}


def _landmarks_mm(model: FaceModel, z_id: np.ndarray, z_exp: np.ndarray) -> np.ndarray:
    """(N, D) codes -> (N, K, 3) predicted (expression-space) landmarks in millimetres."""
    with torch.no_grad():
        l_exp, _ = model.net.predict_landmarks(torch.as_tensor(z_id, dtype=torch.float32, device=model.device),
                                               torch.as_tensor(z_exp, dtype=torch.float32, device=model.device))
    return l_exp.cpu().numpy().astype(np.float64) * 100.0


def _displacement(model: FaceModel, z_id: np.ndarray, z_exp: np.ndarray, reference: np.ndarray) -> float:
    """Mean landmark distance (mm) between codes ``z_exp`` and ``reference`` (rows paired with ``z_id``)."""
    moved = _landmarks_mm(model, z_id, z_exp) - _landmarks_mm(model, z_id, reference)
    return float(np.linalg.norm(moved, axis=-1).mean())


def expression_strength(model: FaceModel) -> dict[str, ExpressionStrength]:
    """Per label (but neutral): the scans', the mean preset's and the calibrated preset's landmark motion."""
    means = mean_presets(model)
    if NEUTRAL not in means:
        return {}
    neutral = means[NEUTRAL].astype(np.float64)
    ids = model.tables["id"].astype(np.float64)
    person = np.array([model.identities.index(s["identity"]) for s in model.scans])
    labels = np.array([s["expression"] for s in model.scans])
    neutral_scan = {p: k for k, (p, lab) in enumerate(zip(person, labels)) if lab == NEUTRAL}
    out: dict[str, ExpressionStrength] = {}
    for name, mean in means.items():
        if name == NEUTRAL:
            continue
        rows = [k for k in np.flatnonzero(labels == name) if person[k] in neutral_scan]
        if not rows:
            continue
        own = _displacement(model, ids[person[rows]], model.tables["exp"][rows],
                            model.tables["exp"][[neutral_scan[person[k]] for k in rows]])
        delta = mean.astype(np.float64) - neutral

        def moved(gain: float) -> float:
            return _displacement(model, ids, np.tile(neutral + gain * delta, (len(ids), 1)),
                                 np.tile(neutral, (len(ids), 1)))

        lo, hi = 0.0, MAX_GAIN
        if moved(hi) <= own:
            gain = hi
        else:
            for _ in range(30):  # the motion grows with the gain: bisection to ~1e-9 of MAX_GAIN
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if moved(mid) < own else (lo, mid)
            gain = 0.5 * (lo + hi)
        out[name] = ExpressionStrength(own, moved(1.0), moved(gain), gain)
    return out


def calibrated_presets(model: FaceModel) -> dict[str, np.ndarray]:
    """Named expression -> z_exp moving the landmarks as far as the label's scans did (training order)."""
    means = mean_presets(model)
    strength = expression_strength(model)
    if not strength:
        return means
    neutral = means[NEUTRAL].astype(np.float64)
    return {name: (neutral + strength[name].gain * (mean - neutral)).astype(np.float32) if name in strength
            else mean for name, mean in means.items()}


if __name__ == "__main__":  # python benchmarks/expression_strength.py [MODEL]
    import sys

    from imface_core import FaceModel

    model = FaceModel.load(sys.argv[1] if len(sys.argv) > 1 else "resources/imface_compact.pt", device="cpu")
    print(f"{'label':12s} {'scans mm':>8s} {'mean preset':>18s} {'calibrated':>18s} {'gain':>5s}")
    for name, s in expression_strength(model).items():
        print(f"{name:12s} {s.scans_mm:8.2f} {s.mean_preset_mm:8.2f} ({s.mean_preset_mm / s.scans_mm:5.0%})   "
              f"{s.preset_mm:8.2f} ({s.ratio:5.0%})  {s.gain:5.2f}")
