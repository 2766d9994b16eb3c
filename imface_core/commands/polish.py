"""``imface polish``: more training of a run's wrinkle field (RDF and z_det) with the coarse model frozen."""

from __future__ import annotations

import argparse

from imface_core.commands.train import _non_negative_float, _non_negative_int, _positive_float, _positive_int
from imface_core.commands import add_device_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "polish",
        help="train a finished run's wrinkle field further (fast on a CPU)",
        description="Trains only the refinement displacement field and the per-scan detail codes of the run in "
        "RUN_DIR, everything else frozen, through a linearised fine SDF whose coarse parts are computed once "
        "(about 13x the points per second of a stage-2 step on a CPU). Updates RUN_DIR/checkpoint.pt "
        "(resumable: run the same command again) and writes RUN_DIR/model.pt at the end.",
    )
    p.add_argument("--run", required=True, help="training run folder with checkpoint.pt (from `imface train`)")
    p.add_argument("--data", required=True, help="the prepared data folder the run was trained on")
    p.add_argument("--steps", type=_positive_int, default=6000, help="polish steps in all (default 6000)")
    p.add_argument("--batch-scans", type=_positive_int, default=64, help="scans per step (default 64)")
    p.add_argument("--points", type=_positive_int, default=1024, help="surface points per scan per step (default 1024)")
    p.add_argument("--cache-points", type=_positive_int, default=6144,
                   help="fixed surface points per scan whose coarse values are cached (default 6144)")
    p.add_argument("--near-surface-mm", type=_non_negative_float, default=1.5,
                   help="also fit the field up to this far off the surface, where the editor's fast mesh reads it "
                        "(half the cached points; default 1.5; 0: surface points only)")
    p.add_argument("--lr", type=_positive_float, default=5e-4, help="learning rate of the field (default 5e-4)")
    p.add_argument("--codes-lr", type=_non_negative_float, default=None,
                   help="learning rate of the detail codes (default: 2x --lr; 0 keeps them as they started)")
    p.add_argument("--warmup-steps", type=_non_negative_int, default=200,
                   help="steps of linear learning-rate warm-up (default 200)")
    p.add_argument("--fresh-field", action="store_true",
                   help="start from a new wrinkle field and new detail codes instead of the run's (a new polish only)")
    p.add_argument("--plane-channels", type=_non_negative_int, default=None,
                   help="with --fresh-field: feature images of the new field's detail plane (0: none; default: "
                        "as the run's)")
    p.add_argument("--person-code-std", type=_non_negative_float, default=0.0,
                   help="with --fresh-field: start the detail codes of a person's scans from one shared random "
                        "vector of this spread (default 0)")
    p.add_argument("--plane-init", choices=("zero", "residuals"), default="zero",
                   help="with --fresh-field and a plane: start its features at zero (default) or from the fine "
                        "patterns of the training scans' residuals (a few minutes more before the first step)")
    p.add_argument("--plane-bands", type=_positive_int, default=1,
                   help="with --plane-init residuals: horizontal bands of the face that each get their share of the "
                        "channels (default 1: one basis for the whole face)")
    p.add_argument("--residual-points", type=_positive_int, default=None,
                   help="with --plane-init residuals: different surface points per scan in the residual maps "
                        "(default 40000; up to the 100000 a run keeps per scan)")
    p.add_argument("--plane-smooth-texels", type=_non_negative_float, default=None,
                   help="with --plane-init residuals: smoothing of the residual maps in 1 mm texels (default 0.7; "
                        "0.35 with --residual-points 100000 keeps more of the grooves)")
    p.add_argument("--plane-lr-scale", type=_non_negative_float, default=None,
                   help="the detail plane's learning rate over --lr (default: 1 with --plane-init residuals, the "
                        "run's otherwise; 0 keeps its features and code mix as they started)")
    p.add_argument("--plane-mixing", choices=("field", "code"), default=None,
                   help="with --fresh-field and a plane: weigh its channels per point by the wrinkle field (field) "
                        "or per scan by a linear map of the detail code (code: with --plane-init residuals every "
                        "training scan starts with its own wrinkles); default: as the run's")
    p.add_argument("--det-dim", type=_positive_int, default=None,
                   help="with --fresh-field: size of the new detail codes (a multiple of 5; default: as the run's; "
                        "with --plane-mixing code, as many as --plane-channels)")
    p.add_argument("--max-minutes", type=_positive_float, default=None, help="stop (with a checkpoint) after this long")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imface_core.compute import resolve_device
    from imface_core.errors import CommandError
    from imface_core.io_utils import check_output_path
    from imface_core.training.detail_polish import DetailPolisher, PolishSettings

    if not args.fresh_field and (args.plane_channels is not None or args.person_code_std
                                 or args.plane_init != "zero" or args.plane_mixing is not None
                                 or args.det_dim is not None):
        raise CommandError("--plane-channels, --plane-mixing, --det-dim, --person-code-std and --plane-init need "
                           "--fresh-field")
    maps = {name: value for name, value in (("residual_points", args.residual_points),
                                            ("plane_smooth_texels", args.plane_smooth_texels)) if value is not None}
    if args.plane_init != "residuals" and (args.plane_bands > 1 or maps):
        raise CommandError("--plane-bands, --residual-points and --plane-smooth-texels need --plane-init residuals")
    settings = PolishSettings(steps=args.steps, batch_scans=args.batch_scans, points=args.points,
                              cache_points=args.cache_points,
                              near_surface_mm=args.near_surface_mm, lr_net=args.lr,
                              lr_codes=2 * args.lr if args.codes_lr is None else args.codes_lr,
                              warmup_steps=args.warmup_steps,
                              fresh_field=args.fresh_field, plane_channels=args.plane_channels,
                              person_code_std=args.person_code_std, plane_init=args.plane_init,
                              plane_bands=args.plane_bands, plane_mixing=args.plane_mixing, code_dim=args.det_dim,
                              plane_lr_scale=args.plane_lr_scale, **maps)
    device = resolve_device(args.device)
    check_output_path(args.run, folder=True)
    polisher = DetailPolisher(args.run, args.data, settings, max_minutes=args.max_minutes, device=device)
    if polisher.step >= settings.steps:
        print(f"already polished to step {polisher.step}; pass a larger --steps to go on")
        return 0
    record = polisher.run()
    state = "finished" if record["step"] >= settings.steps else "stopped (run the same command to go on)"
    print(f"polish {state} at step {record['step']} after {record['seconds'] / 60:.1f} min; "
          f"fine SDF error on {settings.check_scans} training scans (exact pipeline): "
          f"{record['error_before_mm']:.4f} -> {record['error_after_mm']:.4f} mm; "
          f"linearisation error {record['linearisation_error_mm']:.5f} mm; model: {args.run}/model.pt")
    return 0
