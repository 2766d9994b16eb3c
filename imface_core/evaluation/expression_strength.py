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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imface_core.data.normalize import NOSE_TIP_LANDMARK
from imface_core.engine.export import MM_PER_UNIT
from imface_core.engine.identity_axes import face_landmarks68
from imface_core.engine.navigation import LatentNavigator
from imface_core.errors import DatasetError

if TYPE_CHECKING:
    from imface_core.face_model import FaceModel

__all__ = ["ExpressionStrength", "expression_strength"]


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


def _scan_landmarks(raw_dir: Path, scan: dict) -> np.ndarray:
    path = raw_dir / (str(Path(scan["file"]).with_suffix("")) + "_landmarks.txt")
    if not path.exists():
        raise DatasetError(f"{path} is missing: --raw must be the raw scans the model was trained on (imface synth output)")
    return np.loadtxt(path).reshape(68, 3)


def expression_strength(model: "FaceModel", raw_dir: str | Path, neutral: str = "neutral") -> list[ExpressionStrength]:
    """One row per named expression other than ``neutral``, for the people of ``model``'s training scans."""
    raw_dir = Path(raw_dir)
    if neutral not in model.expressions:
        raise ValueError(f"the model has no `{neutral}` expression to measure from")
    presets = LatentNavigator(model).expression_presets()
    z_ids, z_exps = model.tables["id"], model.tables["exp"]
    people = range(len(model.identities))
    neutral_scans = [model.scan_index(i, neutral) for i in people]
    neutral_own = [face_landmarks68(model, z_ids[i : i + 1], z_exps[s]) for i, s in zip(people, neutral_scans)]
    neutral_preset = face_landmarks68(model, z_ids, presets[neutral])
    rows = []
    for label in model.expressions:
        if label == neutral:
            continue
        scans, own = [], []
        for i, base in zip(people, neutral_scans):
            try:
                s = model.scan_index(i, label)
            except KeyError:
                continue  # this person has no scan of the label
            scans.append(_displacement(_scan_landmarks(raw_dir, model.scans[s]), _scan_landmarks(raw_dir, model.scans[base])))
            own.append(_displacement(face_landmarks68(model, z_ids[i : i + 1], z_exps[s]), neutral_own[i])[0] * MM_PER_UNIT)
        preset = _displacement(face_landmarks68(model, z_ids, presets[label]), neutral_preset) * MM_PER_UNIT
        rows.append(ExpressionStrength(label, float(np.mean(scans)), float(np.mean(own)), float(np.mean(preset))))
    return rows
