"""Start ImFace Studio, the desktop editor for 3D faces.

    python main.py                          # open the editor on the shipped model
    python main.py --model my_model.pt      # open it on another model
    python main.py --screenshot shot.png    # render the start view to a PNG and exit

Qt, pyvista and torch are imported only after the arguments are parsed, so
``--help`` and argument errors come back at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from imface_core._fast_alloc import configure_allocator

REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = REPO_ROOT / "resources" / "imface_compact.pt"

_log = logging.getLogger("imface_studio")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of pixels, got `{text}`")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="ImFace Studio: a desktop editor for 3D faces. Needs a desktop session (an X server).",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"model checkpoint to open (default: the shipped model, {DEFAULT_MODEL.relative_to(REPO_ROOT)})",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        metavar="FILE.png",
        help="render the start view to this PNG file and exit (works under xvfb-run without a desktop)",
    )
    parser.add_argument("--width", type=_positive_int, default=1280, metavar="W", help="window width in pixels (default 1280)")
    parser.add_argument("--height", type=_positive_int, default=800, metavar="H", help="window height in pixels (default 800)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_allocator()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )

    if args.model is not None:
        if not args.model.is_file():
            parser.error(f"model file not found: `{args.model}`")
        model_path: Path | None = args.model
    elif DEFAULT_MODEL.is_file():
        model_path = DEFAULT_MODEL
    else:
        _log.info("the shipped model %s is not there yet; showing a placeholder", DEFAULT_MODEL)
        model_path = None

    if sys.platform.startswith("linux"):
        # The 3D viewport draws through X11/GLX: use XCB even in a Wayland session (XWayland).
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
        if not os.environ.get("DISPLAY"):
            print(
                "main.py: no display ($DISPLAY is empty). ImFace Studio needs a desktop session.\n"
                "To render a screenshot without one: xvfb-run -a python main.py --screenshot face.png",
                file=sys.stderr,
            )
            return 2

    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName("ImFace Studio")
    window = MainWindow(model_path=model_path)
    window.resize(args.width, args.height)

    if args.screenshot is not None:
        from app.screenshot import save_window_screenshot

        try:
            path = save_window_screenshot(window, args.screenshot, size=(args.width, args.height))
        finally:
            window.close()
        print(f"wrote {path}")
        return 0

    window.show()
    return int(qt_app.exec())


if __name__ == "__main__":
    sys.exit(main())
