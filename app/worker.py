"""Background work without Qt: a one-thread worker that computes only the newest request, and tasks.

``LatestOnlyWorker`` is the slider path (the idea of napari's ``_layer_slicer`` and superqt's
``GeneratorWorker.send``):

* one daemon thread, so at most one request is computed at a time and torch is never entered twice;
* ``submit`` puts the request in a single *pending* slot, replacing (dropping) any request still waiting there;
* a request's ``run(request, cancel)`` is a generator of results (a coarse preview, then finer meshes);
  every result is handed to ``on_result`` as soon as it exists;
* the running request is cancelled (its ``threading.Event`` set; the engine checks it between chunks of
  field evaluations) when a newer request arrives *after it has delivered its first result*; before that it
  may finish its first result, so a continuous drag still shows a fresh preview every ~100 ms instead of
  cancelling every preview before it appears (starvation);
* after each result the worker also checks the pending slot and stops the running request when a newer one
  waits.

Results are delivered in request order: request n+1 starts only after request n stopped, and ``on_result``
is called from the worker thread in the order produced.  A consumer that also refuses results older than
the newest it has shown never goes back in time.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, TypeVar

__all__ = ["BackgroundTask", "LatestOnlyWorker", "TaskGroup", "WorkerStats"]

_log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T")


@dataclass
class WorkerStats:
    submitted: int = 0
    dropped: int = 0
    """Requests replaced in the pending slot before they started."""
    superseded: int = 0
    """Requests stopped because a newer one arrived (while running, or right after a result)."""
    finished: int = 0
    """Requests whose generator ran to its end with no newer request waiting."""
    failed: int = 0
    results: int = 0


@dataclass
class _Job(Generic[R]):
    request: R
    cancel: threading.Event = field(default_factory=threading.Event)
    delivered: bool = False


class LatestOnlyWorker(Generic[R, T]):
    """Computes only the newest request on one background thread (see the module doc).

    Args:
        run: ``run(request, cancel_event)`` -> iterable of results; it should stop soon after the event is set
            (quietly, or by raising; an exception after cancellation is not an error).
        on_result: ``on_result(request, result)``, called on the worker thread.
        on_error: ``on_error(request, exception)`` for a request that failed (worker thread); default: log.
        on_idle: called (worker thread) whenever the worker runs out of requests.
        name: thread name.
    """

    def __init__(
        self,
        run: Callable[[R, threading.Event], Iterable[T]],
        on_result: Callable[[R, T], None],
        on_error: Callable[[R, BaseException], None] | None = None,
        on_idle: Callable[[], None] | None = None,
        name: str = "latest-only-worker",
    ):
        self._run = run
        self._on_result = on_result
        self._on_error = on_error
        self._on_idle = on_idle
        self._cond = threading.Condition()
        self._pending: _Job[R] | None = None
        self._current: _Job[R] | None = None
        self._closed = False
        self.stats = WorkerStats()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- GUI-thread side ---------------------------------------------------------------------------
    def submit(self, request: R) -> None:
        """Queue ``request`` as the newest; drops the one still waiting and stops a running one that has
        already shown something."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the worker is closed")
            self.stats.submitted += 1
            if self._pending is not None:
                self.stats.dropped += 1
            self._pending = _Job(request)
            current = self._current
            if current is not None and current.delivered and not current.cancel.is_set():
                current.cancel.set()
            self._cond.notify_all()

    def cancel(self) -> None:
        """Drop the waiting request and stop the running one."""
        with self._cond:
            if self._pending is not None:
                self.stats.dropped += 1
            self._pending = None
            if self._current is not None:
                self._current.cancel.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is running or waiting (tests, benchmarks). False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and self._current is None, timeout)

    def close(self, timeout: float | None = 2.0) -> bool:
        """Stop: cancel everything and end the thread. True when the thread ended within ``timeout``."""
        with self._cond:
            self._closed = True
            self._pending = None
            if self._current is not None:
                self._current.cancel.set()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- worker thread -----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job, self._pending = self._pending, None
                self._current = job
            self._run_job(job)
            with self._cond:
                self._current = None
                idle = self._pending is None and not self._closed
                self._cond.notify_all()
            if idle and self._on_idle is not None:
                try:
                    self._on_idle()
                except Exception:  # noqa: BLE001 (a callback must not kill the worker)
                    _log.exception("on_idle callback failed")

    def _run_job(self, job: _Job[R]) -> None:
        stopped = False
        try:
            for result in self._run(job.request, job.cancel):
                if job.cancel.is_set():
                    stopped = True
                    break
                self.stats.results += 1
                self._on_result(job.request, result)
                with self._cond:
                    job.delivered = True
                    if self._pending is not None:  # a newer request waits: this one is stale now
                        job.cancel.set()
                if job.cancel.is_set():
                    stopped = True
                    break
        except Exception as exc:  # noqa: BLE001 (reported to the owner)
            if job.cancel.is_set():
                stopped = True
            else:
                self.stats.failed += 1
                if self._on_error is not None:
                    try:
                        self._on_error(job.request, exc)
                    except Exception:  # noqa: BLE001
                        _log.exception("on_error callback failed")
                else:
                    _log.exception("request failed: %r", job.request)
                return
        if stopped or job.cancel.is_set():
            self.stats.superseded += 1
        else:
            self.stats.finished += 1


class BackgroundTask(Generic[T]):
    """One function run on its own daemon thread, with a cancel event (model loading, fitting, export).

    ``fn(cancel_event)`` returns the result; ``on_done(result)`` or ``on_error(exception)`` is called on the
    task's thread when it ends (exactly one of them).
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        fn: Callable[[threading.Event], T],
        on_done: Callable[[T], Any],
        on_error: Callable[[BaseException], Any],
        name: str = "task",
    ):
        self.cancel_event = threading.Event()
        self._fn = fn
        self._on_done = on_done
        self._on_error = on_error
        self.task_id = next(self._ids)
        self._thread = threading.Thread(target=self._main, name=f"{name}-{self.task_id}", daemon=True)

    def start(self) -> "BackgroundTask[T]":
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _main(self) -> None:
        try:
            result = self._fn(self.cancel_event)
        except BaseException as exc:  # noqa: BLE001 (handed to the owner)
            try:
                self._on_error(exc)
            except Exception:  # noqa: BLE001
                _log.exception("task error callback failed")
            return
        try:
            self._on_done(result)
        except Exception:  # noqa: BLE001
            _log.exception("task callback failed")


class TaskGroup:
    """The running ``BackgroundTask``s of an owner, whose callbacks ``post`` brings to the owner's thread
    (the window's queued signal), so ``on_done`` / ``on_error`` run where the owner's state may be touched."""

    def __init__(self, post: Callable[[Callable[[], Any]], None]):
        self._post = post
        self.running: set[BackgroundTask] = set()

    def start(self, fn: Callable[[threading.Event], T], on_done: Callable[[T], Any],
              on_error: Callable[[BaseException], Any], name: str) -> BackgroundTask[T]:
        def done(result: T) -> None:
            self._post(lambda: (self.running.discard(task), on_done(result)))

        def failed(exc: BaseException) -> None:
            self._post(lambda: (self.running.discard(task), on_error(exc)))

        task = BackgroundTask(fn, done, failed, name=name)
        self.running.add(task)
        return task.start()

    def cancel_all(self) -> None:
        for task in list(self.running):
            task.cancel()
