"""How far the named expressions move a face, against how far the training scans of that label move their people.

For every label, on every training person: the mean displacement of the 68 iBUG landmarks from the neutral
expression, in mm, after putting the nose tips together (every prepared scan is translated to its nose tip,
so the model's frame has no other anchor):

* ``scans``: the raw training scans' own landmarks (``RAW/<person>/<k>_<label>_landmarks.txt``), the truth;
* ``own codes``: the model with each scan's trained z_exp, landmarks carried from the template onto the face
  (``identity_axes.face_landmarks68``);
* ``preset``: the model with the label's preset (the editor's named-expression slider at 1, the mean z_exp
  of the label) against the neutral preset, on every training person's z_id.

``preset / scans`` near 1 means a named expression reads as strongly as the scans it was learnt from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imface_core.data.dataset import load_landmarks
from imface_core.data.normalize import NOSE_TIP_LANDMARK
from imface_core.engine.export import MM_PER_UNIT
from imface_core.engine.identity_axes import face_landmarks68
from imface_core.engine.navigation import NEUTRAL, LatentNavigator
from imface_core.errors import DatasetError

if TYPE_CHECKING:
    from imface_core.face_model import FaceModel

__all__ = ["Calibration", "ExpressionStrength", "calibrate_expression_gains", "expression_strength", "preset_strength"]


@dataclass(frozen=True)
class ExpressionStrength:
    """Mean landmark displacement from neutral (mm) of one label over the training people."""

    label: str
    scans_mm: float
    own_codes_mm: float
    preset_mm: float

    @property
    def ratio(self) -> float:
        return self.preset_mm / self.scans_mm if self.scans_mm > 0 else float("nan")


def _displacement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean landmark distance (last two axes: 68 x 3) after putting the nose tips together."""
    a = a - a[..., NOSE_TIP_LANDMARK : NOSE_TIP_LANDMARK + 1, :]
    b = b - b[..., NOSE_TIP_LANDMARK : NOSE_TIP_LANDMARK + 1, :]
    return np.linalg.norm(a - b, axis=-1).mean(axis=-1)


def _scan_landmarks(scans_dir: Path, scan: dict) -> np.ndarray:
    """A training scan's 68 landmarks in mm: from its prepared npz (normalised units) or its raw landmark file."""
    prepared = scans_dir / scan["file"]
    if prepared.suffix == ".npz" and prepared.exists():
        return load_landmarks(prepared).astype(np.float64) * MM_PER_UNIT
    path = scans_dir / (str(Path(scan["file"]).with_suffix("")) + "_landmarks.txt")
    if not path.exists():
        raise DatasetError(f"{path} is missing: give the raw (imface synth) or prepared (imface prep) scans the "
                           "model was trained on")
    return np.loadtxt(path).reshape(68, 3)


def _preset_displacements(model: "FaceModel", labels: list[str], neutral: str) -> dict[str, float]:
    """Mean landmark displacement (mm) of each label's preset from the neutral preset over the training people."""
    presets = LatentNavigator(model).expression_presets()
    z_ids = model.tables["id"]
    base = face_landmarks68(model, z_ids, presets[neutral])
    return {label: float(_displacement(face_landmarks68(model, z_ids, presets[label]), base).mean() * MM_PER_UNIT)
            for label in labels}


def _scans_displacements(model: "FaceModel", scans_dir: Path, neutral: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for i in range(len(model.identities)):
        base = _scan_landmarks(scans_dir, model.scans[model.scan_index(i, neutral)])
        for s, scan in enumerate(model.scans):
            if scan["identity"] == model.identities[i] and scan["expression"] != neutral:
                out.setdefault(scan["expression"], []).append(float(_displacement(_scan_landmarks(scans_dir, scan), base)))
    return out


def preset_strength(model: "FaceModel", scans_dir: str | Path, neutral: str = NEUTRAL) -> list[tuple[str, float, float]]:
    """(label, scans' mean displacement, preset's) in mm for every label but ``neutral``: the cheap part of
    ``expression_strength`` (no per-scan codes)."""
    truth = _scans_displacements(model, Path(scans_dir), neutral)
    preset = _preset_displacements(model, list(truth), neutral)
    return [(label, float(np.mean(truth[label])), preset[label]) for label in model.expressions if label in truth]


GAIN_STEPS = (0.6, 0.8, 1.0, 1.25, 1.6, 2.0)
"""Gains ``calibrate_expression_gains`` tries per label. A search, not secant steps: on the shipped model a larger
offset from neutral can move the landmarks less (jaw open: gain 1.13 gave 5.1 mm where 1.0 gave 6.1)."""


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate_expression_gains`` measured, per label (mm): the scans, the preset with gain 1 (the mean
    code) and with the gain chosen."""

    scans_mm: dict[str, float]
    before_mm: dict[str, float]
    gains: dict[str, float]
    after_mm: dict[str, float]


def calibrate_expression_gains(model: "FaceModel", scans_dir: str | Path, neutral: str = NEUTRAL,
                               steps: tuple[float, ...] = GAIN_STEPS, progress=None) -> Calibration:
    """Per label, the gain of ``steps`` whose preset moves the training people's landmarks closest (in ratio)
    to how far their scans of the label do; 1 must be among the steps, so no label gets further from its scans.
    Sets ``model.expression_gains`` (other labels' gains stay)."""
    if 1.0 not in steps:
        raise ValueError("the gains tried must include 1 (the presets as they are)")
    truth = {k: float(np.mean(v)) for k, v in _scans_displacements(model, Path(scans_dir), neutral).items()}
    stored = dict(model.expression_gains)
    reached: dict[float, dict[str, float]] = {}
    for n, gain in enumerate(steps):
        model.expression_gains = {label: gain for label in truth}
        reached[gain] = _preset_displacements(model, list(truth), neutral)
        if progress is not None:
            progress(n + 1, len(steps))
    gains = {}
    for label in truth:
        # The nearest in ratio; 1 first, so a tie keeps the preset as it is.
        gains[label] = min(sorted(steps, key=lambda g: g != 1.0),
                           key=lambda g: abs(math.log(max(reached[g][label], 1e-6) / truth[label])))
    model.expression_gains = {**stored, **gains}
    return Calibration(truth, reached[1.0], gains, {label: reached[g][label] for label, g in gains.items()})


def expression_strength(model: "FaceModel", scans_dir: str | Path, neutral: str = NEUTRAL) -> list[ExpressionStrength]:
    """One row per named expression other than ``neutral``, for the people of ``model``'s training scans
    (``scans_dir``: the raw or prepared scans the model was trained on)."""
    if neutral not in model.expressions:
        raise ValueError(f"the model has no `{neutral}` expression to measure from")
    truth = _scans_displacements(model, Path(scans_dir), neutral)
    z_ids, z_exps = model.tables["id"], model.tables["exp"]
    own: dict[str, list[float]] = {}
    for i in range(len(model.identities)):
        base = face_landmarks68(model, z_ids[i : i + 1], z_exps[model.scan_index(i, neutral)])
        for s, scan in enumerate(model.scans):
            if scan["identity"] == model.identities[i] and scan["expression"] != neutral:
                moved = face_landmarks68(model, z_ids[i : i + 1], z_exps[s])
                own.setdefault(scan["expression"], []).append(float(_displacement(moved, base)[0] * MM_PER_UNIT))
    preset = _preset_displacements(model, list(truth), neutral)
    return [ExpressionStrength(label, float(np.mean(truth[label])), float(np.mean(own[label])), preset[label])
            for label in model.expressions if label in truth]
