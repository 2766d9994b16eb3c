"""How strongly the named expressions move a face, against the training scans of each label.

    python benchmarks/expression_strength.py --raw RAW_TRAIN [--model M]

RAW_TRAIN is the ``imface synth`` output the model was trained on (its landmark files are the truth). Prints,
per label, the mean landmark displacement from neutral over the training people (mm): the scans', the model's
with each scan's own code, the model's with the label's preset (the editor's slider at 1), and preset / scans
(``imface_core.evaluation.expression_strength``); the goal is 0.8-1.2 for every label.
"""

from __future__ import annotations

import argparse

from imface_core.allocator import configure_allocator


def main(argv: list[str] | None = None) -> int:
    configure_allocator()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="the raw training scans (imface synth output)")
    parser.add_argument("--model", default=None, help="model (default: the shipped one)")
    args = parser.parse_args(argv)

    import torch

    from imface_core.evaluation.expression_strength import expression_strength
    from imface_core.face_model import DEFAULT_MODEL, FaceModel

    torch.set_num_threads(1)
    model = FaceModel.load(args.model or DEFAULT_MODEL, device="cpu")
    rows = expression_strength(model, args.raw)
    print(f"{'label':<14}{'scans':>8}{'own codes':>11}{'preset':>8}{'preset/scans':>14}   (mm, mean over "
          f"{len(model.identities)} people)")
    for r in rows:
        print(f"{r.label:<14}{r.scans_mm:>8.2f}{r.own_codes_mm:>11.2f}{r.preset_mm:>8.2f}{r.ratio:>14.2f}")
    inside = sum(0.8 <= r.ratio <= 1.2 for r in rows)
    print(f"{inside} of {len(rows)} labels within 0.8-1.2")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
