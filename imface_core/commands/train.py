"""``imface train``: train ImFace++ on a prepared data folder (two stages, resumable)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from imface_core.commands import add_device_option


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the model on a prepared data folder",
        description="Two-stage ImFace++ training. Checkpoints every few minutes to RUN_DIR/checkpoint.pt; "
        "RUN_DIR/model.pt is the inference model at the end. Runs under `torchrun --nproc_per_node=N` "
        "with DistributedDataParallel as well.",
    )
    p.add_argument("--data", required=True, help="prepared data folder (from `imface prep`)")
    p.add_argument("--config", default="compact", choices=["tiny", "compact", "paper"])
    p.add_argument("--out", required=True, help="run folder (RUN_DIR)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR exactly where it stopped")
    p.add_argument("--force", action="store_true", help="start a new run in a RUN_DIR that holds one (its "
                   "checkpoint.pt and model.pt are kept as checkpoint.prev.pt and model.prev.pt)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    p.add_argument("--stage1-steps", type=_non_negative_int, default=None, help="override the config's stage-1 steps")
    p.add_argument("--stage2-steps", type=_non_negative_int, default=None,
                   help="override the config's stage-2 steps (with --resume: lengthen a run's stage 2)")
    p.add_argument("--batch-scans", type=_positive_int, default=None, help="scans per step (also with --resume)")
    p.add_argument("--surface-points", type=_positive_int, default=None, help="surface points per scan per step (also with --resume)")
    p.add_argument("--free-points", type=_positive_int, default=None, help="free-space points per scan per step (also with --resume)")
    p.add_argument("--detail-frequency", type=_positive_float, default=None,
                   help="first-layer frequency factor of the refinement (wrinkle) field, new runs only "
                        "(default 30; 120 fitted one scan's wrinkles closer, see resources/MODEL_CARD.md)")
    add_device_option(p)
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imface_core.training.config import preset, with_overrides
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
    device = resolve_device(args.device)
    check_output_path(args.out, folder=True)
    if not args.resume:
        keep_previous_run(Path(args.out), args.force, move=False)  # refuse before loading the data
    cfg = with_overrides(preset(args.config), stage1_steps=args.stage1_steps, seed=args.seed, **continuable)
    if args.detail_frequency is not None:
        cfg = replace(cfg, model=replace(cfg.model, det_first_omega0=args.detail_frequency))
    trainer = Trainer(args.data, args.out, cfg, resume=args.resume, max_minutes=args.max_minutes,
                      device=device, resume_overrides=continuable if args.resume else None, force=args.force)
    result = trainer.run()
    if trainer.dist.main:
        state = "finished" if result["finished"] else "stopped (resume with --resume)"
        print(f"training {state} at step {result['step']} after {result['seconds'] / 60:.1f} min; model: {args.out}/model.pt")
    return 0
