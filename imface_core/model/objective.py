"""What a model was trained against that inference and fitting reuse: the five landmarks, the loss weights
and the coarse-to-fine hand-over.

Every checkpoint stores its training config; a ``FaceModel`` keeps of it the ``ModelConfig`` (the network) and
an ``Objective`` (the loss weights and the floor of the coarse SDF terms), which ``imface_core.fitting`` fits
codes with. Training (``imface_core.training``) builds on this module, never the other way round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

LANDMARKS5 = [36, 45, 30, 48, 54]
"""Indices of the five landmarks the model predicts in the iBUG 68 set: outer eye corners, nose tip, mouth
corners."""


@dataclass
class LossWeights:
    """Weight of every loss term (method.md §5)."""

    sdf: float = 3000.0
    """L1 SDF error on surface (target 0) and free-space points."""
    normal: float = 100.0
    """1 - cos between the SDF gradient and the surface normal."""
    eikonal: float = 50.0
    """| |grad_x s| - 1 | in observation space."""
    eikonal_canonical: float = 50.0
    """| |grad_{x_c} s| - 1 | in the canonical (neutral) space."""
    code_id: float = 1e4
    """mean(z_id^2). method.md gives 1e6 (for hyper-network fields); with FiLM fields 1e6 shrank the
    codes to ~1e-3 in our runs and the codes barely steered the face, so we use 1e4."""
    code_exp: float = 1e4
    """mean(z_exp^2) (see code_id)."""
    code_det: float = 1000.0
    """mean(z_det^2) (stage 2)."""
    landmark_exp: float = 1000.0
    """L1(P_exp - the scan's 5 landmarks)."""
    landmark_id: float = 1000.0
    """L1(P_id - the neutral scan's 5 landmarks)."""
    consistency_exp: float = 100.0
    """The scan's 68 landmarks warped by E land on the neutral scan's 68."""
    consistency_id: float = 100.0
    """...then warped by I land on the template's 68."""
    disentangle: float = 300.0
    """L1 of E's displacement on neutral scans -> 0. method.md's 1e4 held E at ~0.01 mm on every scan
    in our runs (no expression could be learnt: jaw-open SDF error 1.6 mm vs 0.65 mm at 300, on a
    6 x 6 subset; E on neutral scans stays at ~0.2 mm; docs/experiments.md, "Expression field")."""
    correction: float = 100.0
    """L1 of the identity field's SDF correction delta."""


@dataclass(frozen=True)
class Objective:
    """The part of a model's training config that fitting reuses."""

    weights: LossWeights = field(default_factory=LossWeights)
    """The loss weights the model was trained with."""
    coarse_floor: float = 0.2
    """Weight the coarse SDF terms keep after the hand-over to the fine ones (``TrainConfig.coarse_floor``)."""

    @classmethod
    def from_config_dict(cls, d: dict[str, Any]) -> "Objective":
        """The objective of a checkpoint's stored training config (``TrainConfig.to_dict()``)."""
        known = {f.name for f in fields(LossWeights)}
        weights = LossWeights(**{k: v for k, v in d.get("weights", {}).items() if k in known})
        return cls(weights, float(d.get("coarse_floor", cls.coarse_floor)))


def handover(progress: float, floor: float) -> tuple[float, float]:
    """(coarse, fine) weights of the SDF terms at ``progress`` in [0, 1] of the hand-over (cosine)."""
    c = 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return floor + (1.0 - floor) * c, 1.0 - c
