"""Settings written once: the options of the commands made from settings dataclasses state the dataclass
defaults and help, and presets are settings."""

from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from imface_core.cli import build_parser, main as cli_main
from imface_core.commands.polish import POLISH_OPTIONS
from imface_core.commands.settings import field_docs
from imface_core.settings import (POLISH_PRESETS, AlignSettings, BenchSettings, EvalSettings, FitOutputSettings,
                                  FitSettings, GenerateSettings, PolishSettings, PrepSettings, RegionSettings,
                                  SynthSettings, ThreadSettings)

CONVERTED = {"fit": (FitSettings, AlignSettings, FitOutputSettings, ThreadSettings), "polish": (PolishSettings,),
             "prep": (PrepSettings,), "bench": (BenchSettings,), "eval": (EvalSettings, ThreadSettings), "synth": (SynthSettings,),
             "region": (RegionSettings,), "generate": (GenerateSettings,)}
"""The commands whose settings options are made from dataclasses, and those dataclasses."""
LEAST_OPTIONS = {"fit": 6, "polish": len(POLISH_OPTIONS), "prep": 4, "bench": 5, "eval": 11, "synth": 4, "region": 1,
                 "generate": 7}
"""How many options each command at least takes from its dataclasses."""
OWN_DEFAULTS: set[str] = set()
"""Options that are no setting of a dataclass but state a number as their default (none left)."""


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command", sorted(CONVERTED))
def test_help_states_the_dataclass_defaults_and_docs(command):
    parser = _subparser(command)
    text = " ".join(parser.format_help().split())
    seen = 0
    for cls in CONVERTED[command]:
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        docs = field_docs(cls)
        for action in parser._actions:
            if not str(action.dest).startswith(cls.__name__ + "."):
                continue
            name = action.dest.split(".", 1)[1]
            shown = "unset" if defaults[name] is None else defaults[name]
            assert action.help.endswith(f"(default: {shown})"), (name, action.help)
            assert " ".join(docs[name].split()) in " ".join(action.help.split()), name
            assert f"{action.option_strings[0]}" in text
            seen += 1
    assert seen >= LEAST_OPTIONS[command]
    # no option of these commands writes a default of its own in its help ("default N" outside the generated end)
    for action in parser._actions:
        if action.help and not str(action.dest).split(".")[0] in {c.__name__ for c in CONVERTED[command]}:
            assert not re.search(r"default \d", action.help) or action.dest in OWN_DEFAULTS, (action.dest, action.help)


def test_fit_help_states_the_true_step_count():
    text = " ".join(_subparser("fit").format_help().split())
    assert f"(default: {FitSettings().steps})" in text.rsplit("--steps N", 1)[1][:200]


def test_bad_values_are_refused_by_the_dataclass(capsys):
    assert cli_main(["fit", "scan.ply", "--out", "x", "--steps", "0"]) == 2
    assert "steps must be at least 1" in capsys.readouterr().err
    with pytest.raises(ValueError):
        FitSettings(stage1_fraction=1.5)


def test_the_v5_preset_is_the_model_card_recipe_and_flags_change_it():
    from imface_core.commands.settings import settings_from_args

    parser = _subparser("polish")
    args = parser.parse_args(["--run", "R", "--data", "D", "--preset", "v5", "--points", "1024"])
    settings = settings_from_args(PolishSettings, args, base=POLISH_PRESETS[args.preset])
    assert settings == dataclasses.replace(POLISH_PRESETS["v5"], points=1024)
    v5 = POLISH_PRESETS["v5"]
    assert (v5.fresh_field, v5.plane_channels, v5.code_dim, v5.plane_init, v5.plane_mixing) == (
        True, 200, 200, "residuals", "code")
    assert (v5.lr_net, v5.lr_codes, v5.plane_lr_scale, v5.batch_scans, v5.points, v5.steps) == (
        1e-3, 0.0, 0.0, 800, 128, 2000)


def test_train_options_state_the_presets_values_and_the_fields_docs():
    from imface_core.commands.train import OVERRIDES
    from imface_core.model.config import ModelConfig
    from imface_core.training.config import PRESETS, TrainConfig, preset

    parser = _subparser("train")
    actions = {a.dest: a for a in parser._actions}
    for option, field in OVERRIDES.items():
        action = actions[option]
        assert action.default is None  # None: the preset's value
        owner = ModelConfig if field == "det_first_omega0" else TrainConfig
        assert " ".join(field_docs(owner)[field].split()) in " ".join(action.help.split()), option
        values = [getattr(preset(name).model if owner is ModelConfig else preset(name), field) for name in PRESETS]
        shown = ", ".join(f"{name} {value}" for name, value in zip(PRESETS, values))
        assert action.help.replace("%%", "%").endswith(f"(default: the --config preset's: {shown})"), action.help
        assert not re.search(r"default \d", action.help), action.help


def test_parsing_the_help_does_not_load_torch():
    import subprocess
    import sys

    code = ("import sys; from imface_core.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'trimesh', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_train_values_are_checked_by_the_config_and_named_by_their_option(capsys, tmp_path):
    from imface_core.training.config import TrainConfig

    with pytest.raises(ValueError, match="batch_scans must be at least 1"):
        TrainConfig(batch_scans=0)
    out = tmp_path / "run"
    assert cli_main(["train", "--data", str(tmp_path), "--out", str(out), "--surface-points", "0"]) == 2
    assert "--surface-points must be at least 1, got 0" in capsys.readouterr().err
    assert cli_main(["train", "--data", str(tmp_path), "--out", str(out), "--stage2-steps", "-1"]) == 2
    assert "--stage2-steps must be 0 or more, got -1" in capsys.readouterr().err
    assert not out.exists()  # refused before anything was made


@pytest.mark.parametrize("command", ["fit", "eval", "generate"])
def test_mesh_resolutions_are_checked_once_for_every_command(command, capsys, tmp_path):
    from imface_core.settings import RESOLUTION_RANGE

    given = {"fit": ["fit", "scan.ply", "--out", str(tmp_path / "f")],
             "eval": ["eval", "--data", str(tmp_path), "--out", str(tmp_path / "e")],
             "generate": ["generate", "--identity", "0", "--out", str(tmp_path / "g.obj")]}[command]
    lo, hi = RESOLUTION_RANGE
    assert cli_main(given + ["--resolution", str(hi + 1)]) == 2
    assert f"must be a whole number from {lo} to {hi}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
