"""``imface train``: train ImFace++ on a prepared data folder (two stages, resumable)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from imface_core.commands import add_device_option
from imface_core.commands.settings import field_docs
from imface_core.model.config import ModelConfig
from imface_core.training.config import CONTINUABLE, PRESETS, TrainConfig, preset

OVERRIDES = {"stage1_steps": "stage1_steps", "stage2_steps": "stage2_steps", "batch_scans": "batch_scans",
             "surface_points": "surface_points", "free_points": "free_points", "detail_frequency": "det_first_omega0",
             "seed": "seed"}
"""Options of ``imface train`` that replace a setting of the ``--config`` preset (unset: the preset's), and the
``TrainConfig`` field each replaces (``det_first_omega0``: the ``ModelConfig`` of the preset)."""


def _preset_value(name: str, field: str):
    cfg = preset(name)
    return getattr(cfg.model if field in field_docs(ModelConfig) else cfg, field)


def _override_option(p: argparse.ArgumentParser, option: str, value_type) -> None:
    """``--option``: help from the docstring of the preset field it replaces, defaults from the presets."""
    field = OVERRIDES[option]
    doc = field_docs(ModelConfig if field in field_docs(ModelConfig) else TrainConfig)[field]
    when = "Also with --resume." if field in CONTINUABLE else "New runs only."
    defaults = ", ".join(f"{name} {_preset_value(name, field)}" for name in PRESETS)
    p.add_argument("--" + option.replace("_", "-"), type=value_type, default=None,
                   metavar="X" if value_type is float else "N",
                   help=f"{doc} {when} (default: the --config preset's: {defaults})".replace("%", "%%"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the model on a prepared data folder",
        description="Two-stage ImFace++ training. Checkpoints every few minutes to RUN_DIR/checkpoint.pt; "
        "RUN_DIR/model.pt is the inference model at the end. Runs under `torchrun --nproc_per_node=N` "
        "with DistributedDataParallel as well.",
    )
    p.add_argument("--data", required=True, help="prepared data folder (from `imface prep`)")
    p.add_argument("--config", default="compact", choices=PRESETS, help="the preset the options below change "
                   "(default: %(default)s)")
    p.add_argument("--out", required=True, help="run folder (RUN_DIR)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR exactly where it stopped")
    p.add_argument("--force", action="store_true", help="start a new run in a RUN_DIR that holds one (its "
                   "checkpoint.pt and model.pt are kept as checkpoint.prev.pt and model.prev.pt)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    for option, value_type in (("stage1_steps", int), ("stage2_steps", int), ("batch_scans", int),
                               ("surface_points", int), ("free_points", int), ("detail_frequency", float)):
        _override_option(p, option, value_type)
    add_device_option(p)
    _override_option(p, "seed", int)
    p.set_defaults(func=run)


def _config(args: argparse.Namespace, continuable: dict) -> TrainConfig:
    """The ``--config`` preset with the options given; the configs' own checks refuse bad values, which are
    reported under the option's name (``--batch-scans must be at least 1, got 0``)."""
    from imface_core.errors import CommandError
    from imface_core.training.config import with_overrides

    try:
        cfg = with_overrides(preset(args.config), stage1_steps=args.stage1_steps, seed=args.seed, **continuable)
        if args.detail_frequency is not None:
            cfg = replace(cfg, model=replace(cfg.model, det_first_omega0=args.detail_frequency))
    except ValueError as exc:
        message = str(exc)
        for option, field in OVERRIDES.items():
            message = message.replace(f"{field} must", f"--{option.replace('_', '-')} must")
        raise CommandError(message) from exc
    return cfg


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from imface_core.compute import resolve_device
    from imface_core.io_utils import check_output_path
    from imface_core.training.trainer import Trainer, keep_previous_run

    continuable = {"stage2_steps": args.stage2_steps, "batch_scans": args.batch_scans,
                   "surface_points": args.surface_points, "free_points": args.free_points}
    if args.resume and (args.stage1_steps is not None or args.seed is not None or args.detail_frequency is not None):
        print("imface train: --stage1-steps, --seed and --detail-frequency cannot change when resuming; leave them out",
              file=sys.stderr)
        return 2
    if args.resume and args.force:
        print("imface train: --resume continues a run and --force starts a new one; give one of them",
              file=sys.stderr)
        return 2
    cfg = _config(args, continuable)
    device = resolve_device(args.device)
    check_output_path(args.out, folder=True)
    if not args.resume:
        keep_previous_run(Path(args.out), args.force, move=False)  # refuse before loading the data
    trainer = Trainer(args.data, args.out, cfg, resume=args.resume, max_minutes=args.max_minutes,
                      device=device, resume_overrides=continuable if args.resume else None, force=args.force)
    result = trainer.run()
    if trainer.dist.main:
        state = "finished" if result["finished"] else "stopped (resume with --resume)"
        print(f"training {state} at step {result['step']} after {result['seconds'] / 60:.1f} min; model: {args.out}/model.pt")
    return 0
