"""The expression-strength table: the truth read from the scans' landmark files, the model's from its presets."""

import numpy as np
import pytest

from imface_core.errors import DatasetError
from imface_core.evaluation.expression_strength import expression_strength


def _nose_aligned(path):
    lm = np.loadtxt(path)
    return lm - lm[30]


def test_one_row_per_label_with_the_scans_truth_and_the_model_figures(tiny_model, tiny_raw_dir):
    rows = expression_strength(tiny_model, tiny_raw_dir)
    assert [r.label for r in rows] == [e for e in tiny_model.expressions if e != "neutral"]
    for row in rows:
        expected = np.mean([
            np.linalg.norm(_nose_aligned(f) - _nose_aligned(next(f.parent.glob("*_neutral_landmarks.txt"))), axis=1).mean()
            for f in tiny_raw_dir.glob(f"*/*_{row.label}_landmarks.txt")
        ])
        assert row.scans_mm == pytest.approx(expected, rel=1e-9)
        assert row.scans_mm > 0.1  # a real expression moves the landmarks
        assert np.isfinite([row.own_codes_mm, row.preset_mm]).all() and row.preset_mm > 0
        assert row.ratio == pytest.approx(row.preset_mm / row.scans_mm)


def test_raw_scans_of_other_people_are_refused_by_name(tiny_model, tmp_path):
    with pytest.raises(DatasetError, match="_landmarks.txt is missing"):
        expression_strength(tiny_model, tmp_path)
