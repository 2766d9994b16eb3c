"""Dense correspondence against the truth: fit synthetic scans of one topology and carry points between them.

    imface synth --out RAW --identities 4 --expressions 3 --seed 1      # held-out people (another seed)
    python benchmarks/eval_correspondence.py --raw RAW [--model M] [--steps 200] [--out corr.json]

Every scan is fitted with its 68 landmarks (as ``imface fit --landmarks``). With ``--hold-out`` the fit's
correspondence term (``FitSettings.landmark_correspondence_weight``) sees only the even-numbered ones, and the
odd-numbered ones, which it never saw (bar one of the five the landmark net places), get their own line. Each
person's first scan is a source; every scan of the other people a target. The error of the 68 landmarks and of every face-region vertex
(mm, mean and 95th percentile) is printed for the template topology and for nearest-point correspondence
(``imface_core.evaluation.correspondence``), with the fits' own Chamfer distance and F-score to their scans (the
correspondence term must not cost the surface); with ``--out`` the numbers are also written as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from imface_core.allocator import configure_allocator


def main(argv: list[str] | None = None) -> int:
    configure_allocator()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="synthetic scans (imface synth output: PERSON/K_EXPR.ply)")
    parser.add_argument("--model", default=None, help="model (default: the shipped one)")
    parser.add_argument("--steps", type=int, default=None, help="fit steps (default: imface fit's)")
    parser.add_argument("--template-resolution", type=int, default=None, help="of the template mesh (default 128)")
    parser.add_argument("--out", default=None, help="write the summary and per-pair errors as JSON here")
    parser.add_argument("--correspondence-weight", type=float, default=None,
                        help="the fit's landmark correspondence weight (default: FitSettings'; 0 turns it off)")
    parser.add_argument("--hold-out", action="store_true",
                        help="fit with the even-numbered landmarks only; report the odd-numbered ones apart")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    import trimesh
    from scipy.spatial import cKDTree

    from imface_core.evaluation.correspondence import correspondence_errors, fitted_face, summarise
    from imface_core.errors import ScanError
    from imface_core.face_model import DEFAULT_MODEL, FaceModel
    from imface_core.fitting import fit_scan
    from imface_core.settings import FitSettings

    torch.set_num_threads(1)  # a fit's small batches (as imface fit)
    model = FaceModel.load(args.model or DEFAULT_MODEL, device="cpu")
    settings = FitSettings() if args.steps is None else FitSettings(steps=args.steps)
    if args.correspondence_weight is not None:
        settings = dataclasses.replace(settings, landmark_correspondence_weight=args.correspondence_weight)
    if args.hold_out:
        settings = dataclasses.replace(settings, correspondence_landmarks=tuple(range(0, 68, 2)))
    people = sorted(p for p in Path(args.raw).iterdir() if p.is_dir())
    if len(people) < 2:
        print(f"need scans of at least two people in {args.raw}", file=sys.stderr)
        return 2
    faces: dict[str, list] = {}
    skipped: list[str] = []
    chamfers: list[tuple[float, float]] = []  # each fit's surface error: the correspondence must not cost it
    for person in people:
        for scan in sorted(person.glob("*.ply"), key=lambda p: int(p.name.split("_")[0])):
            t0 = time.perf_counter()
            mesh = trimesh.load(scan, process=False)
            marks = scan.with_name(scan.stem + "_landmarks.txt")
            landmark_vertices = cKDTree(mesh.vertices).query(np.loadtxt(marks))[1]
            try:
                fit = fit_scan(model, scan, landmarks=marks, units="mm", settings=settings)
            except ScanError as exc:  # counted, not hidden
                skipped.append(f"{person.name}/{scan.stem}: {exc}")
                print(f"skipped {person.name}/{scan.stem}: {exc}", flush=True)
                continue
            chamfers.append((fit.metrics.chamfer_mm, fit.metrics.fscore))
            faces.setdefault(person.name, []).append(
                fitted_face(model, f"{person.name}/{scan.stem}", mesh.vertices, mesh.faces, landmark_vertices, fit,
                            args.template_resolution))
            print(f"fitted {person.name}/{scan.stem} in {time.perf_counter() - t0:.1f} s "
                  f"(Chamfer {chamfers[-1][0]:.3f} mm, F@1mm {chamfers[-1][1]:.1f})", flush=True)
    pairs = [correspondence_errors(own[0], target)
             for name, own in faces.items() for other, theirs in faces.items() if other != name for target in theirs]
    summary = summarise(pairs)
    print(f"\n{len(pairs)} source -> target pairs over {len(people)} people (model {args.model or DEFAULT_MODEL}); "
          f"{len(skipped)} scans the fit refused")
    fit_chamfer, fit_fscore = np.mean(chamfers, axis=0)
    print(f"the fits: Chamfer {fit_chamfer:.3f} mm, F@1mm {fit_fscore:.1f} (mean of {len(chamfers)})")
    print(f"{'':<22}{'template topology':>24}{'nearest point':>24}")
    for what, label in (("landmarks", "68 landmarks"), ("region", "face-region vertices")):
        t, n = summary[f"template_{what}"], summary[f"nearest_{what}"]
        print(f"{label:<22}{t['mean_mm']:>10.2f} / {t['p95_mm']:.2f} mm{n['mean_mm']:>12.2f} / {n['p95_mm']:.2f} mm"
              f"   (mean / p95, {t['points']} points)")
    if args.hold_out:
        held = np.concatenate([p.template_landmarks[1::2] for p in pairs])
        near = np.concatenate([p.nearest_landmarks[1::2] for p in pairs])
        print(f"{'34 held-out landmarks':<22}{held.mean():>10.2f} / {np.percentile(held, 95):.2f} mm"
              f"{near.mean():>12.2f} / {np.percentile(near, 95):.2f} mm   (the odd-numbered: not in the fit)")
        summary["template_held_out_landmarks"] = {"mean_mm": float(held.mean()),
                                                  "p95_mm": float(np.percentile(held, 95)), "points": len(held)}
    if args.out:
        summary["fits"] = {"chamfer_mm": float(fit_chamfer), "fscore": float(fit_fscore), "scans": len(chamfers)}
        Path(args.out).write_text(json.dumps({"summary": summary, "skipped": skipped, "pairs": [
            {"source": p.source, "target": p.target, "template_landmarks_mm": float(np.mean(p.template_landmarks)),
             "nearest_landmarks_mm": float(np.mean(p.nearest_landmarks))} for p in pairs]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
