"""Edit > Symmetrise face: the face averaged with its mirror image and refitted, on a background task (Qt).

``imface_core.fitting.symmetry.symmetrise`` does the work (mesh, mirror about the face's own mid-plane, average,
fit the codes from the face's own); a progress dialog shows its steps and Cancel stops it. The result is one
undo step: the symmetrised face (its region edits taken into the codes of the whole face), and the status bar
says how asymmetric the face was and is, in mm.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressDialog

from app.progress_dialog import close_progress, open_progress
from app.worker import BackgroundTask
from imface_core.errors import Cancelled, ImFaceError

if TYPE_CHECKING:
    from app.main_window import MainWindow
    from imface_core.fitting.symmetry import Symmetrised

__all__ = ["SYMMETRISE_STEPS", "Symmetrise"]

SYMMETRISE_STEPS = 150
"""Fit steps (from the face's own codes: fewer than a scan fit from the mean face needs)."""
PHASES = {"mesh": "Meshing the face", "mirror": "Mirroring it about its mid-plane", "coarse": "Fitting the shape",
          "handover": "Fitting the shape and details", "detail": "Fitting the details", "check": "Measuring"}


class Symmetrise(QObject):
    """One symmetrisation at a time for ``window``; ``finished`` says how it ended: "done", "cancelled", "failed"."""

    finished = Signal(str)

    def __init__(self, window: "MainWindow", post: Callable, steps: int = SYMMETRISE_STEPS):
        super().__init__(window)
        self.window, self._post, self.steps = window, post, steps
        self.task: BackgroundTask | None = None
        self.dialog: QProgressDialog | None = None
        self.result: "Symmetrised | None" = None
        """The newest finished one (its asymmetry before and after)."""

    def start(self) -> None:
        w = self.window
        if w.editor is None or self.task is not None:
            return
        w.document.flush()
        state, model, steps, post = w.state, w.editor.model, self.steps, self._post
        codes = w.space.codes(state)
        self.dialog = open_progress(w, "Symmetrising the face", steps, self.cancel, show_after_ms=0)
        self.dialog.setWindowTitle("Symmetrise face")
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)

        def work(cancel) -> "Symmetrised | None":
            from imface_core.fitting.symmetry import symmetrise

            def progress(step: int, total: int, phase: str) -> None:
                post(lambda: self._on_progress(step, phase))

            try:
                return symmetrise(model, codes, steps=steps, progress=progress, cancel=cancel)
            except Cancelled:
                return None

        self.task = w.tasks.start(work, lambda out: self._on_done(state, out), self._on_failed, "symmetrise")
        self.dialog.show()
        w.set_activity("Symmetrising the face\N{HORIZONTAL ELLIPSIS}")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.window.set_activity("Cancelling\N{HORIZONTAL ELLIPSIS}")

    def _on_progress(self, step: int, phase: str) -> None:
        if self.dialog is not None and self.task is not None and not self.task.cancel_event.is_set():
            self.dialog.setValue(max(self.dialog.value(), step))
            self.dialog.setLabelText(f"{PHASES.get(phase, phase)}\N{HORIZONTAL ELLIPSIS}")

    def _end(self) -> None:
        self.task = None
        close_progress(self.dialog, self.cancel)
        self.dialog = None

    def _on_done(self, state, result: "Symmetrised | None") -> None:
        self._end()
        w = self.window
        if result is None or w.editor is None:
            w.set_activity("Symmetrise cancelled")
            self.finished.emit("cancelled")
            return
        self.result = result
        new = w.space.state_from_codes(result.codes, detail_scale=state.detail_scale, label=state.label)
        w.set_state(replace(new, regions=()))
        w.set_activity(f"Symmetrised: asymmetry {result.before.mean_mm:.2f} mm \N{RIGHTWARDS ARROW} "
                       f"{result.after.mean_mm:.2f} mm (mean distance of the mirrored face)")
        self.finished.emit("done")

    def _on_failed(self, exc: BaseException) -> None:
        self._end()
        text = str(exc) if isinstance(exc, (ImFaceError, ValueError)) else f"{type(exc).__name__}: {exc}"
        self.window.show_error("Could not symmetrise the face", text)
        self.finished.emit("failed")
