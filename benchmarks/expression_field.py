"""How much a trained model's expression field moves each expression, and how well codes of one expression gather.

    python benchmarks/expression_field.py --model resources/imface_compact.pt --data DATA_TRAIN \
        [--identities s0_000 s0_007 s0_020]

For training scans of the given people: the mean length of E's displacement on their surface points (mm) and
the mean |coarse SDF| there (mm), per expression, and E with the label's preset (mean z_exp) instead of the
scan's own code; then the mean distance between z_exp codes of the same
expression divided by that between different expressions (1: codes do not gather by expression).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from imface_core import FaceModel


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="the prepared training data the model was trained on")
    p.add_argument("--identities", nargs="+", default=None, help="people to measure (default: the first three)")
    p.add_argument("--points", type=int, default=3000, help="surface points per scan")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model = FaceModel.load(args.model, device="cpu")
    people = args.identities or list(model.identities[:3])
    rows: dict[str, list[tuple[float, float, float]]] = {}
    labels = np.array([s["expression"] for s in model.scans])
    presets = {name: model.tables["exp"][labels == name].mean(axis=0) for name in set(labels)}
    for scan in model.scans:
        if scan["identity"] not in people:
            continue
        pts = np.load(args.data / scan["file"])["surface_points"][: args.points]
        codes = model.codes(model.identities.index(scan["identity"]), scan["expression"])
        z_id, z_exp = (torch.from_numpy(np.asarray(c, np.float32))[None] for c in (codes.z_id, codes.z_exp))
        x = torch.from_numpy(pts).float()[None]
        z_preset = torch.from_numpy(np.asarray(presets[scan["expression"]], np.float32))[None]
        with torch.no_grad():
            out = model.net.coarse(x, z_id, z_exp)
            preset = model.net.coarse(x, z_id, z_preset)
        e_mm = (out["x_c"] - x).norm(dim=-1).mean().item() * 100
        e_preset_mm = (preset["x_c"] - x).norm(dim=-1).mean().item() * 100
        rows.setdefault(scan["expression"], []).append((e_mm, out["sdf"].abs().mean().item() * 100, e_preset_mm))
    print(f"{'expression':14s} {'E (mm)':>8s} {'|SDF| (mm)':>11s} {'E preset (mm)':>14s}   ({len(people)} people; "
          "preset: the mean z_exp of the label, as the editor's named-expression sliders use)")
    for name, values in rows.items():
        v = np.array(values)
        print(f"{name:14s} {v[:, 0].mean():8.2f} {v[:, 1].mean():11.3f} {v[:, 2].mean():14.2f}")
    z = model.tables["exp"]
    d = np.linalg.norm(z[:, None] - z[None], axis=-1)
    same = labels[:, None] == labels[None]
    np.fill_diagonal(same, False)
    ratio = d[same].mean() / d[labels[:, None] != labels[None]].mean()
    print(f"z_exp: same-expression / different-expression mean distance = {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
