"""``imface rig``: one identity as a glTF 2.0 binary with a morph target per named expression."""

from __future__ import annotations

import argparse

from imface_core.commands import add_device_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rig",
        help="write a face rig: neutral face + one morph target per named expression, as .glb",
        description="Carry the model's template mesh onto one identity (a training identity, or the codes of a "
        "fit) with the neutral expression, and onto the same identity with each named expression of the model "
        "(the mean expression code of the training scans with that label); write one glTF 2.0 binary: the "
        "neutral face with vertex normals (and correspondence colours with --colors correspondence), one "
        "morph target per expression named in mesh.extras.targetNames. Positions are in metres (glTF's unit; "
        "asset.extras states it), in the model's frame: nose tip at (0, 0, 0.04) m, +y up, +z front. Every "
        "rig of the same model and --resolution has the same vertex count and order.",
    )
    p.add_argument("--model", default=None, help="model file (default: the shipped resources/imface_compact.pt)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--identity", default=None, help="training identity (name or index)")
    who.add_argument("--codes", default=None, metavar="NPZ",
                     help="codes file (z_id, z_exp, z_det), e.g. OUT_codes.npz of `imface fit`; its z_id and z_det "
                     "are used, its z_exp is replaced by the expression presets")
    p.add_argument("--expressions", default=None,
                   help="comma-separated expressions to make targets of (default: all but the neutral one)")
    p.add_argument("--resolution", type=int, default=None,
                   help="grid resolution of the template mesh (default 128: about 27k vertices on the shipped model)")
    p.add_argument("--colors", choices=["none", "correspondence"], default="none",
                   help="correspondence: template coordinates as vertex colours (COLOR_0)")
    p.add_argument("--out", required=True, help="output file, .glb")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from tqdm import tqdm

    from imface_core.compute import resolve_device
    from imface_core.settings import check_mesh_resolution
    from imface_core.engine.memory import check_extraction_memory
    from imface_core.engine.rig import build_rig, rig_file_bytes, rig_glb_bytes
    from imface_core.engine.template_topology import TEMPLATE_RESOLUTION
    from imface_core.engine.transfer import load_codes
    from imface_core.errors import CommandError
    from imface_core.face_model import DEFAULT_MODEL, FaceModel
    from imface_core.io_utils import atomic_write_bytes, check_output_path

    out = Path(args.out)
    if out.suffix.lower() != ".glb":
        raise CommandError(f"--out must end in .glb, got `{out}`")
    resolution = TEMPLATE_RESOLUTION if args.resolution is None else args.resolution
    try:
        resolution = check_mesh_resolution(resolution)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    expressions = None
    if args.expressions is not None:
        expressions = [e.strip() for e in args.expressions.split(",") if e.strip()]
        if not expressions:
            raise CommandError("--expressions names no expression")
    device = resolve_device(args.device)
    if args.codes is not None and not Path(args.codes).is_file():
        raise CommandError(f"codes file not found: `{args.codes}`" if not Path(args.codes).exists()
                           else f"`{args.codes}` is a folder, not a codes file")
    # a face of ~2.5 N^2 / 2.4 vertices in the face region and 21 faces: a generous size for the space check
    vertices = int(2.5 * resolution**2)
    check_output_path(out, expected_bytes=rig_file_bytes(vertices, 2 * vertices, 24, args.colors != "none"))
    check_extraction_memory(resolution)
    model = FaceModel.load(args.model or DEFAULT_MODEL, device=device)
    try:
        if args.codes is not None:
            codes = load_codes(model, args.codes)
        else:
            codes = _identity_codes(model, args.identity)
    except (KeyError, IndexError) as exc:
        raise CommandError(str(exc).strip("'\"")) from exc
    t0 = time.perf_counter()
    count = (len(expressions) + 1) if expressions is not None else len(model.expressions)
    with tqdm(total=count, unit="face", desc="rig", mininterval=0.5) as bar:
        def progress(name, k, n):
            bar.set_postfix(expression=name, refresh=False)
            bar.update(k - bar.n)

        try:
            rig = build_rig(model, codes, expressions, resolution, colors=args.colors == "correspondence",
                            progress=progress)
        except KeyError as exc:
            raise CommandError(str(exc).strip("'\"")) from exc
        bar.update(bar.total - bar.n)
    source = {"model": Path(model.path).name if model.path else None,
              "identity": args.identity if args.codes is None else None,
              "codes": Path(args.codes).name if args.codes else None}
    data = rig_glb_bytes(rig, name="face", extras={"source": source})
    atomic_write_bytes(out, data)
    seconds = time.perf_counter() - t0
    print(f"wrote {out} ({len(rig.vertices)} vertices, {len(rig.faces)} triangles, {len(rig.targets)} morph "
          f"targets, base `{rig.info['base_expression']}`, metres, template topology "
          f"{rig.info['template_topology']}, {len(data) / 1e6:.1f} MB) in {seconds:.1f} s")
    return 0


def _identity_codes(model, identity: str):
    """A training identity's codes: its scan with the rig's base expression (else its first scan), whose z_exp
    the presets replace."""
    from imface_core.commands.generate import _name_or_index
    from imface_core.engine.rig import base_expression

    identity = _name_or_index(identity, model)
    base = base_expression(model)
    for expression in [base] + model.expressions:
        try:
            return model.codes(identity, expression)
        except KeyError:
            continue
    raise KeyError(f"identity `{identity}` has no training scan")
