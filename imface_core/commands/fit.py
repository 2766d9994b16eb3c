"""``imface fit``: fit the model to a scan and write the fitted mesh, the codes and a report."""

from __future__ import annotations

import argparse

from imface_core.commands import add_device_option
from imface_core.commands.settings import add_settings_options, settings_from_args
from imface_core.settings import AlignSettings, FitOutputSettings, FitSettings, ThreadSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="fit the model to a 3D scan (mesh or point cloud): codes, fitted mesh, report",
        description="Align SCAN to the model's mean face (with --landmarks, or by multi-start ICP without), "
        "preprocess it exactly as training data, optimise the codes (z_id, z_exp first, then z_det), and write "
        "OUT.obj (fitted mesh, millimetres, in the scan's own frame; with --topology template in the model's template "
        "topology), OUT_codes.npz (z_id, z_exp, z_det, "
        "transform: 4x4 scan mm -> normalised units) and OUT_report.json (per-stage loss, times, Chamfer and "
        "F-score against the scan, error-map statistics).",
    )
    p.add_argument("scan", help="OBJ, PLY, STL, OFF, GLB/glTF mesh or PLY/XYZ point cloud")
    p.add_argument("--model", default=None, help="model checkpoint (default: the shipped resources/imface_compact.pt)")
    p.add_argument("--out", required=True, help="output prefix OUT (writes OUT.obj, OUT_codes.npz, OUT_report.json)")
    p.add_argument("--landmarks", default=None, help="68 (iBUG) or 5 landmarks, one `x y z` per line, scan units")
    p.add_argument("--units", default="auto", choices=["auto", "mm", "cm", "dm", "m", "in", "um"],
                   help="units of the scan's coordinates (auto: detected from the face's size)")
    add_settings_options(p, FitOutputSettings)
    add_settings_options(p, ThreadSettings)
    add_device_option(p, "cpu", "a fit's small batches")
    add_settings_options(p, FitSettings, ["steps", "seed"])
    add_settings_options(p, AlignSettings, ["orientation"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from imface_core.compute import resolve_device, set_compute_threads
    from imface_core.engine.export import mesh_file_bytes
    from imface_core.errors import ScanError
    from imface_core.face_model import DEFAULT_MODEL, FaceModel
    from imface_core.fitting import fit_output_paths, fit_scan, save_fit
    from imface_core.io_utils import check_output_path

    settings = settings_from_args(FitSettings, args)
    align_settings = settings_from_args(AlignSettings, args, seed=settings.seed)
    output = settings_from_args(FitOutputSettings, args)
    threads = settings_from_args(ThreadSettings, args).threads
    device = resolve_device(args.device)
    for given, what in ((args.scan, "scan"), (args.landmarks, "landmark file")):
        if given is not None and not Path(given).is_file():
            raise ScanError(f"{what} not found: `{given}`" if not Path(given).exists()
                            else f"`{given}` is a folder, not a {what}")
    outputs = fit_output_paths(args.out)
    for path in outputs.values():
        check_output_path(path, expected_bytes=mesh_file_bytes(output.marching_cubes_resolution, "obj"))
    if threads:
        set_compute_threads(threads)
    model = FaceModel.load(args.model or DEFAULT_MODEL, device=device)
    bar = tqdm(total=settings.steps, unit="step", desc="fit", mininterval=0.5)

    def progress(p):
        bar.set_description(f"fit ({p.phase})", refresh=False)
        if p.steps:
            bar.set_postfix(sdf_mm=f"{p.sdf_mm:.3f}", refresh=False)
            bar.update(p.step - bar.n)
        else:
            bar.refresh()

    try:
        result = fit_scan(model, args.scan, landmarks=args.landmarks, units=args.units, settings=settings,
                          align_settings=align_settings,
                          mesh_resolution=output.marching_cubes_resolution if output.topology == "marching_cubes"
                          else output.resolution, topology=output.topology, progress=progress)
    finally:
        bar.close()
    paths = save_fit(result, Path(args.out))
    m = result.metrics
    stats = result.error_map.stats
    print(f"fitted {args.scan} in {result.timings['total']:.1f} s "
          f"(optimisation {result.timings['optimise']:.1f} s, {len(result.code_fit.history)} steps)")
    if m is not None:
        print(f"Chamfer {m.chamfer_mm:.3f} mm, F-score@1mm {m.fscore:.1f} against the scan's frontal surface; "
              f"error map: median {stats.get('median_mm', float('nan')):.2f} mm over "
              f"{100 * stats.get('covered_fraction', 0):.0f}% of the scan's vertices")
    for w in result.warnings:
        print(f"warning: {w}")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
