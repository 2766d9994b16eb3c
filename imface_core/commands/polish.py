"""``imface polish``: more training of a run's wrinkle field (RDF and z_det) with the coarse model frozen."""

from __future__ import annotations

import argparse

from imface_core.commands import add_device_option
from imface_core.commands.settings import add_settings_options, settings_from_args
from imface_core.settings import POLISH_PRESETS, PolishSettings

POLISH_OPTIONS = ["steps", "batch_scans", "points", "cache_points", "lr_net", "lr_codes", "warmup_steps", "fresh_field",
                  "plane_channels", "code_dim", "plane_init", "plane_mixing", "person_code_std", "residual_points",
                  "plane_smooth_texels", "plane_lr_scale"]
"""The settings ``imface polish`` takes (the shipped model's recipe and the batch sizes); the others (near-surface
points, banded plane bases, logging) keep their dataclass defaults."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "polish",
        help="train a finished run's wrinkle field further (fast on a CPU)",
        description="Trains only the refinement displacement field and the per-scan detail codes of the run in "
        "RUN_DIR, everything else frozen, through a linearised fine SDF whose coarse parts are computed once "
        "(about 13x the points per second of a stage-2 step on a CPU). Updates RUN_DIR/checkpoint.pt "
        "(resumable: run the same command again) and writes RUN_DIR/model.pt at the end.",
    )
    p.add_argument("--run", required=True, help="training run folder with checkpoint.pt (from `imface train`)")
    p.add_argument("--data", required=True, help="the prepared data folder the run was trained on")
    p.add_argument("--preset", choices=sorted(POLISH_PRESETS), default=None,
                   help="start from a named recipe; options given as well change it (v5: the shipped model's "
                        "wrinkle field, resources/MODEL_CARD.md)")
    add_settings_options(p, PolishSettings, POLISH_OPTIONS, flags={"lr_net": "--lr", "lr_codes": "--codes-lr",
                                                                   "code_dim": "--det-dim"})
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imface_core.compute import resolve_device
    from imface_core.errors import CommandError
    from imface_core.io_utils import check_output_path
    from imface_core.training.detail_polish import DetailPolisher

    if args.max_minutes is not None and not args.max_minutes > 0:
        raise CommandError(f"--max-minutes must be positive, got {args.max_minutes}")
    settings = settings_from_args(PolishSettings, args, base=POLISH_PRESETS.get(args.preset))
    device = resolve_device(args.device)
    check_output_path(args.run, folder=True)
    polisher = DetailPolisher(args.run, args.data, settings, max_minutes=args.max_minutes, device=device)
    if polisher.step >= settings.steps:
        print(f"already polished to step {polisher.step}; pass a larger --steps to go on")
        return 0
    record = polisher.run()
    state = "finished" if record["step"] >= settings.steps else "stopped (run the same command to go on)"
    print(f"polish {state} at step {record['step']} after {record['seconds'] / 60:.1f} min; "
          f"fine SDF error on {settings.check_scans} training scans (exact pipeline): "
          f"{record['error_before_mm']:.4f} -> {record['error_after_mm']:.4f} mm; "
          f"linearisation error {record['linearisation_error_mm']:.5f} mm; model: {args.run}/model.pt")
    return 0
