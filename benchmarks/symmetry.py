"""Edit > Symmetrise face, measured: asymmetry of faces before and after (mm), as the editor runs it.

For a few faces (training people with an expression, and one made lopsided by another person's right eye) the
face is symmetrised (``imface_core.fitting.symmetry.symmetrise``, the editor's steps) and its asymmetry printed:
mean distance of the face's mirror image (about its own mid-plane) to the face over the nearest 90 % of the
vertices, and the 95th percentile, in mm; "target" is the averaged surface the codes were fitted to.

    .venv/bin/python benchmarks/symmetry.py [--model resources/imface_compact.pt] [--steps 150]
"""

from __future__ import annotations

import argparse

from imface_core.face_codes import FaceCodes, RegionEdit
from imface_core.face_model import FaceModel
from imface_core.fitting.symmetry import symmetrise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resources/imface_compact.pt")
    parser.add_argument("--steps", type=int, default=150, help="fit steps (the editor's: 150)")
    args = parser.parse_args()
    model = FaceModel.load(args.model)
    faces = {f"{model.identities[i]} {e}": model.codes(i, e) for i, e in ((0, "neutral"), (3, "smile"), (5, "jaw_left"))}
    base, other = model.codes(0, "neutral"), model.codes(7, "neutral")
    faces[f"{model.identities[0]} with {model.identities[7]}'s right eye"] = FaceCodes(
        base.z_id, base.z_exp, base.z_det, (RegionEdit("eye_r", z_id=other.z_id, z_det=other.z_det, align=True),))
    print(f"{args.steps} fit steps, 128^3 full detail\n")
    print("| face | before mean / p95 (mm) | target mean / p95 (mm) | after mean / p95 (mm) |")
    print("| --- | --- | --- | --- |")
    for name, codes in faces.items():
        r = symmetrise(model, codes, steps=args.steps)
        cells = [f"{a.mean_mm:.2f} / {a.p95_mm:.2f}" for a in (r.before, r.target, r.after)]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
