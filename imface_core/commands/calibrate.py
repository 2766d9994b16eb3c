"""``imface calibrate``: scale the named-expression presets to move faces as far as the training scans do."""

from __future__ import annotations

import argparse

from imface_core.commands import add_device_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="give each named expression the strength of its training scans and store it in the model file",
        description="A named expression's preset is the mean expression code of its training scans; codes that "
        "scatter shrink when averaged, so a preset can move a face less than the scans moved their people. For "
        "each label this measures the mean displacement of the 68 landmarks from neutral over the training "
        "people (nose tips together), in the scans and with the preset, and stores the gain that makes them "
        "nearest (trying gains of 0.6-2; 1 among them, so no label gets further from its scans). Prints the table "
        "before and after.",
    )
    p.add_argument("--model", required=True, help="model file (written in place unless --out is given)")
    p.add_argument("--data", required=True, help="the raw (imface synth) or prepared (imface prep) scans the "
                   "model was trained on: their landmarks are the truth")
    p.add_argument("--out", default=None, help="write the calibrated model here instead")
    add_device_option(p)
    p.set_defaults(func=run)


def _table(title: str, scans: dict[str, float], preset: dict[str, float]) -> None:
    print(f"{title}\n{'label':<14}{'scans':>8}{'preset':>8}{'preset/scans':>14}   (mean landmark move from neutral, mm)")
    for label, truth in scans.items():
        print(f"{label:<14}{truth:>8.2f}{preset[label]:>8.2f}{preset[label] / truth:>14.2f}")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from imface_core.checkpoint import store_in_model
    from imface_core.compute import resolve_device
    from imface_core.evaluation.expression_strength import GAIN_STEPS, calibrate_expression_gains
    from imface_core.face_model import FaceModel
    from imface_core.io_utils import check_output_path

    out = Path(args.out or args.model)
    check_output_path(out, expected_bytes=Path(args.model).stat().st_size if Path(args.model).is_file() else 0)
    model = FaceModel.load(args.model, device=resolve_device(args.device))
    with tqdm(total=len(GAIN_STEPS), unit="gain", desc="trying gains") as bar:
        result = calibrate_expression_gains(model, args.data, progress=lambda done, total: bar.update(done - bar.n))
    _table("before (presets as the mean codes)", result.scans_mm, result.before_mm)
    _table("after", result.scans_mm, result.after_mm)
    store_in_model(args.model, {"expression_gains": model.expression_gains}, out)
    gains = result.gains.values()
    inside = sum(0.8 <= result.after_mm[k] / v <= 1.2 for k, v in result.scans_mm.items())
    print(f"wrote {out}: gains {min(gains):.2f}-{max(gains):.2f}; {inside} of {len(result.scans_mm)} "
          "labels within 0.8-1.2 of their scans")
    return 0
