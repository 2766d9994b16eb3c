"""Store the editor's start face beside a model file, to ship with it (``<model>.start_face.npz``).

    xvfb-run -a .venv/bin/python scripts/store_start_face.py [--model resources/imface_compact.pt]

Opens the editor on the model exactly as a user's first launch does (default quality, one thread, CPU), lets it
compute its first full-detail face into an empty cache folder, and moves that file beside the model. Run it
whenever the model or the engine changes (``tests/test_editor_start_face.py`` fails until then).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model file (default: the shipped one)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the face")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        from PySide6.QtWidgets import QApplication

        from app.main_window import MainWindow
        from imface_core.allocator import configure_allocator
        from imface_core.start_face import SUFFIX
        from imface_core.face_model import DEFAULT_MODEL

        configure_allocator()
        model = (args.model or DEFAULT_MODEL).resolve()
        app = QApplication.instance() or QApplication(sys.argv[:1])
        window = MainWindow(model, interactive=False)
        window.show()
        deadline = time.monotonic() + args.timeout
        while not (window.is_ready() or window.model_error) and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        window.close()
        stored = list(Path(cache).rglob("*" + SUFFIX))
        if window.model_error or len(stored) != 1:
            print(f"no start face was made for {model}: {window.model_error or 'timed out'}", file=sys.stderr)
            return 1
        target = model.with_name(model.stem + SUFFIX)
        shutil.move(stored[0], target)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
