"""File > Export: the full-detail face written as OBJ or PLY in millimetres, on a background task (Qt).

An export of a face whose full-detail mesh is not on screen yet waits for it (``MeshScheduler.export``).
A face fitted to a scan is written in the scan's frame (it overlays the scan) unless the model's is asked for
(``Document.export_frame``, ``app.export_frame``); the file's first comment names the frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from app.engine import DisplayMesh
    from app.export_frame import ExportFrame
    from app.main_window import MainWindow

__all__ = ["MeshExport"]


class MeshExport(QObject):
    """Exports of ``window``'s face; ``finished`` gives the path written, or "" when an export failed."""

    finished = Signal(str)

    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.window = window
        self.frames: dict[Path, "ExportFrame"] = {}
        """The frame of each requested export, taken when it was asked for."""

    def request(self, path: Path, colors: bool, frame: str = "scan") -> None:
        """Export the current face to ``path`` (.obj or .ply) now, or once its full-detail mesh is on screen;
        ``frame``: "scan" (a fitted scan's frame, when there is one) or "model"."""
        w = self.window
        if w.editor is None or w.state is None:
            w.show_error("Export", "There is no face to export yet.")
            self.finished.emit("")
        elif path.suffix.lower() not in (".obj", ".ply"):
            w.show_error("Could not export", f"`{path.name}`: choose a file name ending in .obj or .ply.")
            self.finished.emit("")
        else:
            self.frames[path] = w.document.export_frame(frame)
            w.scheduler.export(path, colors)

    def start(self, dm: "DisplayMesh", path: Path, colors: bool) -> None:
        """Write ``dm`` (the scheduler calls this when the mesh is there)."""
        model = self.window.editor.model
        frame = self.frames.pop(path, None) or self.window.document.export_frame()

        def work(_cancel) -> Path:
            from app import engine

            return engine.export_face(dm.mesh, path, colors, model, dm.job.codes, dm.job.state.detail_scale, frame)

        self.window.set_activity(f"Exporting {path.name}\N{HORIZONTAL ELLIPSIS}")
        self.window.tasks.start(work, lambda written: self._on_done(written, frame), lambda exc: self.failed(path, exc),
                                "export")

    def _on_done(self, path: Path, frame: "ExportFrame") -> None:
        self.window.set_activity(f"Exported {path} ({frame.description})")
        self.finished.emit(str(path))

    def failed(self, path: Path, exc: BaseException) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self.window.show_error("Could not export", f"The face could not be written to\n{path}\n\n{reason}")
        self.window.set_activity(f"Export to {path.name} failed")
        self.finished.emit("")
