"""A file export that runs as a background task behind a Cancel dialog (the rig, the animation).

Subclasses build the ``work`` (run off the GUI thread, given a cancel token, returning the path written) and
name their messages; starting it, cancelling, closing the dialog and reporting the outcome are done here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressDialog

from app.progress_dialog import close_progress, open_progress
from imface_core.errors import Cancelled

if TYPE_CHECKING:
    from app.main_window import MainWindow

__all__ = ["BackgroundExport"]


class BackgroundExport(QObject):
    """One export at a time for ``window``; ``finished`` gives the path written, or "" (failed, cancelled)."""

    finished = Signal(str)

    TASK_NAME = "export"
    DONE = "Exported {path}"
    CANCELLED = "Export cancelled"
    FAIL_TITLE = "Could not export"
    FAIL_BODY = "It could not be written to"
    FAILED: str | None = None
    """Status line after a failure (``{name}``: the file's name); None leaves the status as it was."""

    def __init__(self, window: "MainWindow", post: Callable):
        super().__init__(window)
        self.window = window
        self._post = post
        self.task = None
        self.dialog: QProgressDialog | None = None

    def _start(self, work: Callable, path: Path, text: str, steps: int) -> None:
        w = self.window
        self.dialog = open_progress(w, text, steps, self.cancel)
        w.set_activity(f"{text}\N{HORIZONTAL ELLIPSIS}")
        self.task = w.tasks.start(work, self._on_done, lambda exc: self._on_failed(path, exc), self.TASK_NAME)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _close_dialog(self) -> None:
        self.task = None
        close_progress(self.dialog, self.cancel)
        self.dialog = None

    def _on_done(self, path: Path) -> None:
        self._close_dialog()
        self.window.set_activity(self.DONE.format(path=path))
        self.finished.emit(str(path))

    def _on_failed(self, path: Path, exc: BaseException) -> None:
        self._close_dialog()
        if isinstance(exc, Cancelled):
            self.window.set_activity(self.CANCELLED)
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.window.show_error(self.FAIL_TITLE, f"{self.FAIL_BODY}\n{path}\n\n{reason}")
            if self.FAILED is not None:
                self.window.set_activity(self.FAILED.format(name=path.name))
        self.finished.emit("")
