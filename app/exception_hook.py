"""The editor's last line of defence: an exception no handler caught is logged and shown, never lost.

PySide hands an exception that escapes a slot (a menu action, a timer, a queued call) to ``sys.excepthook``
and goes on with the event loop; Python's default hook only prints it, so the user saw nothing and the
editor went on in an unknown state. ``install_exception_hook`` (``main.py`` calls it at start) replaces it
with ``ExceptionReporter``: the full traceback goes to the log, and a dialog says what happened. Errors a
user can act on (``ImFaceError``) show their own message; anything else is called a bug. Exceptions of
other threads (``threading.excepthook``) are logged; the window's workers report their own errors.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType
from typing import Callable

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from imface_core.errors import ImFaceError

__all__ = ["ExceptionReporter", "install_exception_hook"]

_log = logging.getLogger("imface_studio.uncaught")

TITLE = "Unexpected error"


class ExceptionReporter:
    """A ``sys.excepthook``: log the traceback, then show a dialog (when ``interactive``) on the GUI thread.

    Args:
        parent: the dialog's parent window (a callable, so the window can come and go), or None.
        interactive: show a dialog; False only logs (``--screenshot`` runs).
    """

    def __init__(self, parent: Callable[[], QWidget | None] = lambda: None, interactive: bool = True):
        self.parent = parent
        self.interactive = interactive
        self.reported = 0
        self.last_message: str | None = None
        self._showing = False

    def __call__(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):  # Ctrl+C in the terminal: quit as Python would
            sys.__excepthook__(exc_type, exc, tb)
            app = QApplication.instance()
            if app is not None:
                app.quit()
            return
        self.reported += 1
        _log.error("uncaught exception", exc_info=(exc_type, exc, tb))
        self.last_message = message_of(exc)
        if not self.interactive or self._showing or not _on_gui_thread():
            return  # (one dialog at a time: an error while one is open is only logged)
        self._showing = True
        try:
            QMessageBox.critical(self.parent(), TITLE, self.last_message)
        except Exception:  # noqa: BLE001 - the hook itself must never raise
            _log.exception("could not show the error dialog")
        finally:
            self._showing = False

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        """``threading.excepthook``: log an exception that ended a thread (with its thread's name)."""
        if args.exc_type is SystemExit:
            return
        self.reported += 1
        name = args.thread.name if args.thread is not None else "?"
        _log.error("uncaught exception in thread %s", name, exc_info=(args.exc_type, args.exc_value,
                                                                      args.exc_traceback))
        self.last_message = message_of(args.exc_value)


def message_of(exc: BaseException | None) -> str:
    """What the dialog says about ``exc``."""
    if isinstance(exc, ImFaceError):
        return f"{exc}\n\nThe editor carries on; nothing was changed by the failed action."
    return (f"ImFace Studio hit a bug and carried on:\n\n{type(exc).__name__}: {exc}\n\nThe action that failed "
            "may be incomplete; save your session under a new name. The full traceback is in the log.")


def _on_gui_thread() -> bool:
    app = QApplication.instance()
    return app is not None and QThread.currentThread() == app.thread()


def install_exception_hook(parent: Callable[[], QWidget | None] = lambda: None,
                           interactive: bool = True) -> ExceptionReporter:
    """Make an ``ExceptionReporter`` the process's ``sys.excepthook`` and ``threading.excepthook``."""
    reporter = ExceptionReporter(parent, interactive)
    sys.excepthook = reporter
    threading.excepthook = reporter.thread_hook
    return reporter
