"""The editor's dialogs: file choosers, the fit's progress, help and about (Qt).

The ``ask_*`` functions ask for a file and hand it to the window's method of the same name (``open_model``,
``load_scan``, ``export_mesh``, ``open_session``, ``save_session``); they start in the folder of the newest
recent file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from app.session import SESSION_SUFFIX

if TYPE_CHECKING:
    from app.main_window import MainWindow

__all__ = ["FitProgressDialog", "MESH_FILTERS", "MODEL_FILTER", "SCAN_FILTER", "SESSION_FILTER", "ask_export",
           "ask_load_scan", "ask_open_model", "ask_open_session", "ask_save_session", "show_about", "show_help"]

SCAN_FILTER = "Scans (*.obj *.ply *.stl *.off *.glb *.gltf *.xyz *.pts *.txt *.csv);;All files (*)"
MODEL_FILTER = "ImFace Studio models (*.pt);;All files (*)"
SESSION_FILTER = f"ImFace Studio sessions (*{SESSION_SUFFIX} *.json);;All files (*)"
MESH_FILTERS = {"OBJ mesh (*.obj)": ".obj", "PLY mesh (*.ply)": ".ply"}

FIT_PHASES = {
    "load": "reading the scan", "align": "aligning it to the model", "samples": "sampling its surface",
    "coarse": "fitting shape and expression", "handover": "adding the details", "detail": "fitting the details",
    "mesh": "meshing the fit", "metrics": "measuring the fit", "error map": "measuring the error",
}


# ------------------------------------------------------------------------------------------------ files
def _start_dir(w: "MainWindow") -> Path:
    entries = w.recent.entries()
    return entries[0][1].parent if entries else Path.cwd()


def ask_open_model(w: "MainWindow") -> None:
    path, _ = QFileDialog.getOpenFileName(w, "Open model", str(_start_dir(w)), MODEL_FILTER)
    if path:
        w.open_model(path)


def ask_load_scan(w: "MainWindow") -> None:
    path, _ = QFileDialog.getOpenFileName(w, "Load scan", str(_start_dir(w)), SCAN_FILTER)
    if path:
        w.load_scan(path)


def ask_export(w: "MainWindow", colors: bool) -> None:
    title = "Export mesh with colours" if colors else "Export mesh"
    path, chosen = QFileDialog.getSaveFileName(w, title, str(_start_dir(w) / "face.obj"), ";;".join(MESH_FILTERS))
    if path:
        if not Path(path).suffix:
            path += MESH_FILTERS.get(chosen, ".obj")
        w.export_mesh(path, colors=colors)


def ask_open_session(w: "MainWindow") -> None:
    path, _ = QFileDialog.getOpenFileName(w, "Open session", str(_start_dir(w)), SESSION_FILTER)
    if path:
        w.open_session(path)


def ask_save_session(w: "MainWindow") -> None:
    path, _ = QFileDialog.getSaveFileName(w, "Save session", str(_start_dir(w) / f"face{SESSION_SUFFIX}"),
                                          SESSION_FILTER)
    if path:
        if not path.endswith(".json"):
            path += SESSION_SUFFIX
        w.save_session(path)


# ------------------------------------------------------------------------------------------------ fitting
class FitProgressDialog(QProgressDialog):
    """Progress of a fit of ``path`` (``steps`` optimisation steps), with Cancel (``on_cancel``)."""

    def __init__(self, path: Path, steps: int, parent: QWidget, on_cancel: Callable[[], None]):
        super().__init__(f"Fitting {path.name}\N{HORIZONTAL ELLIPSIS}", "Cancel", 0, steps, parent)
        self.path = path
        self.setWindowTitle("Load scan")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setValue(0)
        self._on_cancel = on_cancel
        self.canceled.connect(on_cancel)

    def show_progress(self, step: int, steps: int, phase: str) -> None:
        self.setMaximum(max(steps, 1))
        self.setValue(min(step, max(steps, 1)))
        text = FIT_PHASES.get(phase, phase)
        if step > 0 and phase in ("coarse", "handover", "detail"):
            text += f" (step {step} of {steps})"
        self.setLabelText(f"Fitting {self.path.name}\n{text}\N{HORIZONTAL ELLIPSIS}")

    def finish(self) -> None:
        """Close for good (closing no longer means Cancel)."""
        self.canceled.disconnect(self._on_cancel)
        self.close()
        self.deleteLater()


# ------------------------------------------------------------------------------------------------ help
def show_help(parent: QWidget) -> None:
    QMessageBox.information(
        parent, "Mouse and keys",
        "Left-drag: orbit \N{MIDDLE DOT} wheel: zoom \N{MIDDLE DOT} Shift+drag or middle-drag: pan\n"
        "Ctrl+R: reset the view \N{MIDDLE DOT} Ctrl+Z / Ctrl+Shift+Z: undo / redo\n"
        "Sliders: drag for a quick preview; the full-detail face follows when you let go.")


def show_about(w: "MainWindow") -> None:
    from imface_core import __version__

    model = w.editor.describe() if w.editor is not None else "no model loaded"
    QMessageBox.about(w, "About ImFace Studio",
                      f"ImFace Studio {__version__}\nA desktop editor for 3D faces (ImFace++).\n\nModel: {model}")
