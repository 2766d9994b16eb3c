"""The editor's dialogs: file choosers, the fit's progress, help and about (Qt).

The ``ask_*`` functions ask for a file and hand it to the window's method of the same name (``open_model``,
``load_scan``, ``export_mesh``, ``open_session``, ``save_session``); they start in the folder of the newest
recent file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFileDialog, QGridLayout, QLabel, QMessageBox, QProgressDialog, QWidget

from app.export_frame import MODEL_FRAME
from app.session import SESSION_SUFFIX

if TYPE_CHECKING:
    from app.main_window import MainWindow

__all__ = ["ExportDialog", "FitProgressDialog", "MESH_FILTERS", "MODEL_FILTER", "SCAN_FILTER", "SESSION_FILTER",
           "ask_export", "ask_load_scan", "ask_open_model", "ask_open_session", "ask_save_session", "fit_fraction",
           "show_about", "show_help"]

SCAN_FILTER = "Scans (*.obj *.ply *.stl *.off *.glb *.gltf *.xyz *.pts *.txt *.csv);;All files (*)"
MODEL_FILTER = "ImFace Studio models (*.pt);;All files (*)"
SESSION_FILTER = f"ImFace Studio sessions (*{SESSION_SUFFIX} *.json);;All files (*)"
MESH_FILTERS = {"OBJ mesh (*.obj)": ".obj", "PLY mesh (*.ply)": ".ply"}
COLOUR_FORMAT_NOTE = ("Colours: PLY stores them as standard per-vertex colours; OBJ has no standard for them, so "
                      "they are written as 'v x y z r g b' lines (r g b from 0 to 1), which MeshLab, Blender and "
                      "trimesh read.")

FIT_PHASES = {
    "load": "reading the scan", "align": "aligning it to the model", "samples": "sampling its surface",
    "coarse": "fitting shape and expression", "handover": "adding the details", "detail": "fitting the details",
    "mesh": "meshing the fit", "metrics": "measuring the fit", "error map": "measuring the error",
}
FIT_SPANS = {
    "load": (0.0, 0.02), "align": (0.02, 0.08), "samples": (0.08, 0.12), "coarse": (0.12, 0.85),
    "handover": (0.12, 0.85), "detail": (0.12, 0.85), "mesh": (0.85, 0.93), "metrics": (0.93, 0.97),
    "error map": (0.97, 1.0),
}
"""Share of the whole fit each phase fills on the progress bar (the optimisation phases share one span, by step;
the others are roughly their share of a fit's time)."""
FIT_BAR_MAX = 1000


def fit_fraction(step: int, steps: int, phase: str) -> float:
    """How far a fit is, 0..1, for its progress callback's ``(step, steps, phase)`` (unknown phases: 0)."""
    start, end = FIT_SPANS.get(phase, (0.0, 0.0))
    if phase in ("coarse", "handover", "detail") and steps > 0:
        return start + (end - start) * min(max(step / steps, 0.0), 1.0)
    return start


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


def export_name(w: "MainWindow", suffix: str) -> str:
    """The file name an export suggests: the fitted scan's or the face's (``Document.export_name``), else the
    open session's, else "face"."""
    name = w.document.export_name(suffix)
    session = getattr(getattr(w, "session_files", None), "path", None)
    if name == "face" + suffix and session is not None:
        name = Path(session).name.split(".")[0] + suffix
    return name


class ExportDialog(QFileDialog):
    """File > Export: the file (named after the scan, the face or the session) and, for a face fitted to a scan,
    the frame: the scan's (default; the file overlays the scan) or the model's. Colour exports suggest PLY."""

    def __init__(self, w: "MainWindow", colors: bool):
        suffix = ".ply" if colors else ".obj"
        filters = sorted(MESH_FILTERS, key=lambda f: MESH_FILTERS[f] != suffix)  # the suggested format first
        super().__init__(w, "Export mesh with colours" if colors else "Export mesh",
                         str(_start_dir(w) / export_name(w, suffix)), ";;".join(filters))
        self.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        self.setOption(QFileDialog.Option.DontUseNativeDialog)  # (a native dialog takes no extra widgets)
        self.suggested_name = export_name(w, suffix)
        self.frame = QComboBox(self)
        fit = w.document.frame_fit
        if fit is not None:
            self.frame.addItem(f"The scan's ({fit.name}): the file overlays the scan", "scan")
        self.frame.addItem(f"The model's ({MODEL_FRAME.description.split(', ', 1)[1]})", "model")
        self.frame.setEnabled(self.frame.count() > 1)
        self.frame.setToolTip("Where the face's vertices go; the file's first comment names the frame")
        layout = self.layout()
        if isinstance(layout, QGridLayout):
            row = layout.rowCount()
            layout.addWidget(QLabel("Frame:", self), row, 0)
            layout.addWidget(self.frame, row, 1, 1, -1)
            if colors:
                self.colour_note = QLabel(COLOUR_FORMAT_NOTE, self)
                self.colour_note.setWordWrap(True)
                layout.addWidget(self.colour_note, row + 1, 0, 1, -1)

    def choice(self) -> tuple[str, str] | None:
        """(path, frame) accepted, the format's suffix added when the name has none; None when cancelled."""
        files = self.selectedFiles()
        if not files:
            return None
        path = files[0]
        if not Path(path).suffix:
            path += MESH_FILTERS.get(self.selectedNameFilter(), ".obj")
        return path, str(self.frame.currentData())


def ask_export(w: "MainWindow", colors: bool) -> None:
    dialog = ExportDialog(w, colors)
    chosen = dialog.choice() if dialog.exec() else None
    dialog.deleteLater()
    if chosen is not None:
        w.export_mesh(chosen[0], colors=colors, frame=chosen[1])


def ask_open_session(w: "MainWindow") -> None:
    path, _ = QFileDialog.getOpenFileName(w, "Open session", str(_start_dir(w)), SESSION_FILTER)
    if path:
        w.open_session(path)


def session_name(w: "MainWindow") -> Path:
    """Where Save session as suggests saving: over the open session, else beside the recent files, named after
    the face (as an export would be)."""
    current = getattr(getattr(w, "session_files", None), "path", None)
    if current is not None:
        return Path(current)
    return _start_dir(w) / (w.document.export_name("") + SESSION_SUFFIX)


def ask_save_session(w: "MainWindow") -> None:
    path, _ = QFileDialog.getSaveFileName(w, "Save session", str(session_name(w)), SESSION_FILTER)
    if path:
        if not path.endswith(".json"):
            path += SESSION_SUFFIX
        w.save_session(path)


# ------------------------------------------------------------------------------------------------ fitting
class FitProgressDialog(QProgressDialog):
    """Progress of a fit of ``path`` (``steps`` optimisation steps), with Cancel (``on_cancel``): one bar over the
    whole fit (``fit_fraction``) that never goes back, and the phase in words."""

    def __init__(self, path: Path, steps: int, parent: QWidget, on_cancel: Callable[[], None]):
        super().__init__(f"Fitting {path.name}\N{HORIZONTAL ELLIPSIS}", "Cancel", 0, FIT_BAR_MAX, parent)
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
        self.setValue(max(self.value(), round(FIT_BAR_MAX * fit_fraction(step, steps, phase))))
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
