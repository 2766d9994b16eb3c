"""Render a window's start view to a PNG file (``main.py --screenshot``).

The 3D viewport is an OpenGL window that ``QWidget.grab()`` cannot see, so the
window is grabbed by Qt (menu bar, status bar, ...) and the viewport's own
render (``plotter.screenshot``) is painted over its area.  Needs an X server;
under ``xvfb-run`` a virtual one is enough.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow

__all__ = ["save_window_screenshot"]

_log = logging.getLogger(__name__)


def _wait_until_exposed(window: MainWindow, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        QApplication.processEvents()
        handle = window.windowHandle()
        if handle is not None and handle.isExposed() and window.plotter.interactor.isVisible():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the window was not shown on the display within {timeout_s:.0f} s")
        time.sleep(0.01)


def _to_qimage(rgb: np.ndarray) -> QImage:
    """(h, w, 3) or (h, w, 4) uint8 array -> QImage that owns a copy of the pixels."""
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def save_window_screenshot(window: MainWindow, path: str | Path, size: tuple[int, int] | None = None) -> Path:
    """Show ``window``, render its start view and write it to ``path`` as PNG.

    Parameters
    ----------
    window : the main window; it is shown (and resized to ``size`` when given).
    path : output file; parent folders are created.
    size : (width, height) of the PNG in pixels; default: the window's size.

    Returns
    -------
    The path written.
    """
    path = Path(path)
    if size is not None:
        window.resize(*size)
    window.show()
    _wait_until_exposed(window)

    plotter = window.plotter
    widget = plotter.interactor
    view = None
    if widget.width() > 0 and widget.height() > 0:  # a window too small for the viewport has none to paint
        plotter.render()
        QApplication.processEvents()
        view = plotter.screenshot(None, return_img=True)  # (h, w, 3) uint8, physical pixels

    canvas = window.grab()  # Qt-drawn parts; the GL area comes out empty here
    if view is not None:
        painter = QPainter(canvas)
        try:
            target = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
            painter.drawImage(target, _to_qimage(view))
        finally:
            painter.end()

    image = canvas.toImage()
    width, height = size if size is not None else (window.width(), window.height())
    if (image.width(), image.height()) != (width, height):
        # Minimum sizes of the bars or a HiDPI scale factor: fit to what was asked.
        image = image.scaled(
            width,
            height,
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(path), "PNG"):
        raise OSError(f"could not write the screenshot to `{path}`")
    _log.info("wrote %dx%d screenshot to %s", image.width(), image.height(), path)
    return path
