"""``imface eval``: fit held-out scans (full model, stage 1 only, PCA baseline) and tabulate the errors."""

from __future__ import annotations

import argparse

from imface_core.commands import add_device_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="fit held-out scans three ways and print Chamfer / F-score tables",
        description="Fit every held-out scan of DATA_DIR (or the first --limit, taken so that every expression "
        "comes before any repeats, across people) with (1) the full model, (2) its stage-1 codes without the "
        "refinement field, (3) a linear PCA baseline with as many identity + expression parameters built from the "
        "raw training scans; plus MakeHuman faces fitted without landmarks (cross-dataset). Results are appended "
        "to OUT/results.jsonl as they come (a rerun resumes); the table goes to OUT/table.md.",
    )
    p.add_argument("--model", default=None, help="model checkpoint (default: resources/imface_compact.pt)")
    p.add_argument("--data", required=True, help="prepared held-out scans (DATA_DIR from `imface prep`), or the "
                   "folder holding the splits when --split is given")
    p.add_argument("--split", default=None, help="evaluate DATA_DIR/SPLIT (e.g. test)")
    p.add_argument("--raw", default=None, help="fit the raw held-out scans of this folder through the full user "
                   "path (alignment without landmarks) instead of the prepared samples")
    p.add_argument("--train-raw", default=None, help="raw training scans for the PCA baseline "
                   "(default: DATA_DIR/../raw_train)")
    p.add_argument("--out", default="eval_out", help="output folder (results.jsonl, table.md, summary.json)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only this many held-out scans")
    p.add_argument("--steps", type=int, default=None, help="fitting steps per scan (default 300)")
    p.add_argument("--resolution", type=int, default=128, help="mesh resolution of the reconstructions")
    p.add_argument("--makehuman", type=int, default=4, help="cross-dataset MakeHuman faces (0: skip)")
    p.add_argument("--makehuman-file", default=None, help="mh_face_targets.npz (default: ../shared/data/makehuman)")
    p.add_argument("--no-pca", action="store_true", help="skip the PCA baseline")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the fit's small "
                   "batches run faster on one thread than on two; 0 leaves torch's default)")
    add_device_option(p, "cpu", "a fit's small batches")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from imface_core.compute import resolve_device, set_compute_threads
    from imface_core.io_utils import check_output_path

    from imface_core.evaluation.runner import EvalSettings, format_tables, run_eval, select_scans
    from imface_core.face_model import DEFAULT_MODEL, FaceModel

    from pathlib import Path

    device = resolve_device(args.device)
    check_output_path(args.out, folder=True)
    if args.threads:
        set_compute_threads(args.threads)
    if args.split:
        args.data = str(Path(args.data) / args.split)
    model = FaceModel.load(args.model or DEFAULT_MODEL, device=device)
    settings = EvalSettings(
        data_dir=args.data, out_dir=args.out, raw_dir=args.raw, train_raw_dir=args.train_raw, limit=args.limit,
        steps=args.steps, resolution=args.resolution, seed=args.seed, makehuman=args.makehuman,
        makehuman_path=args.makehuman_file, pca=not args.no_pca,
    )
    total = len(select_scans(args.data, args.limit)) + max(0, args.makehuman)
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
    print(f"results: {args.out}/results.jsonl, table: {args.out}/table.md")
    return 0
