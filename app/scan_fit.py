"""File > Load scan: the model fitted to a scan on a background task, with a progress dialog and Cancel (Qt).

The fit runs on its own ``BackgroundTask`` (``app.engine.fit_scan_file``); its progress comes back to the GUI
thread through the window's relay. A finished fit goes to the document (``Document.add_fit``: the scan, the
error map and the fitted face), whose events update the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, Signal

from app.dialogs import FitProgressDialog
from app.jobs import FitOptions
from app.worker import BackgroundTask
from imface_core.errors import Cancelled, ImFaceError

if TYPE_CHECKING:
    from app.engine import FitOutcome
    from app.main_window import MainWindow

__all__ = ["ScanFit"]


class ScanFit(QObject):
    """One fit at a time for ``window``; ``finished`` says how it ended: "done", "cancelled" or "failed"."""

    finished = Signal(str)

    def __init__(self, window: "MainWindow", post: Callable):
        super().__init__(window)
        self.window = window
        self._post = post
        self.task: BackgroundTask | None = None
        self.dialog: FitProgressDialog | None = None
        self.phase: str | None = None
        """Phase of the running fit ("load", "align", "samples", "coarse", ...)."""
        self.closed = False

    def start(self, path: Path, options: FitOptions | None) -> None:
        """Fit the model to ``path`` (nothing when a fit runs already)."""
        w = self.window
        if w.editor is None:
            w.show_error("Load scan", "Open a face model first.")
            return
        if self.task is not None:
            return
        w.document.flush()
        options = options or FitOptions()
        self.dialog = FitProgressDialog(path, options.steps, w, self.cancel)
        self.phase = None
        model, post = w.editor.model, self._post

        def work(cancel) -> "FitOutcome | None":
            from app import engine  # (torch is imported already: a model is loaded)

            def progress(step: int, steps: int, phase: str) -> None:
                post(lambda: self._on_progress(step, steps, phase))

            try:
                return engine.fit_scan_file(model, path, options, progress=progress, cancel=cancel)
            except Cancelled:
                return None  # no outcome

        self.task = w.tasks.start(work, lambda out: self._on_done(path, out), lambda exc: self._on_failed(path, exc),
                                  "fit")
        self.dialog.show()
        w.set_activity(f"Fitting {path.name}\N{HORIZONTAL ELLIPSIS}")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            if self.dialog is not None:
                self.dialog.setLabelText("Cancelling\N{HORIZONTAL ELLIPSIS}")
            self.window.set_activity("Cancelling the fit\N{HORIZONTAL ELLIPSIS}")

    def close(self) -> None:
        """The window closes: no outcome is shown any more."""
        self.closed = True
        if self.dialog is not None:
            self.dialog.close()

    def _on_progress(self, step: int, steps: int, phase: str) -> None:
        if self.dialog is None or self.task is None or self.task.cancel_event.is_set():
            return
        self.phase = phase
        self.dialog.show_progress(step, steps, phase)

    def _end(self) -> None:
        self.task = None
        if self.dialog is not None:
            self.dialog.finish()
            self.dialog = None

    def _on_done(self, path: Path, outcome: "FitOutcome | None") -> None:
        self._end()
        w = self.window
        if outcome is None:
            w.set_activity(f"Fit of {path.name} cancelled")
            self.finished.emit("cancelled")
            return
        if w.editor is None or self.closed:
            return
        w.document.add_fit(outcome)  # the scan, its error map and details, then the fitted face
        w.document.set_colour_mode("error")
        w.recent.add("scan", outcome.path)
        w.set_activity(outcome.summary().capitalize())
        self.finished.emit("done")

    def _on_failed(self, path: Path, exc: BaseException) -> None:
        self._end()
        text = str(exc) if isinstance(exc, (ImFaceError, ValueError)) else f"{type(exc).__name__}: {exc}"
        self.window.show_error("Could not fit the scan", f"{path.name} could not be fitted.\n\n{text}")
        self.window.set_activity(f"Fit of {path.name} failed")
        self.finished.emit("failed")
