"""``imface region``: learn a model's face region from its training scans and store it in the model file."""

from __future__ import annotations

import argparse

from imface_core.commands import add_device_option
from imface_core.commands.settings import add_settings_options, settings_from_args
from imface_core.settings import RegionSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "region",
        help="learn the face region (where the training scans had surface) and store it in the model file",
        description="Map the prepared training scans' surface points to template space with their training "
        "codes and record, per 2.5 mm voxel, the share of scans covering it. Every mesh of the model is then cut "
        "to where at least half of them had surface (FaceModel.mesh(crop=False) keeps the whole surface). "
        "`imface train` does this itself at the end of a run.",
    )
    p.add_argument("--model", required=True, help="model file to learn the region for (written in place "
                   "unless --out is given)")
    p.add_argument("--data", required=True, help="the prepared data folder the model was trained on")
    p.add_argument("--out", default=None, help="write the model with its region here instead")
    add_settings_options(p, RegionSettings)
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from imface_core.compute import resolve_device
    from imface_core.face_model import FaceModel
    from imface_core.io_utils import check_output_path
    from imface_core.training.face_region import learn_face_region, store_face_region

    settings = settings_from_args(RegionSettings, args)
    device = resolve_device(args.device)
    out = Path(args.out or args.model)
    check_output_path(out, expected_bytes=Path(args.model).stat().st_size if Path(args.model).is_file() else 0)
    model = FaceModel.load(args.model, device=device)
    with tqdm(unit="scan", desc="face region") as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        region = learn_face_region(model, args.data, max_scans=settings.scans, progress=progress)
    store_face_region(args.model, region, out)
    inside = float((region.coverage >= region.threshold).mean())
    print(f"wrote {out}: face region from {region.scans} scans, {region.coverage.shape} voxels of "
          f"{region.spacing * 100:.1f} mm ({100 * inside:.1f} % inside)")
    return 0
