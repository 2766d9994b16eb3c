"""``imface prep``: turn raw scans into training samples (npz + pseudo-watertight ply)."""

from __future__ import annotations

import argparse

from imface_core.commands.settings import add_settings_options, settings_from_args
from imface_core.settings import PrepSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prep",
        help="normalise raw scans and sample surface / free-space points for training",
        description="For each RAW/<identity>/<k>_<expression>.ply (+ _landmarks.txt) write "
        "DATA/<identity>/<k>_<expression>.npz (what training reads: surface points with normals, "
        "free-space points with SDF and gradient, landmarks; int16/int8/float16, about 2.3 MB at the "
        "default counts) and the pseudo-watertight .ply (read by evaluation and fitting, not by "
        "training; --no-mesh skips it). Existing outputs are kept (the run resumes) unless --overwrite.",
    )
    p.add_argument("--raw", required=True, help="raw scan folder (RAW_DIR)")
    p.add_argument("--out", required=True, help="output folder (DATA_DIR)")
    add_settings_options(p, PrepSettings, ["surface_points", "free_points", "seed", "write_mesh"],
                         flags={"write_mesh": "--mesh"})
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: every CPU core)")
    p.add_argument("--overwrite", action="store_true", help="redo scans that already have outputs")
    p.set_defaults(func=run)


PREPARED_SCAN_BYTES = 2_300_000
"""One prepared scan's samples at the default sizes (compact format), for the free-space check."""
PREPARED_MESH_BYTES = 2_700_000
"""Its surface mesh (.ply), unless --no-mesh."""


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from imface_core.data.prep import find_raw_scans, prepare_dataset
    from imface_core.data.synth import default_jobs
    from pathlib import Path

    from imface_core.errors import DatasetError
    from imface_core.io_utils import check_output_path

    settings = settings_from_args(PrepSettings, args)
    if not Path(args.raw).is_dir():
        raise DatasetError(f"raw scan folder not found: `{args.raw}` (RAW/<person>/<k>_<expression>.ply, e.g. from "
                           "`imface synth`)")
    total = len(find_raw_scans(Path(args.raw)))
    per_scan = PREPARED_SCAN_BYTES + (PREPARED_MESH_BYTES if settings.write_mesh else 0)
    check_output_path(args.out, folder=True, expected_bytes=total * per_scan)
    with tqdm(total=total, unit="scan", desc="prep") as bar:
        done, skipped = prepare_dataset(
            args.raw, args.out, settings, jobs=args.jobs or default_jobs(), progress=bar.update, overwrite=args.overwrite
        )
    print(f"prepared {len(done)} scans into {args.out}")
    if skipped:
        print(f"skipped {len(skipped)} scans:")
        for item in skipped:
            print(f"  {item['error']}")
        return 1
    return 0
