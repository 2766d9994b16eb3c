"""The mesh scheduler without Qt: drags, release, rest, stale results that arrive late, failures, pending export.

A ``FakeWorker`` records the jobs and a test hands their meshes back (``deliver``), in any order; a real
``LatestOnlyWorker`` runs a fake mesher at the end. No display, no torch, no Qt.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import pytest

from app.document import Document
from app.scheduler import MeshScheduler
from editor_fakes import FakeEditor, FakeView, FakeWorker
from imface_core.errors import CodesError


class Rig:
    """A document on a fake model, its scheduler, the view and the worker; ``post`` runs at once unless
    ``queued`` (then ``drain`` runs what waits, as the GUI thread's event loop would)."""

    def __init__(self, queued: bool = False):
        self.doc = Document(quality=64, seed=0)
        self.doc.load_model(FakeEditor())
        self.view = FakeView()
        self.queue: list = []
        self.workers: list[FakeWorker] = []
        post = self.queue.append if queued else (lambda fn: fn())
        self.scheduler = MeshScheduler(self.doc, self.view, post, make_worker=self._make_worker)
        self.scheduler.attach("run")

    def _make_worker(self, run, on_result, on_error) -> FakeWorker:
        self.workers.append(FakeWorker(run, on_result, on_error))
        return self.workers[-1]

    @property
    def worker(self) -> FakeWorker:
        return self.workers[-1]

    @property
    def jobs(self) -> list:
        return self.worker.jobs

    def drain(self) -> None:
        while self.queue:
            self.queue.pop(0)()

    def finish(self, job=None) -> None:
        """The preview and the full mesh of ``job`` (default: the newest)."""
        job = job or self.jobs[-1]
        self.worker.deliver(job, "preview")
        self.worker.deliver(job, "final")

    def drag(self, values, slider: int = 0) -> None:
        self.scheduler.press()
        for v in values:
            self.doc.edit(self.doc.state.with_id_coeff(slider, v), commit_later=False)


@pytest.fixture
def rig() -> Rig:
    r = Rig()
    r.finish()
    return r


def test_the_first_face_is_a_fresh_full_job(rig):
    first = rig.jobs[0]
    assert len(rig.jobs) == 1 and first.fresh and not first.preview_only and first.resolution == 64
    assert first.state == rig.doc.state and first.codes.as_dict().keys() == {"z_id", "z_exp", "z_det"}
    assert [dm.stage for dm in rig.view.drawn] == ["preview", "final"]
    assert rig.view.ready == [rig.scheduler.full] and rig.view.activity[-1] == "Ready"
    assert rig.scheduler.is_ready() and not rig.scheduler.fresh_pending


def test_a_drag_asks_previews_then_the_full_face_on_release(rig):
    rig.drag([0.5, 1.0, 1.5])
    drag_jobs = rig.jobs[1:]
    assert [j.preview_only for j in drag_jobs] == [True] * 3
    assert [j.state.id_coeffs[0] for j in drag_jobs] == [0.5, 1.0, 1.5]
    assert len({j.job_id for j in rig.jobs}) == len(rig.jobs) and not any(j.fresh for j in drag_jobs)
    assert rig.view.activity[-1] == "Computing the preview\N{HORIZONTAL ELLIPSIS}"
    rig.worker.deliver(drag_jobs[-1], "preview")
    assert rig.view.drawn[-1].job is drag_jobs[-1] and not rig.scheduler.is_ready()
    assert rig.view.activity[-1].startswith("Preview")

    rig.scheduler.release()
    full = rig.jobs[-1]
    assert not full.preview_only and full.state == drag_jobs[-1].state
    drawn = len(rig.view.drawn)
    rig.worker.deliver(full, "preview")  # the same look as the drag's last preview: not drawn again
    assert len(rig.view.drawn) == drawn and rig.view.shown[-1].job is full
    rig.worker.deliver(full, "refine", stride=2)
    assert rig.view.activity[-1] == "Refining (refine, 32\N{SUPERSCRIPT THREE})\N{HORIZONTAL ELLIPSIS}"
    rig.worker.deliver(full, "final")
    assert rig.scheduler.full.job is full and rig.view.ready[-1].job is full and rig.scheduler.is_ready()
    rig.scheduler.release()  # (a second release: the full face is asked already)
    assert rig.jobs[-1] is full


def test_a_held_slider_gets_its_full_face_when_it_rests(rig):
    rig.drag([0.5])
    rig.scheduler.rest()
    held = rig.jobs[-1]
    assert not held.preview_only and held.state.id_coeffs[0] == 0.5
    rig.scheduler.rest()  # resting longer asks nothing more
    assert rig.jobs[-1] is held
    rig.scheduler.release()  # let go where it rested: nothing new to ask
    assert rig.jobs[-1] is held
    rig.scheduler.rest()  # a rest after the release asks nothing
    assert rig.jobs[-1] is held


def test_a_click_on_a_slider_asks_the_full_face_at_once(rig):
    rig.doc.edit(rig.doc.state.with_mix(0, 0.5))
    assert not rig.jobs[-1].preview_only and not rig.jobs[-1].fresh


def test_stale_results_that_arrive_late_are_dropped(rig):
    rig.drag([0.5, 1.0])
    old, new = rig.jobs[-2:]
    rig.worker.deliver(new, "preview")
    drawn = len(rig.view.drawn)
    rig.worker.deliver(old, "preview")
    rig.worker.deliver(old, "final")
    assert len(rig.view.drawn) == drawn and rig.scheduler.stale_dropped == 2
    assert rig.view.drawn[-1].job is new and rig.scheduler.full.job is rig.jobs[0]
    # an older job's full mesh before the newest's comes back: shown (newer than the screen), but not "ready"
    rig.scheduler.release()
    newest = rig.jobs[-1]
    rig.worker.deliver(new, "final", stride=1)
    assert not rig.scheduler.is_ready() and rig.view.ready[-1].job is rig.jobs[0]
    rig.worker.deliver(newest, "final")
    assert rig.scheduler.is_ready() and rig.view.ready[-1].job is newest


def test_results_of_the_previous_model_are_ignored():
    rig = Rig(queued=True)
    first_worker, job = rig.worker, rig.jobs[0]
    first_worker.deliver(job, "final")  # waits in the GUI thread's queue...
    rig.doc.load_model(FakeEditor(Path("other.pt")))
    rig.scheduler.attach("run2")  # ...while another model is loaded
    assert first_worker.closed and rig.worker is not first_worker and rig.jobs[0].fresh
    rig.drain()
    assert rig.view.drawn == [] and rig.scheduler.full is None and not rig.scheduler.is_ready()
    rig.worker.deliver(rig.jobs[0], "final")
    rig.drain()
    assert rig.scheduler.is_ready() and rig.view.drawn[-1].job is rig.jobs[0]


def test_jumps_search_the_whole_grid_until_a_fresh_mesh_is_back(rig):
    rig.doc.random_face()
    jump = rig.jobs[-1]
    assert jump.fresh and rig.scheduler.fresh_pending
    rig.doc.edit(rig.doc.state.with_mix(0, 0.3))  # before the jump's mesh: still fresh
    follow = rig.jobs[-1]
    assert follow.fresh
    rig.worker.deliver(jump, "final")  # an older fresh job: the newer fresh job still waits
    assert rig.scheduler.fresh_pending
    rig.finish(follow)
    assert not rig.scheduler.fresh_pending
    rig.doc.transfer_details(0)
    assert not rig.jobs[-1].fresh  # the details only: the mesher follows the last surface


def test_view_changes_ask_what_the_screen_lacks(rig):
    n = len(rig.jobs)
    rig.doc.set_scan_mode("beside")
    rig.doc.set_colour_mode("plain")
    assert len(rig.jobs) == n  # nothing to compute
    rig.doc.set_colour_mode("correspondence")
    assert rig.jobs[-1].colors and not rig.jobs[-1].fresh
    rig.finish()
    n = len(rig.jobs)
    rig.doc.set_colour_mode("correspondence")  # already coloured on screen
    assert len(rig.jobs) == n
    rig.doc.set_landmarks_visible(True)
    assert rig.jobs[-1].landmarks
    rig.finish()
    n = len(rig.jobs)
    rig.doc.set_landmarks_visible(False)
    assert len(rig.jobs) == n
    rig.doc.set_quality(96)
    assert rig.jobs[-1].resolution == 96 and rig.jobs[-1].fresh


def test_a_refused_face_is_reported_and_the_last_face_stays(rig):
    rig.doc.random_face()
    job = rig.jobs[-1]
    rig.worker.fail(job, CodesError("z_id is 1e+06 standard deviations from the model's codes"))
    assert rig.view.failures == ["z_id is 1e+06 standard deviations from the model's codes"]
    assert rig.view.activity[-1].startswith("Could not compute the face: z_id")
    assert rig.scheduler.is_ready() and rig.view.errors == [] and len(rig.view.drawn) == 2
    rig.doc.undo()
    rig.worker.fail(rig.jobs[-1], KeyError("bug"))  # a bug: its class name is kept
    assert rig.view.failures[-1] == "KeyError: 'bug'"


def test_an_empty_mesh_is_an_error_never_a_face(rig):
    rig.doc.random_face()
    job = rig.jobs[-1]
    rig.worker.deliver(job, "preview", n_vertices=0)
    assert rig.view.activity[-1].startswith("This face has no surface in the preview")
    assert rig.view.errors == [] and not rig.scheduler.is_ready()
    rig.worker.deliver(job, "final", n_vertices=0)
    assert len(rig.view.drawn) == 2 and rig.view.ready == [rig.view.drawn[-1]]  # the first face stays
    assert rig.view.errors[0][0] == "Could not compute the face" and "no surface" in rig.view.errors[0][1]
    assert rig.scheduler.is_ready()  # nothing pending: the newest job ended (failed)


def test_an_export_waits_for_the_full_face(rig, tmp_path):
    rig.scheduler.export(tmp_path / "now.obj", False)  # the face on screen is the current one
    assert rig.view.exports == [(rig.scheduler.full, tmp_path / "now.obj", False)]

    rig.drag([1.0])
    n = len(rig.jobs)
    rig.scheduler.export(tmp_path / "later.ply", True)  # mid-drag: the full face is asked for the export
    assert len(rig.jobs) == n + 1 and not rig.jobs[-1].preview_only and rig.scheduler.pending_export
    assert rig.view.activity[-1].startswith("The export waits")
    rig.scheduler.release()
    assert len(rig.jobs) == n + 1  # (asked already)
    rig.worker.deliver(rig.jobs[-1], "preview")
    assert len(rig.view.exports) == 1
    dm = rig.worker.deliver(rig.jobs[-1], "final")
    assert rig.view.exports[-1] == (dm, tmp_path / "later.ply", True) and rig.scheduler.pending_export is None

    rig.doc.set_quality(96)  # the full face on screen is of another quality: a new one is made for the export
    rig.scheduler.export(tmp_path / "q.obj", False)
    assert len(rig.view.exports) == 2
    rig.worker.fail(rig.jobs[-1], CodesError("no face"))
    assert rig.view.failed_exports == [(tmp_path / "q.obj", "the face could not be computed (no face)")]
    assert rig.scheduler.pending_export is None


def test_a_closed_scheduler_asks_and_shows_nothing(rig):
    job = rig.jobs[-1]
    rig.scheduler.close()
    assert rig.worker.closed
    rig.doc.random_face()
    assert rig.jobs[-1] is job
    drawn = len(rig.view.drawn)
    rig.worker.deliver(job, "final")
    assert len(rig.view.drawn) == drawn


def test_no_model_is_ready_and_asks_nothing():
    doc, view = Document(), FakeView()
    scheduler = MeshScheduler(doc, view, lambda fn: fn(), make_worker=FakeWorker)
    assert scheduler.submit() is None and scheduler.is_ready()


def test_with_the_newest_only_worker_the_newest_drag_value_ends_on_screen():
    """The real ``LatestOnlyWorker`` on a fake mesher; its results reach the scheduler through a queue (the
    GUI thread's event loop) and end on the face of the last slider value."""
    from editor_fakes import FakeDisplayMesh

    posted: queue.Queue = queue.Queue()
    doc, view = Document(quality=64), FakeView()
    doc.load_model(FakeEditor())
    gate = threading.Event()

    def run(job, cancel):
        yield FakeDisplayMesh(job, "preview", 4, False)
        gate.wait(5)
        if not job.preview_only and not cancel.is_set():
            yield FakeDisplayMesh(job, "final", 1, True)

    scheduler = MeshScheduler(doc, view, posted.put)
    scheduler.attach(run)
    try:
        scheduler.press()
        for v in (0.5, 1.0, 1.5, 2.0):
            doc.edit(doc.state.with_id_coeff(0, v), commit_later=False)
        scheduler.release()
        gate.set()
        while not scheduler.is_ready():
            posted.get(timeout=10)()
    finally:
        scheduler.close()
    assert scheduler.full.job.state.id_coeffs[0] == 2.0
    ids = [dm.job_id for dm in view.shown]
    assert ids == sorted(ids)
