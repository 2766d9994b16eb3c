"""``imface synth``: write synthetic FaceScape-like scans from an ICT face model."""

from __future__ import annotations

import argparse

from imface_core.commands.settings import add_settings_options, settings_from_args
from imface_core.data.expressions import EXPRESSION_NAMES
from imface_core.settings import SynthSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="synthesise detailed face scans (identities x expressions) from a face model",
        description="Draw people (identity coefficients ~ N(0, sigma^2) over every identity mode of the "
        f"model: 100 for ICT) and named expressions ({', '.join(EXPRESSION_NAMES)}), add wrinkles and "
        "skin texture, and write OUT/<identity>/<k>_<expression>.ply with landmarks and a manifest. "
        "A scan is the skin plus the eyeballs when the model has them (ict_head_eyes.npz, the default): "
        "the eyes show between open lids and closed lids cover them; eyeballs get no texture or wrinkles. "
        f"--expressions takes at most {len(EXPRESSION_NAMES)}. Run again after a stop, it keeps the scans "
        "already written and makes the rest.",
    )
    p.add_argument(
        "--face-model", default=None,
        help="ict_head_eyes.npz (scans with eyes), ict_head_sockets.npz (without) or an ICT-FaceKit "
        "FaceXModel/ folder (default: ../shared/data/ict_facekit/ict_head_eyes.npz, or $IMFACE_SHARED/...)",
    )
    p.add_argument("--out", required=True, help="output folder (RAW_DIR)")
    add_settings_options(p, SynthSettings)
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: every CPU core)")
    p.set_defaults(func=run)


RAW_SCAN_BYTES = 5_000_000
"""About the size of one synthetic scan with eyes (PLY and landmarks), for the free-space check."""


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from imface_core.data.face_basis import default_face_model
    from imface_core.data.synth import default_jobs, synthesize
    from imface_core.errors import CommandError
    from imface_core.io_utils import check_output_path

    settings = settings_from_args(SynthSettings, args)
    face_model = args.face_model or default_face_model()
    if face_model is None:
        raise CommandError(
            "no face model given and none found in ../shared/data/ict_facekit/: pass --face-model with "
            "ict_head_eyes.npz, ict_head_sockets.npz or an ICT-FaceKit FaceXModel/ folder"
        )
    total = settings.identities * settings.expressions
    check_output_path(args.out, folder=True, expected_bytes=total * RAW_SCAN_BYTES)
    with tqdm(total=total, unit="scan", desc="synth") as bar:
        synthesize(
            face_model,
            args.out,
            settings.identities,
            settings.expressions,
            settings.seed,
            sigma=settings.sigma,
            jobs=args.jobs or default_jobs(),
            progress=bar.update,
        )
    print(f"wrote {total} scans and manifest.json to {args.out} (face model {face_model})")
    return 0
