"""File > Export rig: the current person as a glTF 2.0 rig (``imface rig`` in the editor), on a background task
with a progress dialog and Cancel (Qt).

The rig is the current face's identity and details in the model's template topology, with one named morph
target per named expression (``imface_core.engine.rig``); the file lands whole or not at all.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from app.background_export import BackgroundExport

__all__ = ["RigExport"]

RIG_FILTER = "glTF binary (*.glb)"


class RigExport(BackgroundExport):
    """One rig export at a time for ``window``; ``finished`` gives the path written, or "" (failed, cancelled)."""

    TASK_NAME = "rig-export"
    DONE = "Exported the rig {path}"
    CANCELLED = "Rig export cancelled; nothing was written"
    FAIL_TITLE = "Could not export the rig"
    FAIL_BODY = "The rig could not be written to"
    FAILED = "Rig export to {name} failed"

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

        def work(cancel) -> Path:
            from imface_core.engine.rig import build_rig, rig_glb_bytes
            from imface_core.io_utils import atomic_write_bytes

            def progress(name: str, k: int, n: int) -> None:
                post(lambda: self._on_progress(name, k, n))

            rig = build_rig(model, codes, progress=progress, cancel=cancel)
            atomic_write_bytes(path, rig_glb_bytes(rig, name="face", extras={"source": source}))
            return path

        self._start(work, path, f"Making the rig {path.name}", len(model.expressions))

    def _on_progress(self, name: str, k: int, n: int) -> None:
        if self.dialog is not None:
            self.dialog.setMaximum(n)
            self.dialog.setValue(k)
            self.dialog.setLabelText(f"Making the rig: {name} ({k + 1} of {n})")
