"""Qt glue of the background threads: ``Relay`` brings callables to the GUI thread, ``wait_until`` waits there.

Everything Qt-free (``app.scheduler``, ``app.worker.TaskGroup``) is handed ``relay.post`` as its ``post``.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication

__all__ = ["Relay", "wait_until"]


class Relay(QObject):
    """Runs callables on the GUI thread: ``post(fn)`` from any thread queues ``fn()``."""

    _call = Signal(object)

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[[], Any]) -> None:
        try:
            self._call.emit(fn)
        except RuntimeError:  # the owner (and this object) is already gone
            pass

    @staticmethod
    def _run(fn: Callable[[], Any]) -> None:
        fn()


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Process events until ``condition()`` (or ``timeout_s`` passed); its last value."""
    deadline = time.monotonic() + timeout_s
    loop = QEventLoop()
    poll = QTimer(interval=20)  # the event loop sleeps in between (no busy wait that would hog the GIL)
    poll.timeout.connect(lambda: (condition() or time.monotonic() > deadline) and loop.quit())
    poll.start()
    if not condition():
        loop.exec()
    poll.stop()
    QApplication.processEvents()
    return condition()
