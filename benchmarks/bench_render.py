"""What one viewport render costs on this machine's OpenGL, by triangle count and viewport size.

    python benchmarks/bench_render.py [--model PATH] [--repeats 30]

The editor's longest GUI-thread blocks are whole viewport renders (``bench_editor.py`` says so). This
script renders the shipped model's full-detail face (the editor's default quality) with every triangle,
decimated as the editor shows it (``app.engine.decimated_for_display``) and decimated further, and the
drag-time preview mesh, in the editor's own ``Viewport`` at a few sizes, and prints the median and maximum
time of ``Render()`` for each (software OpenGL under Xvfb when there is no display). It also times the
decimation and the longest pause it causes to another Python thread (the GUI thread, in the editor).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
from _display import rerun_under_xvfb  # beside this script (python puts its folder on the path)

SIZES = ((1000, 760), (760, 580), (500, 380))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO_ROOT / "resources" / "imface_compact.pt")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--resolution", type=int, default=128)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    rerun_under_xvfb("bench_render.py")
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    from imface_core.allocator import configure_allocator

    configure_allocator()
    from PySide6.QtWidgets import QApplication

    from app.engine import DISPLAY_TRIANGLES, MeshComputer, MeshJob, decimated_for_display, load_editor_model, to_polydata
    from app.viewport import Viewport

    app = QApplication.instance() or QApplication(sys.argv[:1])
    editor_model = load_editor_model(args.model)
    model = editor_model.model
    state = editor_model.space.initial_state()
    codes = editor_model.space.codes(state)
    computer = MeshComputer(model)
    meshes = list(computer.run(MeshJob(state, codes, args.resolution), threading.Event()))
    full, preview = meshes[-1], meshes[0]

    every = to_polydata(full.mesh)
    shown, seconds, pause = _timed_with_pause_probe(lambda: decimated_for_display(every, DISPLAY_TRIANGLES))
    print(f"decimation {every.n_cells} -> {shown.n_cells} triangles: {1000 * seconds:.0f} ms; longest pause of "
          f"another Python thread meanwhile {1000 * pause:.0f} ms")
    variants = [("full detail, every triangle", every), ("full detail, as shown", shown),
                ("full detail, 25 %", decimated_for_display(every, len(full.mesh.faces) // 4)),
                ("preview", preview.poly)]

    view = Viewport()
    rw = view.plotter.render_window
    print(f"{'mesh':<30} {'triangles':>9}  " + "  ".join(f"{w}x{h} median/max ms" for w, h in SIZES))
    for name, poly in variants:
        cells = []
        for w, h in SIZES:
            view.resize(w, h)
            view.show()
            view.set_face(poly)
            for _ in range(20):
                app.processEvents()
            rw.Render()
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                rw.Render()
                times.append(1000 * (time.perf_counter() - t0))
            cells.append(f"{statistics.median(times):6.1f} / {max(times):5.1f}      ")
        print(f"{name:<30} {poly.n_cells:>9}  " + "  ".join(cells))
    view.close()
    return 0


def _timed_with_pause_probe(call):
    """(``call()``, its seconds, the longest gap between 2 ms ticks of another Python thread meanwhile)."""
    gaps, stop = [], threading.Event()

    def tick() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    out = call()
    seconds = time.perf_counter() - t0
    stop.set()
    ticker.join()
    return out, seconds, max(gaps)


if __name__ == "__main__":
    raise SystemExit(main())
