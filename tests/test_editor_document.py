"""The editor's document without Qt: edits, undo steps, discrete edits, fits, view modes, sessions, events.

A small linear face space stands in for a model (``editor_fakes``); no display, no torch, no Qt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.document import Document
from app.session import SessionError
from editor_fakes import FakeEditor, FakeFit
from imface_core.face_codes import FaceCodes


@dataclass
class AlignedFit(FakeFit):
    """A fit with the alignment ``FitOutcome`` keeps (scan mm -> model units), or None."""

    alignment: Any = None

QT_MODULES = ("PySide6", "shiboken6", "superqt", "pyvista", "pyvistaqt", "qtpy")


def test_document_and_scheduler_import_no_qt():
    code = ("import sys, app.document, app.scheduler; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({QT_MODULES!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]", out.stdout


class Recorder:
    """Every event of a document, as (event, args)."""

    def __init__(self, doc: Document):
        self.events: list[tuple[str, dict]] = []
        for name in ("state", "history", "view", "model", "fit"):
            doc.on(name, lambda *args, _name=name, **kw: self.events.append((_name, {**kw, **dict(enumerate(args))})))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def doc() -> Document:
    d = Document(quality=64, seed=0)
    d.load_model(FakeEditor())
    return d


def test_a_model_starts_the_document_over():
    d = Document(quality=64, seed=0)
    seen = Recorder(d)
    assert d.state is None and not d.can_undo
    assert not d.set_state(None) and not d.undo()  # nothing to edit before a model
    d.colour_mode = "error"
    editor = FakeEditor()
    d.load_model(editor)
    assert d.editor is editor and d.space is editor.space
    assert d.state == editor.space.initial_state() and d.history.current.state == d.state
    assert d.colour_mode == "plain" and d.fit is None and d.fits == []
    assert [label for label, _ in d.detail_sources] == ["anna (training)", "ben (training)"]
    assert seen.events == [("view", {"what": "colour_mode"}), ("model", {})]
    with pytest.raises(ValueError, match="unknown document event"):
        d.on("nothing", print)


def test_a_drag_is_one_undo_step(doc):
    seen = Recorder(doc)
    start = doc.state
    for v in (0.5, 1.0, 1.5):  # a drag: recorded when it ends
        assert doc.edit(doc.state.with_id_coeff(0, v), commit_later=False)
    assert not doc.edit(doc.state)  # the same face: no change, no event
    assert seen.names() == ["state"] * 3 and seen.events[0][1] == {"fresh": False, "slider": True}
    doc.flush()  # (the keyboard pause timer: nothing of a drag to record)
    assert not doc.can_undo
    assert doc.commit() and doc.can_undo and not doc.commit()
    assert doc.undo() and doc.state == start and doc.can_redo
    assert doc.redo() and doc.state.id_coeffs[0] == 1.5 and not doc.redo()


def test_keyboard_steps_are_recorded_after_a_pause_or_before_the_next_discrete_edit(doc):
    start = doc.state
    doc.edit(start.with_mix(0, 0.2))
    doc.edit(doc.state.with_mix(0, 0.4))
    typed = doc.state
    assert not doc.can_undo
    doc.undo()  # undo first records the typed steps, then goes back over them
    assert doc.state == start and doc.can_redo
    doc.flush()  # the pause timer firing after the undo must not record the undone face (no lost redo)
    assert doc.can_redo
    doc.redo()
    assert doc.state == typed

    doc.edit(typed.with_mix(0, 0.9))
    doc.random_face()  # a discrete edit: the typed face is a step of its own before it
    doc.undo()
    assert doc.state == typed.with_mix(0, 0.9)


def test_discrete_edits_are_fresh_undo_steps(doc):
    seen = Recorder(doc)
    start = doc.state
    doc.random_face()
    assert doc.state != start and doc.state.label.startswith("random face")
    assert seen.events[:2] == [("state", {"fresh": True, "slider": False}), ("history", {})]
    doc.pick_identity(1)
    np.testing.assert_allclose(doc.space.codes(doc.state).z_det, np.full(4, -0.2))
    assert doc.state.label == "ben"
    doc.edit(doc.state.with_mix(0, 1.0))
    doc.neutral_expression()
    assert doc.state.exp_mix == (0.0,)
    doc.reset_identity()
    assert doc.state.label == "start face" and doc.state.z_det == (0.0,) * 4
    assert doc.history is not None and len(doc.history) == 6

    seen.clear()
    assert doc.transfer_details(0) == "anna (training)"
    assert doc.state.z_det == pytest.approx((0.1,) * 4)
    assert seen.events[0] == ("state", {"fresh": False, "slider": False})  # the shape stays: no fresh search
    assert doc.transfer_details(7) is None and doc.transfer_details(-1) is None

    with pytest.raises(ValueError, match="outside its slider's range"):
        doc.set_state(doc.state.with_mix(0, 5.0))
    assert doc.state.exp_mix == (0.0,)


def test_a_fit_becomes_the_face_and_a_detail_source(doc):
    seen = Recorder(doc)
    assert doc.set_colour_mode("error") is None and doc.colour_mode == "plain"  # no fit: no error map
    codes = FaceCodes(doc.space.identity.code([1.0, -0.5, 0.2]), doc.space.presets["smile"], np.full(4, 0.3))
    fit = FakeFit(Path("scan.ply"), codes)
    doc.add_fit(fit)
    assert doc.fit is fit and doc.fits == [fit]
    assert doc.state.label == "fit: scan.ply" and doc.can_undo
    for a, b in zip(doc.space.codes(doc.state).as_dict().values(), codes.as_dict().values()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert doc.detail_sources[-1][0] == "fit: scan.ply"
    sources = len(doc.detail_sources)
    doc.add_fit(FakeFit(Path("scan.ply"), codes), show=False)  # the same fit again (a session re-opened)
    assert len(doc.detail_sources) == sources
    assert seen.names()[1:5] == ["fit", "view", "state", "history"] and seen.events[2][1] == {"what": "fit"}
    doc.set_colour_mode("error")
    assert doc.colour_mode == "error"
    doc.load_model(FakeEditor())  # another model: the fits go, and with them the error map
    assert doc.fit is None and doc.colour_mode == "plain"


def fitted(doc: Document, name: str = "scan.ply", seed: float = 1.0, alignment=None) -> "AlignedFit":
    """A fit of ``name`` added to ``doc`` (so it is the current face)."""
    codes = FaceCodes(doc.space.identity.code([seed, -0.5, 0.2]), doc.space.presets["smile"], np.full(4, 0.3))
    fit = AlignedFit(Path(name), codes, alignment)
    doc.add_fit(fit)
    return fit


def test_an_edit_hides_the_fit_and_undo_back_to_the_fitted_face_shows_it_again(doc):
    start = doc.state
    fit = fitted(doc)
    doc.set_colour_mode("error")
    assert doc.fit is fit and doc.face_description() == "fit of scan.ply" and doc.fit_notice() is None
    seen = Recorder(doc)
    assert doc.edit(doc.state.with_id_coeff(0, 0.25), commit_later=False)  # a slider moves the fitted face
    assert doc.fit is None and doc.stale_fit is fit and doc.colour_mode == "plain"  # no error map of another face
    assert seen.events[:2] == [("view", {"what": "fit"}), ("view", {"what": "colour_mode"})]
    assert doc.face_description() == "fit: scan.ply, edited since the fit (its error map no longer applies)"
    assert "Fit of scan.ply hidden" in doc.fit_notice()
    doc.set_colour_mode("error")  # not available for an edited face
    assert doc.colour_mode == "plain"
    doc.edit(doc.state.with_id_coeff(0, 0.0), commit_later=False)
    doc.commit()
    assert doc.fit is None  # edited, even if a slider went back: the face is not the fitted one

    assert doc.undo() and doc.fit is fit and doc.colour_mode == "error"  # the error map comes back with its face
    assert doc.face_description() == "fit of scan.ply" and doc.fit_notice() is None
    assert doc.undo() and doc.state == start  # back to before the fit
    assert doc.fit is None and doc.face_description() == "start face" and "not the fitted face" in doc.fit_notice()
    assert doc.redo() and doc.fit is fit and doc.colour_mode == "error"
    doc.set_colour_mode("correspondence")  # the user's choice stays after a round trip
    doc.neutral_expression()
    assert doc.fit is None and doc.colour_mode == "correspondence"
    assert doc.undo() and doc.fit is fit and doc.colour_mode == "correspondence"


def test_each_fit_belongs_to_its_own_face(doc):
    first = fitted(doc, "first.ply", 1.0)
    second = fitted(doc, "second.ply", -1.0)
    assert doc.fit is second and doc.fits == [first, second]
    assert doc.undo() and doc.fit is first  # undo shows the first scan and its error map again
    assert doc.redo() and doc.fit is second
    doc.pick_identity(0)
    assert doc.fit is None and doc.stale_fit is second and doc.face_description() == "anna"
    assert doc.fitted_state(first) != doc.fitted_state(second)
    later = Document(quality=64)
    later.load_model(FakeEditor())
    edited = later.space.initial_state().with_id_coeff(1, 0.5)
    later.set_state(edited)
    kept = AlignedFit(Path("kept.ply"), first.codes)
    later.add_fit(kept, doc.fitted_state(first), show=False)  # (a session's fit: its face is not the current one)
    assert later.state == edited and later.fit is None and later.stale_fit is kept
    later.set_state(doc.fitted_state(first))
    assert later.fit is kept


def test_export_frame_and_name_follow_the_fit(doc):
    from scipy.spatial.transform import Rotation

    from app.export_frame import MODEL_FRAME, alignment_from_matrix
    from imface_core.fitting.align import Alignment

    assert doc.export_frame("scan") is MODEL_FRAME and doc.export_name(".obj") == "face.obj"  # nothing fitted
    with pytest.raises(ValueError, match="export frame"):
        doc.export_frame("world")
    fitted(doc, "no_alignment.ply")  # (a fit that kept no alignment: the model's frame only)
    assert doc.frame_fit is None and doc.export_frame("scan") is MODEL_FRAME
    rotation = Rotation.from_euler("xyz", [10, -20, 5], degrees=True).as_matrix()
    alignment = Alignment(rotation, np.array([3.0, -8.0, 40.0]), 1.05)
    fitted(doc, "subject 7.ply", alignment=alignment)
    frame = doc.export_frame("scan")
    assert frame.name == "scan" and "subject 7.ply" in frame.description and doc.export_frame("model") is MODEL_FRAME
    points = np.array([[0.0, 0.0, 0.4], [0.3, -0.2, 0.1]])
    np.testing.assert_allclose(alignment.to_normalised(frame.to_mm(points)), points, atol=1e-12)
    np.testing.assert_allclose(MODEL_FRAME.to_mm(points), points * 100.0)
    again = alignment_from_matrix(alignment.matrix)  # (a fit read back from a session keeps the matrix only)
    np.testing.assert_allclose(again.to_scan(points), alignment.to_scan(points), atol=1e-9)
    assert doc.export_name(".ply") == "subject_7_fit.ply"
    assert doc.edit(doc.state.with_id_coeff(0, 2.0))
    assert doc.export_name(".obj") == "subject_7_edited.obj" and doc.export_frame().name == "scan"  # still placed
    doc.pick_identity(1)
    assert doc.export_name(".obj") == "ben.obj"


def test_view_modes(doc):
    seen = Recorder(doc)
    doc.set_colour_mode("correspondence")
    doc.set_scan_mode("beside")
    doc.set_landmarks_visible(1)
    doc.set_quality(96)
    assert (doc.colour_mode, doc.scan_mode, doc.show_landmarks, doc.quality) == ("correspondence", "beside", True, 96)
    assert [kw["what"] for _, kw in seen.events] == ["colour_mode", "scan_mode", "landmarks", "quality"]
    with pytest.raises(ValueError):
        doc.set_colour_mode("purple")
    with pytest.raises(ValueError):
        doc.set_scan_mode("sideways")
    assert doc.colour_mode == "correspondence" and doc.scan_mode == "beside"


def test_session_round_trip_with_its_view(doc, tmp_path):
    doc.pick_identity(0)
    doc.edit(doc.state.with_mix(0, 0.6))
    doc.set_colour_mode("correspondence")
    doc.set_landmarks_visible(True)
    doc.set_quality(96)
    saved = doc.state
    path = doc.save_session(tmp_path / "s.imface.json")
    assert doc.can_undo
    other = Document(quality=128)
    seen = Recorder(other)
    other.load_model(FakeEditor())
    seen.clear()
    other.open_session(path)
    assert other.state == saved and other.can_undo
    assert (other.colour_mode, other.show_landmarks, other.quality) == ("correspondence", True, 96)
    # the quality is set before the face (whose mesh follows at it), without a mesh of its own
    assert seen.events[0] == ("view", {"what": "quality", "remesh": False})
    assert seen.events[1] == ("state", {"fresh": True, "slider": False})


def test_a_bad_session_changes_nothing(doc, tmp_path):
    path = doc.save_session(tmp_path / "s.imface.json")
    data = json.loads(path.read_text())
    data["codes"]["z_id"] = [1e6] * len(data["codes"]["z_id"])  # another model's sizes: its codes are used
    data["state"]["id_residual"] = [0.0]
    data["view"]["colour_mode"] = "correspondence"
    path.write_text(json.dumps(data))
    before = doc.state
    with pytest.raises(SessionError, match="absurdly far"):
        doc.open_session(path)
    assert doc.state == before and doc.colour_mode == "plain" and not doc.can_undo
    path.write_text("{not json")
    with pytest.raises(SessionError, match="invalid JSON"):
        doc.open_session(path)
