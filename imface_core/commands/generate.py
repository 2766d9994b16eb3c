"""``imface generate``: one face mesh from a model (a training scan or a random face), optionally with
another face's details, exported as OBJ/PLY."""

from __future__ import annotations

import argparse

from imface_core.commands import add_device_option


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
    who.add_argument("--identity", default=None, help="training identity (name or index; default 0)")
    who.add_argument("--random", type=int, default=None, metavar="SEED", help="a random face from this seed")
    p.add_argument("--expression", default=None, help="expression (name or index; default: the first, or random)")
    p.add_argument("--detail-from", default=None, metavar="SCAN_CODES",
                   help="take z_det from an .npz (z_id, z_exp, z_det) or IDENTITY:EXPRESSION")
    p.add_argument("--detail-scale", type=float, default=1.0, help="detail strength (0 = coarse shape)")
    p.add_argument("--resolution", type=int, default=None,
                   help="grid samples per axis over [-1, 1] (default 256; with --topology template the template "
                   "mesh's, default 128)")
    p.add_argument("--topology", choices=["marching_cubes", "template"], default="marching_cubes",
                   help="marching_cubes: this face's own mesh; template: the model's template mesh carried onto "
                   "the face (the same vertex count and order for every face of the model)")
    p.add_argument("--method", choices=["exact", "displace"], default="exact",
                   help="exact fine-SDF marching cubes, or coarse surface + detail displacement (faster)")
    p.add_argument("--colors", choices=["none", "correspondence"], default="none",
                   help="vertex colours: correspondence = template coordinates as RGB")
    p.add_argument("--whole-surface", action="store_true",
                   help="keep the whole surface in the box instead of cutting it to the model's face region")
    p.add_argument("--units", choices=["mm", "normalised"], default="mm",
                   help="mm (normalised x 100, nose tip at z = 40 mm) or normalised model units")
    p.add_argument("--out", required=True, help="output file, .obj or .ply")
    p.add_argument("--save-codes", default=None, metavar="NPZ", help="also write the face's codes as .npz")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time
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
    from imface_core.engine.template_topology import TEMPLATE_RESOLUTION

    out = Path(args.out)
    if args.resolution is None:
        args.resolution = TEMPLATE_RESOLUTION if args.topology == "template" else 256
    if out.suffix.lower() not in (".obj", ".ply"):
        raise CommandError(f"--out must end in .obj or .ply, got `{out}`")
    if args.resolution < 8 or args.resolution > 1024:
        raise CommandError(f"--resolution must be between 8 and 1024, got {args.resolution}")
    device = resolve_device(args.device)
    check_output_path(out, expected_bytes=mesh_file_bytes(args.resolution, out.suffix))
    if args.save_codes:
        check_output_path(args.save_codes)
    check_extraction_memory(args.resolution)
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
    if args.topology == "template":
        return _write_template_face(model, codes, args, out, t0)
    levels = len(SparseGrid(args.resolution).strides)
    with tqdm(total=levels, unit="level", desc=f"mesh {args.resolution}^3", mininterval=0.5) as bar:
        def progress(level):
            bar.set_postfix(stride=level.stride, evaluated=f"{level.evaluated:,}", refresh=False)
            bar.update(1)

        mesh = model.mesh(codes, args.resolution, detail=args.detail_scale != 0, detail_scale=args.detail_scale,
                          colors=None if args.colors == "none" else args.colors, method=args.method,
                          on_level=progress, crop=not args.whole_surface)
    seconds = time.perf_counter() - t0
    if len(mesh.faces) == 0:
        raise CommandError("the model produced no surface for this face")
    export_mesh(mesh, out, units=args.units)
    if args.save_codes:
        save_codes(args.save_codes, codes)
    print(f"wrote {out} ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces, {args.units}) "
          f"in {seconds:.1f} s at resolution {args.resolution}")
    return 0


def _write_template_face(model, codes, args, out, t0) -> int:
    import time

    from imface_core.engine.export import export_mesh
    from imface_core.engine.transfer import save_codes

    mesh = model.mesh(codes, args.resolution, detail=args.detail_scale != 0, detail_scale=args.detail_scale,
                      colors=None if args.colors == "none" else args.colors, topology="template",
                      crop=not args.whole_surface)
    seconds = time.perf_counter() - t0
    export_mesh(mesh, out, units=args.units)
    if args.save_codes:
        save_codes(args.save_codes, codes)
    info = mesh.metadata["template_topology"]
    print(f"wrote {out} ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces, {args.units}, template topology "
          f"{info['fingerprint']} at resolution {args.resolution}) in {seconds:.1f} s")
    return 0


def _name_or_index(value: str | None, model, default=None):
    """A CLI name-or-index: digits that are not themselves a name become an index."""
    if value is None:
        return default
    names = set(model.identities) | set(model.expressions)
    return int(value) if value.isdigit() and value not in names else value
