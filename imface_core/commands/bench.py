"""``imface bench``: time the inference engine (dense baseline, model.mesh, previews) on a model."""

from __future__ import annotations

import argparse

from imface_core.commands import add_device_option
from imface_core.commands.settings import add_settings_options, settings_from_args
from imface_core.settings import BenchSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark mesh extraction: dense baseline vs sparse model.mesh vs slider previews",
        description="Measures, on one face: the dense-grid baseline (fine SDF), model.mesh at the resolution "
        "(exact and displacement methods), the first preview after a slider-sized code change and the preview "
        "of a follow-up change (grid and template paths); prints ratios and Chamfer distances in mm. "
        "The full run at 256 takes minutes (the dense baseline alone); use --resolution/--baseline-resolution/"
        "--repeats for a short run.",
    )
    p.add_argument("--model", default=None, help="model file (default: the shipped resources/imface_compact.pt)")
    add_settings_options(p, BenchSettings, ["resolution", "baseline_resolution", "repeats", "preview_stride",
                                            "chamfer_samples"])
    add_device_option(p)
    p.add_argument("--json", default=None, help="also write the results as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from imface_core.engine.benchmark import format_report, run_benchmark
    from imface_core.face_model import DEFAULT_MODEL, FaceModel
    from imface_core.compute import resolve_device
    from imface_core.io_utils import atomic_write_text, check_output_path

    settings = settings_from_args(BenchSettings, args)
    device = resolve_device(args.device)
    if args.json:
        check_output_path(args.json)
    model = FaceModel.load(args.model or DEFAULT_MODEL, device=device)
    result = run_benchmark(model, settings, progress=lambda line: print(line, flush=True))
    print()
    print(format_report(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result.as_dict(), indent=1))
    return 0
