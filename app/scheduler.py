"""Which mesh the viewport asks for, and which of the meshes that come back it shows (no Qt).

The slider path (napari's ``_layer_slicer``): every edit of the ``Document`` becomes a frozen ``MeshJob`` with a
new id, handed to one ``LatestOnlyWorker`` that computes only the newest; each mesh comes back with its job, so
the id runs end to end.

* while a slider is dragged the jobs stop at the coarse preview; when it is released (or rests: ``rest``) a
  full job follows, which shows the preview again only if it differs and then refines to full detail;
* a mesh of a job older than the one on screen is dropped (``stale_dropped``): the view never goes back in time;
  neither does it show results of an earlier model's worker (``attach`` starts a new generation);
* after a jump (undo, a random face, a session, a new quality) the job is *fresh*: the mesher's previews
  search the whole grid instead of following the last surface, until a fresh job's mesh has come back (the
  full-detail mesh never follows: it is a function of the face alone, ``ProgressiveMesher``);
* an export waits for the full-detail mesh of the current face when it is not on screen yet.

The worker's callbacks run on its thread; ``post`` (the window's queued signal; a plain call in tests) brings
them to the thread that owns the scheduler. What the scheduler decides to show goes to a ``MeshView``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from app.jobs import MeshJob
from app.worker import LatestOnlyWorker
from imface_core.errors import ImFaceError

if TYPE_CHECKING:
    from app.document import Document
    from app.engine import DisplayMesh

__all__ = ["MeshScheduler", "MeshView", "MeshWorker"]

_log = logging.getLogger(__name__)


class MeshView(Protocol):
    """What the scheduler tells the window (all on the window's thread)."""

    def draw_mesh(self, dm: "DisplayMesh") -> None:
        """Put ``dm`` on screen (it looks different from the mesh there)."""

    def mesh_shown(self, dm: "DisplayMesh") -> None:
        """``dm`` is the newest mesh on screen (drawn, or the same look as the one there)."""

    def face_ready(self, dm: "DisplayMesh") -> None:
        """``dm`` is the full-detail mesh of the newest edit."""

    def set_activity(self, text: str) -> None:
        """What is going on, for the status bar."""

    def mesh_failed(self, reason: str) -> None:
        """A job gave no face (``reason`` says why); the last face stays on screen."""

    def show_error(self, title: str, text: str) -> None:
        """A problem the user must see (a dialog)."""

    def start_export(self, dm: "DisplayMesh", path: Path, colors: bool) -> None:
        """Write ``dm`` to ``path`` (the export that waited for it)."""

    def export_failed(self, path: Path, exc: BaseException) -> None:
        """The export that waited could not be done."""


class MeshWorker(Protocol):
    """What the scheduler needs of its worker (``LatestOnlyWorker``)."""

    def submit(self, request: MeshJob) -> None: ...

    def close(self, timeout: float | None = ...) -> bool: ...


def _latest_only_worker(run: Callable, on_result: Callable, on_error: Callable) -> MeshWorker:
    return LatestOnlyWorker(run, on_result=on_result, on_error=on_error, name="mesh-worker")


class MeshScheduler:
    """Turns the document's edits into mesh jobs and the meshes that come back into what the view shows.

    Args:
        document: the ``Document`` (the scheduler listens to its "state" and "view" events).
        view: the ``MeshView``.
        post: ``post(fn)`` runs ``fn()`` on the scheduler's thread (called from the worker's thread).
        make_worker: ``make_worker(run, on_result, on_error)`` -> the worker (default: a ``LatestOnlyWorker``).
    """

    def __init__(
        self,
        document: "Document",
        view: MeshView,
        post: Callable[[Callable[[], Any]], None],
        make_worker: Callable[[Callable, Callable, Callable], MeshWorker] = _latest_only_worker,
    ) -> None:
        self.document = document
        self.view = view
        self._post = post
        self._make_worker = make_worker
        self.worker: MeshWorker | None = None
        self.latest_job: MeshJob | None = None
        """The newest job submitted."""
        self.shown: DisplayMesh | None = None
        """The mesh drawn on screen."""
        self.full: DisplayMesh | None = None
        """The newest full-detail mesh on screen."""
        self.dragging = False
        self.pending_export: tuple[Path, bool] | None = None
        """(path, colours) of an export that waits for the full-detail mesh."""
        self.fresh_pending = False
        self.stale_dropped = 0
        """Meshes that came back after a newer one was shown (dropped)."""
        self.closed = False
        self._generation = 0
        self._last_fresh_id = 0
        self._shown_job_id = 0
        self._failed_job_id = 0
        document.on("state", self._on_state)
        document.on("view", self._on_view)

    # -- the worker --------------------------------------------------------------------------------
    def attach(self, run: Callable) -> None:
        """Mesh the document's (new) model with ``run(job, cancel)`` (``MeshComputer.run``) from now on: a new
        worker replaces the old one, whose results still on their way are ignored; the first face is asked."""
        if self.worker is not None:
            self.worker.close(timeout=1.0)
        self._generation += 1
        gen = self._generation

        def on_result(job: MeshJob, dm: "DisplayMesh") -> None:
            self._post(lambda: gen == self._generation and self.on_result(dm))

        def on_error(job: MeshJob, exc: BaseException) -> None:
            self._post(lambda: gen == self._generation and self.on_error(job, exc))

        self.worker = self._make_worker(run, on_result, on_error)
        self.latest_job = self.shown = self.full = None
        self._shown_job_id = 0
        self.fresh_pending = True
        self.submit()

    def close(self, timeout: float = 0.5) -> None:
        """Stop: nothing more is submitted or shown."""
        self.closed = True
        if self.worker is not None:
            self.worker.close(timeout=timeout)

    # -- requests ----------------------------------------------------------------------------------
    def submit(self, preview_only: bool = False) -> MeshJob | None:
        """Ask for the current face (only its coarse preview when ``preview_only``); the job, or None."""
        doc = self.document
        if self.worker is None or doc.state is None or self.closed:
            return None
        job = MeshJob(doc.state, doc.space.codes(doc.state), doc.quality, preview_only=preview_only,
                      colors=doc.colour_mode == "correspondence", landmarks=doc.show_landmarks,
                      fresh=self.fresh_pending)
        self.submit_job(job)
        self.view.set_activity("Computing the preview\N{HORIZONTAL ELLIPSIS}" if preview_only else
                               "Computing the face\N{HORIZONTAL ELLIPSIS}")
        return job

    def submit_job(self, job: MeshJob) -> None:
        """Hand ``job`` to the worker as the newest request."""
        self.latest_job = job
        if job.fresh:
            self._last_fresh_id = job.job_id
        self.worker.submit(job)

    def _on_state(self, fresh: bool, slider: bool) -> None:
        if fresh:
            self.fresh_pending = True
        self.submit(preview_only=slider and self.dragging)

    def _on_view(self, what: str, remesh: bool = True) -> None:
        doc, shown = self.document, self.shown
        if what == "colour_mode" and doc.colour_mode == "correspondence" and (shown is None or not shown.job.colors):
            self.submit()
        elif what == "landmarks" and doc.show_landmarks and (shown is None or shown.landmarks is None):
            self.submit()
        elif what == "quality" and remesh:
            self.fresh_pending = True
            self.submit()

    # -- drags -------------------------------------------------------------------------------------
    def press(self) -> None:
        """A slider was pressed: its edits ask for previews only."""
        self.dragging = True

    def release(self) -> None:
        """The slider was let go: the full-detail face follows (unless it is already asked)."""
        self.dragging = False
        job = self.latest_job
        if job is not None and (job.preview_only or job.state != self.document.state):
            self.submit()

    def rest(self) -> None:
        """The slider has been held still for a while: its full-detail face, while still held."""
        if self.dragging and self.latest_job is not None and self.latest_job.preview_only:
            self.submit()

    # -- results -----------------------------------------------------------------------------------
    def on_result(self, dm: "DisplayMesh") -> None:
        """A mesh came back (the scheduler's thread)."""
        if self.closed:
            return
        if dm.job_id < self._shown_job_id:
            self.stale_dropped += 1  # never go back to an older face
            return
        if dm.n_vertices == 0 or dm.poly.n_points == 0:  # the viewport is never handed an empty mesh
            self._on_empty_mesh(dm)
            return
        self._shown_job_id = dm.job_id
        shown = self.shown
        same_look = (shown is not None and shown.job.state == dm.job.state and shown.job.colors == dm.job.colors
                     and shown.job.resolution == dm.job.resolution and dm.stride >= shown.stride
                     and (dm.landmarks is None) == (shown.landmarks is None))
        if not same_look:  # (a full request re-yields the preview its drag already showed: skip that)
            self.view.draw_mesh(dm)
            self.shown = dm
        if dm.job.fresh and dm.job_id >= self._last_fresh_id:
            self.fresh_pending = False  # the mesher was reset for the newest jump; later jobs may follow it
        latest = self.latest_job is not None and dm.job_id == self.latest_job.job_id
        if dm.full_detail:
            self.full = dm
        self.view.mesh_shown(dm)
        if latest and dm.full_detail:
            self.view.set_activity("Ready")
            self.view.face_ready(dm)
            if self.pending_export is not None:
                path, colors = self.pending_export
                self.pending_export = None
                self.view.start_export(dm, path, colors)
        elif latest:
            self.view.set_activity("Preview \N{EM DASH} release the slider for full detail" if dm.job.preview_only
                                   else f"Refining ({dm.stage}, {dm.job.resolution // max(dm.stride, 1)}"
                                        f"\N{SUPERSCRIPT THREE})\N{HORIZONTAL ELLIPSIS}")

    def _on_empty_mesh(self, dm: "DisplayMesh") -> None:
        """No surface for these codes: an error (the last face stays on screen), never an empty face."""
        if not dm.full_detail:  # a preview: the full mesh of the job follows (or the next edit)
            self.view.set_activity("This face has no surface in the preview\N{HORIZONTAL ELLIPSIS}")
            return
        _log.warning("mesh job %s gave an empty mesh", dm.job_id)
        reason = "the model gives no surface for this face (an empty mesh)"
        self._failed(dm.job, reason)
        if self.latest_job is not None and dm.job_id == self.latest_job.job_id:
            self.view.show_error("Could not compute the face", f"The {reason}.\n\nThe face shown is the last one "
                            "that could be computed; undo, or pick another face.")

    def on_error(self, job: MeshJob, exc: BaseException) -> None:
        """A job failed (the scheduler's thread)."""
        if isinstance(exc, ImFaceError):  # a face the model refuses (its message says why)
            _log.warning("mesh job %s failed: %s", job.job_id, exc)
            self._failed(job, str(exc))
        else:  # a bug: keep its traceback in the log
            _log.error("mesh job %s failed: %s", job.job_id, exc, exc_info=exc)
            self._failed(job, f"{type(exc).__name__}: {exc}")

    def _failed(self, job: MeshJob, reason: str) -> None:
        self._failed_job_id = job.job_id
        self.view.mesh_failed(reason)
        self.view.set_activity(f"Could not compute the face: {reason}")
        if self.pending_export is not None and self.latest_job is not None and job.job_id == self.latest_job.job_id:
            path, _ = self.pending_export
            self.pending_export = None
            self.view.export_failed(path, RuntimeError(f"the face could not be computed ({reason})"))

    # -- export and waiting ------------------------------------------------------------------------
    def export(self, path: Path, colors: bool) -> None:
        """Export the current face's full-detail mesh now, or as soon as it is on screen."""
        doc, full = self.document, self.full
        if full is not None and full.job.state == doc.state and full.job.resolution == doc.quality:
            self.view.start_export(full, path, colors)
            return
        self.pending_export = (path, colors)
        job = self.latest_job
        if job is None or job.preview_only or job.state != doc.state:
            self.submit()
        self.view.set_activity("The export waits for the full-detail mesh\N{HORIZONTAL ELLIPSIS}")

    def is_ready(self) -> bool:
        """Whether nothing is pending: the newest job's full-detail mesh is shown (or it failed), or no model."""
        if self.document.editor is None:
            return True
        if self.latest_job is None:
            return False
        done = self.full.job_id if self.full is not None else 0
        return self.latest_job.job_id in (done, self._failed_job_id)
