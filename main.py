"""Start ImFace Studio, the desktop editor for 3D faces.

    python main.py                          # open the editor on the shipped model
    python main.py --model my_model.pt      # open it on another model
    python main.py --screenshot shot.png    # render the start view to a PNG and exit
    python main.py --quality 192            # finer full-detail meshes (slower)

Qt, pyvista and torch are imported only after the arguments are parsed, so
``--help`` and argument errors come back at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from imface_core.allocator import configure_allocator

REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = REPO_ROOT / "resources" / "imface_compact.pt"

_log = logging.getLogger("imface_studio")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of pixels, got `{text}`")
    return value


def _shown_path(path: Path) -> Path:
    try:
        return path.relative_to(REPO_ROOT)
    except ValueError:
        return path


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
        help=f"model checkpoint to open (default: the shipped model, {_shown_path(DEFAULT_MODEL)})",
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
    parser.add_argument(
        "--quality",
        type=int,
        choices=(96, 128, 192, 256),
        default=128,
        metavar="N",
        help="resolution of the full-detail face: 96, 128 (default), 192 or 256 (slower, finer)",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        metavar="N",
        help="CPU threads for the face computations (default 1: fastest on a busy 2-core machine)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="with --screenshot: wait at most this many seconds for the full-detail face (default 300)",
    )
    parser.add_argument("--device", default="auto", metavar="D",
                        help="where the face computations run: auto (CUDA when present, the default), cpu, cuda")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    configure_allocator()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )

    name = args.device.strip().lower()
    device = None if name == "auto" else name
    if name not in ("auto", "cpu"):  # checking a GPU imports torch: only when asked
        from imface_core.compute import resolve_device
        from imface_core.errors import DeviceError

        try:
            device = str(resolve_device(args.device))
        except DeviceError as exc:
            print(f"main.py: {exc}", file=sys.stderr)
            return 2
    if args.screenshot is not None:
        from imface_core.errors import OutputPathError
        from imface_core.io_utils import check_output_path

        try:
            check_output_path(args.screenshot)
        except OutputPathError as exc:
            print(f"main.py: {exc}", file=sys.stderr)
            return 2

    missing_model = ""
    if args.model is not None:
        if args.model.is_dir():
            parser.error(f"`{args.model}` is a folder, not a model file: give the .pt file inside it")
        if not args.model.is_file():
            parser.error(f"model file not found: `{args.model}`")
        model_path: Path | None = args.model
    elif DEFAULT_MODEL.is_file():
        model_path = DEFAULT_MODEL
    else:
        missing_model = (
            f"The shipped face model is missing:\n{DEFAULT_MODEL}\n\n"
            "Run `bash scripts/setup.sh` (or train one with `imface train`), then start again, "
            "or open a model with File > Open model... or `python main.py --model PATH`."
        )
        _log.warning("the shipped model %s is missing; the editor starts without a model", DEFAULT_MODEL)
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

    from app.process import responsive_gil

    # No torch import on a second thread while Qt and VTK load: the two share the GIL, and that delayed the
    # window by ~1.2 s (1.6 s -> 2.8 s to on screen) to gain ~0.7 s to the first face (bench_editor.py).
    responsive_gil()

    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName("ImFace Studio")
    screenshot = args.screenshot is not None
    window = MainWindow(model_path=model_path, quality=args.quality, threads=args.threads, interactive=not screenshot,
                        device=device)
    from app.exception_hook import install_exception_hook

    install_exception_hook(lambda: window, interactive=not screenshot)  # no exception is lost in the event loop
    window.resize(args.width, args.height)

    if screenshot:
        from app.screenshot import save_window_screenshot

        if missing_model:
            print(f"main.py: {missing_model.splitlines()[0]} {DEFAULT_MODEL}", file=sys.stderr)
        status = 0
        try:
            window.show()
            if not window.wait_until_ready(args.timeout):
                print(f"main.py: the face was not ready within {args.timeout:g} s; capturing what is shown",
                      file=sys.stderr)
                status = 1
            if window.model_error:
                print(f"main.py: the model could not be opened: {window.model_error}", file=sys.stderr)
                status = 1
            path = save_window_screenshot(window, args.screenshot, size=(args.width, args.height))
        finally:
            window.close()
        print(f"wrote {path}")
        return status

    window.show()
    if missing_model:
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QMessageBox

        QTimer.singleShot(0, lambda: QMessageBox.warning(window, "No face model", missing_model))
    return int(qt_app.exec())


if __name__ == "__main__":
    sys.exit(main())
