"""``imface synth``: write synthetic FaceScape-like scans from an ICT face model."""

from __future__ import annotations

import argparse

from imface_core.data.expressions import EXPRESSION_NAMES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="synthesise detailed face scans (identities x expressions) from a face model",
        description="Draw people (identity coefficients ~ N(0, sigma^2)) and named expressions "
        f"({', '.join(EXPRESSION_NAMES)}), add wrinkles and skin texture, and write "
        "OUT/<identity>/<k>_<expression>.ply with landmarks and a manifest.",
    )
    p.add_argument("--face-model", required=True, help="ict_head_sockets.npz or an ICT-FaceKit FaceXModel/ folder")
    p.add_argument("--out", required=True, help="output folder (RAW_DIR)")
    p.add_argument("--identities", type=int, default=40)
    p.add_argument("--expressions", type=int, default=20, help=f"first M named expressions (max {len(EXPRESSION_NAMES)})")
    p.add_argument("--seed", type=int, default=0, help="different seeds give different people")
    p.add_argument("--sigma", type=float, default=1.0, help="std of the identity coefficients")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: up to 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from imface_core.data.synth import default_jobs, synthesize

    total = args.identities * args.expressions
    with tqdm(total=total, unit="scan", desc="synth") as bar:
        synthesize(
            args.face_model,
            args.out,
            args.identities,
            args.expressions,
            args.seed,
            sigma=args.sigma,
            jobs=args.jobs or default_jobs(),
            progress=bar.update,
        )
    print(f"wrote {total} scans and manifest.json to {args.out}")
    return 0
