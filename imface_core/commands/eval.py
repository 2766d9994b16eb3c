"""``imface eval``: fit held-out scans (full model, stage 1 only, PCA baseline) and tabulate the errors."""

from __future__ import annotations

import argparse

from imface_core.commands import add_device_option
from imface_core.commands.settings import add_settings_options, settings_from_args
from imface_core.settings import EvalSettings, ThreadSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="fit held-out scans three ways and print Chamfer / F-score tables",
        description="Fit every held-out scan of DATA_DIR (or the first --limit, taken so that every expression "
        "comes before any repeats, across people) with (1) the full model, (2) its stage-1 codes without the "
        "refinement field, (3) a linear PCA baseline with as many identity + expression parameters built from the "
        "raw training scans; plus MakeHuman faces fitted without landmarks (cross-dataset) and real scans (--real: "
        "fitted without landmarks, scored against their own frontal surface, overall and per face region). Results are appended "
        "to OUT/results.jsonl as they come (a rerun resumes); the table goes to OUT/table.md.",
    )
    p.add_argument("--model", default=None, help="model checkpoint (default: resources/imface_compact.pt)")
    p.add_argument("--data", default=None, help="prepared held-out scans (DATA_DIR from `imface prep`), or the "
                   "folder holding the splits when --split is given (optional with --real or --makehuman)")
    p.add_argument("--split", default=None, help="evaluate DATA_DIR/SPLIT (e.g. test)")
    add_settings_options(p, EvalSettings, ["raw_dir", "train_raw_dir", "out_dir", "limit", "steps", "resolution",
                                           "makehuman", "makehuman_path", "real_dir", "pca", "seed"],
                         flags={"raw_dir": "--raw", "train_raw_dir": "--train-raw", "out_dir": "--out",
                                "makehuman_path": "--makehuman-file", "real_dir": "--real"})
    add_settings_options(p, ThreadSettings)
    add_device_option(p, "cpu", "a fit's small batches")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from imface_core.compute import resolve_device, set_compute_threads
    from imface_core.io_utils import check_output_path

    from imface_core.evaluation.runner import format_tables, run_eval, select_scans
    from imface_core.face_model import DEFAULT_MODEL, FaceModel

    from pathlib import Path

    data_dir = None if args.data is None else str(Path(args.data) / args.split) if args.split else args.data
    settings = settings_from_args(EvalSettings, args, data_dir=data_dir)
    device = resolve_device(args.device)
    check_output_path(settings.out_dir, folder=True)
    threads = settings_from_args(ThreadSettings, args).threads
    if threads:
        set_compute_threads(threads)
    model = FaceModel.load(args.model or DEFAULT_MODEL, device=device)
    total = len(select_scans(settings.data_dir, settings.limit)) + settings.makehuman
    if settings.real_dir:
        from imface_core.evaluation.real_scans import real_scan_paths

        total += len(real_scan_paths(settings.real_dir))
    import time

    with tqdm(total=total, unit="scan", desc="eval", mininterval=1.0) as bar:
        last = [0.0]

        def fit_progress(p):
            now = time.monotonic()
            if now - last[0] > 1.0 or not p.steps:  # at most once a second
                last[0] = now
                bar.set_postfix_str(f"{p.phase} {p.step}/{p.steps}" if p.steps else p.phase)

        rows = run_eval(model, settings, progress=lambda name: bar.update(1), fit_progress=fit_progress)
    print(format_tables(rows, settings))
    print(f"results: {settings.out_dir}/results.jsonl, table: {settings.out_dir}/table.md")
    return 0
