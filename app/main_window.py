"""The main window: a 3D viewport for the face, a menu bar and a status bar.

For now the viewport shows a placeholder surface; the face model, sliders and
fitting tools come later.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyvista
from pyvistaqt import QtInteractor
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QFrame, QMainWindow, QVBoxLayout, QWidget

__all__ = ["MainWindow", "PLACEHOLDER_STATUS", "SKIN_RGB", "WINDOW_TITLE"]

_log = logging.getLogger(__name__)

WINDOW_TITLE = "ImFace Studio"
PLACEHOLDER_STATUS = "Model not loaded yet \N{EM DASH} the editor is under construction"
SKIN_RGB = (0.89, 0.70, 0.58)
"""Colour of the face surface, RGB in [0, 1]."""
_BACKGROUND_BOTTOM = "#24262b"
_BACKGROUND_TOP = "#4a4f59"


class MainWindow(QMainWindow):
    """Top-level editor window.

    Parameters
    ----------
    model_path : path of the model checkpoint to show, or None.  Loading is not
        implemented yet; the path is only remembered.
    off_screen : render the viewport off screen (tests); the default shows it.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        off_screen: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(WINDOW_TITLE)
        self.model_path = model_path

        frame = QFrame(self)
        layout = QVBoxLayout(frame)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plotter = QtInteractor(parent=frame, off_screen=off_screen)
        layout.addWidget(self.plotter.interactor)
        self.setCentralWidget(frame)

        self._build_menus()
        self._show_placeholder()
        self.statusBar().showMessage(PLACEHOLDER_STATUS)
        _log.debug("main window ready (model path: %s)", model_path)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setStatusTip("Close ImFace Studio")
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        self.quit_action = quit_action

    def _show_placeholder(self) -> None:
        """Show a smooth, skin-coloured egg where the face will be."""
        plotter = self.plotter
        plotter.set_background(_BACKGROUND_BOTTOM, top=_BACKGROUND_TOP)
        # Head-like proportions: x = width, y = height, z = depth (face looks along +z).
        surface = pyvista.Sphere(radius=1.0, theta_resolution=96, phi_resolution=96).scale(
            (0.75, 1.0, 0.85), inplace=False
        )
        plotter.add_mesh(
            surface,
            name="face",
            color=SKIN_RGB,
            smooth_shading=True,
            specular=0.25,
            specular_power=20.0,
        )
        plotter.add_text(
            "Placeholder surface: no face model loaded", position="lower_left", font_size=9, color="#c8ccd4"
        )
        plotter.view_xy()
        plotter.camera.zoom(1.1)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        # Release the render window before Qt tears the widget down (pyvistaqt #762).
        self.plotter.close()
        super().closeEvent(event)
