"""Slider-drag previews: time and accuracy of the template deformation per frame, by fixed-point steps.

    python benchmarks/bench_preview_steps.py [--model PATH] [--moves 20]

Drags an expression slider, then an identity and an expression slider together, in ``--moves`` steps
(preview meshes at the editor's default 128^3 quality, one torch thread), once per setting of
``ProgressiveMesher.template_iterations`` (0: one unchecked step per frame, the editor's default; 1 and 2:
checked steps). Prints the median / max time per preview and the mean distance of the preview's vertices to
the exact coarse surface (mm), i.e. what ``template_iterations`` trades.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO_ROOT / "resources" / "imface_compact.pt")
    p.add_argument("--moves", type=int, default=20)
    args = p.parse_args(argv)
    from imface_core.allocator import configure_allocator

    configure_allocator()
    from app.engine import MeshComputer, MeshJob, load_editor_model
    from imface_core.engine.field import FaceField

    editor = load_editor_model(args.model)
    space = editor.space
    start = space.initial_state()
    drags = {
        "expression slider": lambda i: start.with_exp_coeff(0, 0.15 * (i + 1)).with_mix(1, 0.05 * (i + 1)),
        "identity + expression": lambda i: start.with_id_coeff(0, 0.12 * (i + 1)).with_exp_coeff(0, 0.1 * (i + 1)),
    }
    print(f"{args.model.name}: {args.moves} moves per drag, preview meshes at 128^3, 1 thread")
    print(f"{'drag':24s} {'steps':>5s} {'median ms':>10s} {'max ms':>7s} {'mean off-surface mm':>20s}")
    for name, state_at in drags.items():
        for steps in (0, 1, 2):
            computer = MeshComputer(editor.model)
            computer.mesher.template_iterations = steps
            for _ in computer.run(MeshJob(start, space.codes(start), 128, preview_only=True, fresh=True),
                                  threading.Event()):
                pass
            times, off = [], []
            for i in range(args.moves):
                state = state_at(i)
                codes = space.codes(state)
                t0 = time.perf_counter()
                for update in computer.run(MeshJob(state, codes, 128, preview_only=True), threading.Event()):
                    pass
                times.append(time.perf_counter() - t0)
                coarse = FaceField(editor.model, codes, detail=False)
                off.append(float(np.abs(coarse.coarse_sdf(np.asarray(update.mesh.vertices, np.float32))).mean()))
            print(f"{name:24s} {steps:5d} {1000 * np.median(times):10.0f} {1000 * max(times):7.0f} "
                  f"{100 * np.mean(off):20.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
