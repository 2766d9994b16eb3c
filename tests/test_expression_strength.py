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


def test_calibrate_stores_gains_that_give_each_preset_its_scans_strength(tiny_model_path, tiny_raw_dir, tmp_path, capsys):
    from imface_core import FaceModel
    from imface_core.cli import main
    from imface_core.engine.navigation import LatentNavigator
    from imface_core.evaluation.expression_strength import GAIN_STEPS, preset_strength

    out = tmp_path / "calibrated.pt"
    assert main(["calibrate", "--model", str(tiny_model_path), "--data", str(tiny_raw_dir), "--out", str(out)]) == 0
    assert "labels within 0.8-1.2" in capsys.readouterr().out
    before, after = FaceModel.load(tiny_model_path), FaceModel.load(out)
    assert before.expression_gains == {} and set(after.expression_gains) == set(before.expressions) - {"neutral"}
    # Each label's gain is one of the steps, and its preset is at least as near its scans as the mean code's.
    assert set(after.expression_gains.values()) <= set(GAIN_STEPS)
    uncalibrated = {label: preset / truth for label, truth, preset in preset_strength(before, tiny_raw_dir)}
    for label, truth, preset in preset_strength(after, tiny_raw_dir):
        assert abs(np.log(preset / truth)) <= abs(np.log(uncalibrated[label])) + 1e-4, label  # float32 rounding
    assert any(g != 1.0 for g in after.expression_gains.values())  # the tiny model's presets are off somewhere
    # The presets' offsets from neutral are scaled by the gains; neutral and the code tables stay.
    old, new = LatentNavigator(before).expression_presets(), LatentNavigator(after).expression_presets()
    np.testing.assert_array_equal(old["neutral"], new["neutral"])
    for label, gain in after.expression_gains.items():
        np.testing.assert_allclose(new[label] - new["neutral"], gain * (old[label] - old["neutral"]), rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(after.tables["exp"], before.tables["exp"])


@pytest.mark.parametrize("gains", [{"smile": float("nan")}, {"smile": -1.0}, {"no_such_label": 1.5}, "not a dict"])
def test_a_model_with_unusable_gains_is_refused_by_name(tiny_model_path, tmp_path, gains):
    from imface_core import FaceModel
    from imface_core.checkpoint import CheckpointError, store_in_model

    path = store_in_model(tiny_model_path, {"expression_gains": gains}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="expression gains"):
        FaceModel.load(path)
