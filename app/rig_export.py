"""File > Export rig: the current person as a glTF 2.0 rig (``imface rig`` in the editor), on a background task
with a progress dialog and Cancel (Qt).

The rig is the current face's identity and details in the model's template topology, with one named morph
target per named expression (``imface_core.engine.rig``); the file lands whole or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from app.progress_dialog import close_progress, open_progress

from imface_core.errors import Cancelled

if TYPE_CHECKING:
    from app.main_window import MainWindow

__all__ = ["RigExport"]

RIG_FILTER = "glTF binary (*.glb)"


class RigExport(QObject):
    """One rig export at a time for ``window``; ``finished`` gives the path written, or "" (failed, cancelled)."""

    finished = Signal(str)

    def __init__(self, window: "MainWindow", post: Callable):
        super().__init__(window)
        self.window = window
        self._post = post
        self.task = None
        self.dialog: QProgressDialog | None = None

    def ask(self) -> None:
        """The file dialog (named after the face), then ``start``."""
        w = self.window
        suggested = Path.cwd() / w.document.export_name(".glb")
        path, _ = QFileDialog.getSaveFileName(w, "Export rig", str(suggested), RIG_FILTER)
        if path:
            self.start(Path(path if path.lower().endswith(".glb") else path + ".glb"))

    def start(self, path: Path) -> None:
        """Build and write the rig of the current face to ``path`` (nothing when one is being made)."""
        w = self.window
        if w.editor is None or w.state is None or self.task is not None:
            return
        if path.suffix.lower() != ".glb":
            w.show_error("Could not export the rig", f"`{path.name}`: choose a file name ending in .glb.")
            self.finished.emit("")
            return
        model, codes, post = w.editor.model, w.document.space.codes(w.state), self._post
        source = {"model": Path(model.path).name if model.path else None, "face": w.state.label}
        self.dialog = open_progress(w, f"Making the rig {path.name}", len(model.expressions), self.cancel)

        def work(cancel) -> Path:
            from imface_core.engine.rig import build_rig, rig_glb_bytes
            from imface_core.io_utils import atomic_write_bytes

            def progress(name: str, k: int, n: int) -> None:
                post(lambda: self._on_progress(name, k, n))

            rig = build_rig(model, codes, progress=progress, cancel=cancel)
            atomic_write_bytes(path, rig_glb_bytes(rig, name="face", extras={"source": source}))
            return path

        w.set_activity(f"Making the rig {path.name}\N{HORIZONTAL ELLIPSIS}")
        self.task = w.tasks.start(work, self._on_done, lambda exc: self._on_failed(path, exc), "rig-export")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _on_progress(self, name: str, k: int, n: int) -> None:
        if self.dialog is not None:
            self.dialog.setMaximum(n)
            self.dialog.setValue(k)
            self.dialog.setLabelText(f"Making the rig: {name} ({k + 1} of {n})")

    def _close_dialog(self) -> None:
        self.task = None
        close_progress(self.dialog, self.cancel)
        self.dialog = None

    def _on_done(self, path: Path) -> None:
        self._close_dialog()
        self.window.set_activity(f"Exported the rig {path}")
        self.finished.emit(str(path))

    def _on_failed(self, path: Path, exc: BaseException) -> None:
        self._close_dialog()
        if isinstance(exc, Cancelled):
            self.window.set_activity("Rig export cancelled; nothing was written")
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.window.show_error("Could not export the rig", f"The rig could not be written to\n{path}\n\n{reason}")
            self.window.set_activity(f"Rig export to {path.name} failed")
        self.finished.emit("")
