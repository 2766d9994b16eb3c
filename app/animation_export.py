"""The timeline's exports (Qt): the animation as one glTF file (morph targets and an animation of their weights)
or as a numbered OBJ sequence, written from the baked keyframe faces on a background task with a progress
dialog and Cancel (``imface_core.engine.morph_animation``).
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

__all__ = ["AnimationExport"]

GLTF_FILTER = "glTF binary (*.glb)"


class AnimationExport(QObject):
    """One animation export at a time for ``window``; ``finished`` gives the path written (the .glb, or the
    folder of the OBJ sequence), or "" (failed, cancelled, nothing to export)."""

    finished = Signal(str)

    def __init__(self, window: "MainWindow", post: Callable):
        super().__init__(window)
        self.window = window
        self._post = post
        self.task = None
        self.dialog: QProgressDialog | None = None

    def ask(self, kind: str) -> None:
        """The file (``kind`` "gltf") or folder ("obj") dialog, then the export (first a message when there is
        nothing to export yet)."""
        w = self.window
        if self.task is not None or self._keys() is None:
            return
        stem = w.document.export_name("")
        if kind == "gltf":
            path, _ = QFileDialog.getSaveFileName(w, "Export animation", str(Path.cwd() / f"{stem}_animation.glb"),
                                                  GLTF_FILTER)
            if path:
                self.start_gltf(Path(path if path.lower().endswith(".glb") else path + ".glb"))
        else:
            folder = QFileDialog.getExistingDirectory(w, "Export the mesh sequence into a folder", str(Path.cwd()))
            if folder:
                self.start_obj(Path(folder), stem)

    def _keys(self):
        keys = self.window.timeline.keyframe_faces()
        if keys is None or (len(keys.times) < 2):
            self.window.show_error("Could not export the animation", "The animation needs at least two keyframes, "
                                   "all baked (the timeline says when they are ready).")
            self.finished.emit("")
            return None
        return keys

    def start_gltf(self, path: Path) -> None:
        """Write the animation as a glTF binary to ``path``."""
        keys = self._keys()
        if keys is None or self.task is not None:
            return
        w = self.window
        extras = {"source": {"model": w.editor.name, "face": w.state.label, "fps": w.timeline.timeline.fps}}

        def work(cancel) -> Path:
            from imface_core.engine.morph_animation import animation_glb_bytes
            from imface_core.io_utils import atomic_write_bytes

            atomic_write_bytes(path, animation_glb_bytes(keys, name="face", extras=extras))
            return path

        self._start(work, path, f"Writing the animation {path.name}", 1)

    def start_obj(self, folder: Path, stem: str) -> None:
        """Write frames 0 .. last frame as ``stem_0000.obj``, ... into ``folder``."""
        keys = self._keys()
        if keys is None or self.task is not None:
            return
        timeline, post = self.window.timeline.timeline, self._post
        frames = timeline.end + 1

        def work(cancel) -> Path:
            from imface_core.engine.morph_animation import write_obj_sequence

            write_obj_sequence(keys, folder, stem, timeline.fps, frames,
                               header="ImFace Studio animation: keyframe faces blended linearly between keyframes",
                               progress=lambda k, n: post(lambda: self._on_progress(k, n)), cancel=cancel)
            return folder

        self._start(work, folder, f"Writing {frames} frames into {folder.name}", frames)

    def _start(self, work: Callable, path: Path, text: str, steps: int) -> None:
        w = self.window
        self.dialog = open_progress(w, text, steps, self.cancel)
        w.set_activity(f"{text}\N{HORIZONTAL ELLIPSIS}")
        self.task = w.tasks.start(work, self._on_done, lambda exc: self._on_failed(path, exc), "animation-export")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _on_progress(self, k: int, n: int) -> None:
        if self.dialog is not None:
            self.dialog.setValue(k)

    def _close_dialog(self) -> None:
        self.task = None
        close_progress(self.dialog, self.cancel)
        self.dialog = None

    def _on_done(self, path: Path) -> None:
        self._close_dialog()
        self.window.set_activity(f"Exported the animation to {path}")
        self.finished.emit(str(path))

    def _on_failed(self, path: Path, exc: BaseException) -> None:
        self._close_dialog()
        if isinstance(exc, Cancelled):
            self.window.set_activity("Animation export cancelled")
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.window.show_error("Could not export the animation", f"It could not be written to\n{path}\n\n{reason}")
        self.finished.emit("")
