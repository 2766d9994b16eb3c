"""``imface generate``: one face mesh from a model (a training scan or a random face), optionally with
another face's details, exported as OBJ/PLY."""

from __future__ import annotations

import argparse

from imface_core.commands import add_device_option
from imface_core.commands.settings import add_settings_options, settings_from_args
from imface_core.settings import GenerateSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="extract a face mesh (training scan or random face) and export it as OBJ or PLY",
        description="Mesh one face of the model with the sparse extractor and write it atomically. "
        "The face is a training scan (--identity/--expression, names or indices) or a random face "
        "(--random SEED: identity, expression and detail codes drawn along the principal directions of the "
        "training codes; with --expression the named expression's mean code is used instead). "
        "--detail-from takes the details (z_det) of another face: an .npz with arrays z_id, z_exp, z_det "
        "(as written by --save-codes) or IDENTITY:EXPRESSION of a training scan.",
    )
    p.add_argument("--model", default=None, help="model file (default: the shipped resources/imface_compact.pt)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--identity", default=None, help="training identity (name or index; default: the model's first)")
    who.add_argument("--random", type=int, default=None, metavar="SEED", help="a random face from this seed")
    p.add_argument("--expression", default=None, help="expression (name or index; default: the first, or random)")
    p.add_argument("--detail-from", default=None, metavar="SCAN_CODES",
                   help="take z_det from an .npz (z_id, z_exp, z_det) or IDENTITY:EXPRESSION")
    add_settings_options(p, GenerateSettings)
    p.add_argument("--out", required=True, help="output file, .obj or .ply")
    p.add_argument("--save-codes", default=None, metavar="NPZ", help="also write the face's codes as .npz")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time
    from dataclasses import replace
    from pathlib import Path

    from tqdm import tqdm

    from imface_core.compute import resolve_device
    from imface_core.engine.export import export_mesh, mesh_file_bytes
    from imface_core.engine.extraction import SparseGrid
    from imface_core.engine.memory import check_extraction_memory
    from imface_core.errors import CommandError
    from imface_core.io_utils import check_output_path
    from imface_core.engine.navigation import LatentNavigator
    from imface_core.engine.transfer import load_codes, save_codes, transfer_detail
    from imface_core.face_model import DEFAULT_MODEL, FaceModel
    from imface_core.engine.face_mesh import MESH_RESOLUTION
    from imface_core.engine.template_topology import TEMPLATE_RESOLUTION

    out = Path(args.out)
    s = settings_from_args(GenerateSettings, args)
    if s.resolution is None:
        s = replace(s, resolution=TEMPLATE_RESOLUTION if s.topology == "template" else MESH_RESOLUTION)
    if out.suffix.lower() not in (".obj", ".ply"):
        raise CommandError(f"--out must end in .obj or .ply, got `{out}`")
    device = resolve_device(args.device)
    check_output_path(out, expected_bytes=mesh_file_bytes(s.resolution, out.suffix))
    if args.save_codes:
        check_output_path(args.save_codes)
    check_extraction_memory(s.resolution)
    model = FaceModel.load(args.model or DEFAULT_MODEL, device=device)
    try:
        if args.random is not None:
            codes = LatentNavigator(model).random_face(args.random, expression=_name_or_index(args.expression, model))
        else:
            identity = _name_or_index(args.identity, model, default=0)
            expression = _name_or_index(args.expression, model, default=0)
            codes = model.codes(identity, expression)
        if args.detail_from:
            codes = transfer_detail(codes, load_codes(model, args.detail_from))
    except (KeyError, IndexError) as exc:
        raise CommandError(str(exc).strip("'\"")) from exc
    t0 = time.perf_counter()
    if s.topology == "template":
        return _write_template_face(model, codes, s, args.save_codes, out, t0)
    levels = len(SparseGrid(s.resolution).strides)
    with tqdm(total=levels, unit="level", desc=f"mesh {s.resolution}^3", mininterval=0.5) as bar:
        def progress(level):
            bar.set_postfix(stride=level.stride, evaluated=f"{level.evaluated:,}", refresh=False)
            bar.update(1)

        mesh = model.mesh(codes, s.resolution, detail=s.detail_scale != 0, detail_scale=s.detail_scale,
                          colors=None if s.colors == "none" else s.colors, method=s.method,
                          on_level=progress, crop=not s.whole_surface)
    seconds = time.perf_counter() - t0
    if len(mesh.faces) == 0:
        raise CommandError("the model produced no surface for this face")
    export_mesh(mesh, out, units=s.units)
    if args.save_codes:
        save_codes(args.save_codes, codes)
    print(f"wrote {out} ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces, {s.units}) "
          f"in {seconds:.1f} s at resolution {s.resolution}")
    return 0


def _write_template_face(model, codes, s, save_codes_to, out, t0) -> int:
    import time

    from imface_core.engine.export import export_mesh
    from imface_core.engine.transfer import save_codes

    mesh = model.mesh(codes, s.resolution, detail=s.detail_scale != 0, detail_scale=s.detail_scale,
                      colors=None if s.colors == "none" else s.colors, topology="template",
                      crop=not s.whole_surface)
    seconds = time.perf_counter() - t0
    export_mesh(mesh, out, units=s.units)
    if save_codes_to:
        save_codes(save_codes_to, codes)
    info = mesh.metadata["template_topology"]
    print(f"wrote {out} ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces, {s.units}, template topology "
          f"{info['fingerprint']} at resolution {s.resolution}) in {seconds:.1f} s")
    return 0


def _name_or_index(value: str | None, model, default=None):
    """A CLI name-or-index: digits that are not themselves a name become an index."""
    if value is None:
        return default
    names = set(model.identities) | set(model.expressions)
    return int(value) if value.isdigit() and value not in names else value
