"""Render the model card's figure: one training person in six expressions (full detail, 192^3).

    python scripts/render_expressions.py [--model PATH] [--identity s0_003] [--out docs/expressions_compact.png]

Uses pyvista's off-screen plotter (EGL or a virtual display: ``xvfb-run -a python scripts/...``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
EXPRESSIONS = ("neutral", "smile", "jaw_open", "pucker", "brow_raise", "cheek_puff")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO_ROOT / "resources" / "imface_compact.pt")
    p.add_argument("--identity", default="s0_003")
    p.add_argument("--resolution", type=int, default=192)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "expressions_compact.png")
    args = p.parse_args(argv)
    from imface_core.allocator import configure_allocator

    configure_allocator()
    import pyvista

    from imface_core import FaceModel

    model = FaceModel.load(args.model, device="cpu")
    plotter = pyvista.Plotter(off_screen=True, shape=(2, 3), window_size=(1500, 1000), border=True)
    for k, expression in enumerate(EXPRESSIONS):
        mesh = model.mesh(model.codes(args.identity, expression), resolution=args.resolution, method="displace")
        plotter.subplot(k // 3, k % 3)
        plotter.add_mesh(pyvista.wrap(mesh), color=(0.87, 0.72, 0.6), smooth_shading=True, specular=0.3)
        plotter.add_text(expression, font_size=12)
        plotter.view_xy()
        plotter.camera.zoom(1.35)
    plotter.screenshot(str(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
