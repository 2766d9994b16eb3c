"""The editor window: viewport, identity / expression / detail panels, menus, undo/redo and the status bar.

Threads (nothing slow runs on the GUI thread):

* the model loads on a ``BackgroundTask`` (torch's import included), so the window appears at once;
* meshes come from a ``LatestOnlyWorker`` (``app.worker``): each edit submits a ``MeshJob``; while a slider is
  dragged the jobs stop at the coarse preview, and when it is released (or rests for ``REST_MS``) a full
  job follows, which shows the preview again only if it differs and then refines to the full-detail mesh;
* fitting and export run on their own ``BackgroundTask``s.

Results come back through ``_Relay`` (a queued Qt signal), and ``_show_mesh`` refuses any mesh of a job
older than the one on screen, so the view never goes back in time.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QSplitter,
    QTabWidget,
    QWidget,
)

from app.face_state import FaceSpace, FaceState
from app.history import History
from app.panels import DetailPanel, ExpressionPanel, IdentityPanel
from app.recent import RecentFiles
from app.session import SESSION_SUFFIX, Session, SessionError, load_session, save_session, session_state
from app.viewport import COLOUR_MODES, SCAN_MODES, SKIN_RGB, Viewport
from app.worker import BackgroundTask, LatestOnlyWorker
from imface_core.errors import CheckpointError, ImFaceError

if TYPE_CHECKING:
    from app.engine import DisplayMesh, EditorModel, FitOptions, FitOutcome, MeshJob

__all__ = ["MainWindow", "PLACEHOLDER_STATUS", "QUALITIES", "SKIN_RGB", "WINDOW_TITLE"]

_log = logging.getLogger(__name__)

WINDOW_TITLE = "ImFace Studio"
PLACEHOLDER_STATUS = "No face model loaded \N{EM DASH} File \N{RIGHTWARDS ARROW} Open model\N{HORIZONTAL ELLIPSIS}"
QUALITIES = {96: "Draft (96\N{SUPERSCRIPT THREE})", 128: "Standard (128\N{SUPERSCRIPT THREE})",
             192: "High (192\N{SUPERSCRIPT THREE})", 256: "Full (256\N{SUPERSCRIPT THREE})"}
DEFAULT_QUALITY = 128
REST_MS = 250
"""A slider held still this long (button still down) gets its full-detail mesh."""
COMMIT_MS = 600
"""Keyboard / wheel edits become one undo step after this pause."""
SCAN_FILTER = "Scans (*.obj *.ply *.stl *.off *.glb *.gltf *.xyz *.pts *.txt *.csv);;All files (*)"
MODEL_FILTER = "ImFace Studio models (*.pt);;All files (*)"
SESSION_FILTER = f"ImFace Studio sessions (*{SESSION_SUFFIX} *.json);;All files (*)"
MESH_FILTERS = {"OBJ mesh (*.obj)": ".obj", "PLY mesh (*.ply)": ".ply"}


_FIT_PHASES = {
    "load": "reading the scan", "align": "aligning it to the model", "samples": "sampling its surface",
    "coarse": "fitting shape and expression", "handover": "adding the details", "detail": "fitting the details",
    "mesh": "meshing the fit", "metrics": "measuring the fit", "error map": "measuring the error",
}


class _Relay(QObject):
    """Runs callables on the GUI thread: ``post(fn)`` from any thread queues ``fn()``."""

    _call = Signal(object)

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[[], Any]) -> None:
        try:
            self._call.emit(fn)
        except RuntimeError:  # the window (and this object) is already gone
            pass

    @staticmethod
    def _run(fn: Callable[[], Any]) -> None:
        fn()


class MainWindow(QMainWindow):
    """The ImFace Studio editor.

    Parameters
    ----------
    model_path : checkpoint to open (loaded in the background), or None for an empty editor.
    off_screen : render the viewport off screen.
    quality : resolution of the full-detail mesh (N of the equivalent dense grid).
    threads : torch threads of the computations.
    fit_options : ``app.engine.FitOptions`` for Load scan (default: the fitting defaults).
    interactive : show problems in message boxes (False: log them and show them in the status bar only,
        for ``--screenshot``).
    """

    meshShown = Signal(object)
    """A ``DisplayMesh`` was put on screen."""
    faceReady = Signal()
    """The full-detail mesh of the newest edit is on screen."""
    modelLoaded = Signal(str)
    modelFailed = Signal(str)
    fitFinished = Signal(str)
    """"done", "cancelled" or "failed"."""
    exportFinished = Signal(str)
    """The path written, or "" when the export failed."""

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        off_screen: bool = False,
        parent: QWidget | None = None,
        quality: int = DEFAULT_QUALITY,
        threads: int = 1,
        fit_options: "FitOptions | None" = None,
        interactive: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(WINDOW_TITLE)
        self.model_path = Path(model_path) if model_path is not None else None
        self.quality = int(quality)
        self.threads = int(threads)
        self.fit_options = fit_options
        self.interactive = interactive
        self.recent = RecentFiles()

        self.editor: EditorModel | None = None
        self.space: FaceSpace | None = None
        self.state: FaceState | None = None
        self.history: History[FaceState] | None = None
        self.colour_mode = "plain"
        self.scan_mode = "overlay"
        self.show_landmarks = False
        self.fits: list[FitOutcome] = []
        self.fit: FitOutcome | None = None
        self.model_error: str | None = None
        self.last_error: str | None = None
        self.fit_phase: str | None = None
        """Phase of the running fit ("load", "align", "samples", "coarse", ...)."""

        self._worker: LatestOnlyWorker | None = None
        self._latest_job: MeshJob | None = None
        self._shown: DisplayMesh | None = None
        self._full: DisplayMesh | None = None
        self._fresh_pending = False
        self._last_fresh_id = 0
        self._generation = 0
        self._shown_job_id = 0
        self._failed_job_id = 0
        self._dragging = False
        self._closing = False
        self._loading = False
        self._tasks: set[BackgroundTask] = set()
        self._fit_task: BackgroundTask | None = None
        self._fit_dialog: QProgressDialog | None = None
        self._pending_export: tuple[Path, bool] | None = None
        self._detail_sources: list[tuple[str, np.ndarray]] = []
        self._rng = np.random.default_rng()
        self.stale_dropped = 0

        self._relay = _Relay(self)
        self._rest_timer = QTimer(self, singleShot=True, interval=REST_MS)
        self._rest_timer.timeout.connect(self._on_rest)
        self._commit_timer = QTimer(self, singleShot=True, interval=COMMIT_MS)
        self._commit_timer.timeout.connect(self._commit)

        self._build_ui()
        self._build_menus()
        self._update_actions()
        if self.model_path is not None:
            self.open_model(self.model_path)
        else:
            self.viewport.show_placeholder("No face model loaded")
            self.statusBar().showMessage(PLACEHOLDER_STATUS)
        _log.debug("main window ready (model path: %s)", model_path)

    # =============================================================================== construction
    def _build_ui(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.viewport = Viewport(splitter, off_screen=False)
        self.plotter = self.viewport.plotter
        self.viewport.setMinimumSize(160, 120)
        self.tabs = QTabWidget(splitter)
        self.tabs.setMinimumWidth(260)
        waiting = QLabel("Loading the face model\N{HORIZONTAL ELLIPSIS}")
        waiting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.tabs.addTab(waiting, "Face")
        splitter.addWidget(self.viewport)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([900, 360])
        self.setCentralWidget(splitter)
        self.identity_panel: IdentityPanel | None = None
        self.expression_panel: ExpressionPanel | None = None
        self.detail_panel: DetailPanel | None = None

        self.mesh_label = QLabel("")
        self.mesh_label.setToolTip("Time and size of the last full-detail mesh")
        self.statusBar().addPermanentWidget(self.mesh_label)

    def _action(self, text: str, slot: Callable, shortcut: Any = None, tip: str = "", checkable: bool = False
                ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_model_action = self._action("Open &model\N{HORIZONTAL ELLIPSIS}", self._ask_open_model,
                                              "Ctrl+Shift+O", "Open another ImFace Studio model (.pt)")
        self.load_scan_action = self._action("&Load scan\N{HORIZONTAL ELLIPSIS}", self._ask_load_scan, "Ctrl+L",
                                             "Fit the model to a 3D scan; the fit becomes the current face")
        self.export_action = self._action("&Export OBJ/PLY\N{HORIZONTAL ELLIPSIS}",
                                          lambda: self._ask_export(colors=False), "Ctrl+E",
                                          "Write the face as an OBJ or PLY mesh in millimetres")
        self.export_colors_action = self._action(
            "Export OBJ/PLY with &colours\N{HORIZONTAL ELLIPSIS}", lambda: self._ask_export(colors=True),
            "Ctrl+Shift+E", "Write the face with correspondence colours per vertex")
        self.open_session_action = self._action("&Open session\N{HORIZONTAL ELLIPSIS}", self._ask_open_session,
                                                QKeySequence.StandardKey.Open, "Open a saved face (codes and sliders)")
        self.save_session_action = self._action("&Save session\N{HORIZONTAL ELLIPSIS}", self._ask_save_session,
                                                QKeySequence.StandardKey.Save, "Save the face (codes and sliders)")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, "Close ImFace Studio")
        file_menu.addAction(self.open_model_action)
        file_menu.addSeparator()
        file_menu.addAction(self.load_scan_action)
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.export_colors_action)
        file_menu.addSeparator()
        file_menu.addAction(self.open_session_action)
        file_menu.addAction(self.save_session_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        self.undo_action = self._action("&Undo", self.undo, "Ctrl+Z", "Undo the last edit")
        self.redo_action = self._action("&Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo the edit undone")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)

        view_menu = bar.addMenu("&View")
        self.reset_view_action = self._action("&Reset view", self.viewport.reset_view, "Ctrl+R",
                                              "Look at the face from the front")
        view_menu.addAction(self.reset_view_action)
        colour_menu = view_menu.addMenu("&Colour")
        self.colour_group = QActionGroup(self)
        self.colour_actions: dict[str, QAction] = {}
        for mode, text in COLOUR_MODES.items():
            action = self._action(text, lambda _=False, m=mode: self.set_colour_mode(m), checkable=True)
            self.colour_group.addAction(action)
            colour_menu.addAction(action)
            self.colour_actions[mode] = action
        self.colour_actions["plain"].setChecked(True)
        self.landmarks_action = self._action("Show &landmarks", lambda on: self.set_landmarks_visible(on),
                                             tip="Mark the model's 5 landmarks (eye corners, nose tip, "
                                                 "mouth corners)", checkable=True)
        view_menu.addAction(self.landmarks_action)
        scan_menu = view_menu.addMenu("&Scan")
        self.scan_group = QActionGroup(self)
        self.scan_actions: dict[str, QAction] = {}
        for mode, text in SCAN_MODES.items():
            action = self._action(text, lambda _=False, m=mode: self.set_scan_mode(m), checkable=True)
            self.scan_group.addAction(action)
            scan_menu.addAction(action)
            self.scan_actions[mode] = action
        self.scan_actions[self.scan_mode].setChecked(True)
        quality_menu = view_menu.addMenu("Mesh &quality")
        self.quality_group = QActionGroup(self)
        self.quality_actions: dict[int, QAction] = {}
        for q, text in QUALITIES.items():
            action = self._action(text, lambda _=False, q=q: self.set_quality(q), checkable=True)
            self.quality_group.addAction(action)
            quality_menu.addAction(action)
            self.quality_actions[q] = action
        if self.quality in self.quality_actions:
            self.quality_actions[self.quality].setChecked(True)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&Mouse and keys", self._show_help))
        help_menu.addAction(self._action("&About ImFace Studio", self._show_about))

        toolbar = self.addToolBar("View")
        toolbar.setObjectName("view_toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.undo_action)
        toolbar.addAction(self.redo_action)
        toolbar.addSeparator()
        toolbar.addAction(self.reset_view_action)
        for action in self.colour_actions.values():
            toolbar.addAction(action)
        toolbar.addAction(self.landmarks_action)

    def _build_panels(self, editor: "EditorModel") -> None:
        space = editor.space
        old_pages = [self.tabs.widget(i) for i in range(self.tabs.count())]
        self.tabs.clear()
        for page in old_pages:
            page.deleteLater()
        self.identity_panel = IdentityPanel(space, editor.identities)
        self.expression_panel = ExpressionPanel(space)
        self.detail_panel = DetailPanel()
        self.tabs.addTab(self.identity_panel, "Identity")
        self.tabs.addTab(self.expression_panel, "Expression")
        self.tabs.addTab(self.detail_panel, "Detail")

        ip, ep, dp = self.identity_panel, self.expression_panel, self.detail_panel
        ip.coeffChanged.connect(lambda i, v: self._slider_edit(self.state.with_id_coeff(i, v)))
        ep.coeffChanged.connect(lambda i, v: self._slider_edit(self.state.with_exp_coeff(i, v)))
        ep.mixChanged.connect(lambda i, v: self._slider_edit(self.state.with_mix(i, v)))
        dp.strengthChanged.connect(lambda v: self._slider_edit(self.state.with_detail_scale(v)))
        for panel in (ip, ep, dp):
            panel.pressed.connect(self._on_slider_pressed)
            panel.released.connect(self._on_slider_released)
        ip.identityPicked.connect(self.pick_identity)
        ip.randomClicked.connect(self.random_face)
        ip.resetClicked.connect(self.reset_identity)
        ep.neutralClicked.connect(self.neutral_expression)
        dp.transferRequested.connect(self.transfer_details)
        dp.compareToggled.connect(self.viewport.set_compare)

    # =============================================================================== model
    def open_model(self, path: Path | str) -> None:
        """Load a checkpoint in the background; the current model stays until the new one is ready."""
        path = Path(path)
        self._loading = True
        self.model_error = None
        self._update_actions()
        self._set_activity(f"Loading model {path.name}\N{HORIZONTAL ELLIPSIS}")
        if self.editor is None:
            self.viewport.show_placeholder(f"Loading model {path.name}\N{HORIZONTAL ELLIPSIS}")
        threads = self.threads

        def load(_cancel) -> "EditorModel":
            from app import engine  # imports torch: on this thread, never the GUI's

            return engine.load_editor_model(path, threads=threads)

        self._start_task(load, lambda em: self._on_model_loaded(em), lambda exc: self._on_model_failed(path, exc),
                         "model-loader")

    def _on_model_loaded(self, editor: "EditorModel") -> None:
        from app.engine import MeshComputer

        self._loading = False
        if self._closing:
            return
        if self._worker is not None:
            self._worker.close(timeout=1.0)
        self.editor, self.space, self.model_path = editor, editor.space, editor.path
        self.fits, self.fit = [], None
        self.viewport.set_scan(None)
        self.viewport.set_before(None)
        if self.colour_mode == "error":
            self.set_colour_mode("plain")
        self._build_panels(editor)
        self._detail_sources = editor.detail_sources()
        self.detail_panel.set_sources([label for label, _ in self._detail_sources])
        self.state = editor.space.initial_state()
        self.history = History(self.state)
        computer = MeshComputer(editor.model)
        self._generation += 1
        gen = self._generation  # results of an earlier model's worker still in the queue are ignored
        self._worker = LatestOnlyWorker(
            computer.run,
            on_result=lambda job, dm: self._relay.post(lambda: gen == self._generation and self._show_mesh(dm)),
            on_error=lambda job, exc: self._relay.post(
                lambda: gen == self._generation and self._on_mesh_failed(job, exc)),
            name="mesh-worker",
        )
        self._latest_job = self._shown = self._full = None
        self._shown_job_id = 0
        self._sync_panels()
        self._fresh_pending = True
        self._submit()
        self.setWindowTitle(f"{WINDOW_TITLE} \N{EM DASH} {editor.name}")
        self._update_actions()
        self.statusBar().showMessage(f"Loaded {editor.describe()} in {editor.load_seconds:.1f} s", 5000)
        self.modelLoaded.emit(str(editor.path))

    def _on_model_failed(self, path: Path, exc: BaseException) -> None:
        self._loading = False
        text = str(exc) if isinstance(exc, CheckpointError) else f"{type(exc).__name__}: {exc}"
        self.model_error = text
        self._update_actions()
        if self.editor is None:
            self.viewport.show_placeholder("No face model loaded")
            self.statusBar().showMessage(PLACEHOLDER_STATUS)
        else:
            self._set_activity(f"Kept {self.editor.name}: {path.name} could not be opened")
        self._error("Could not open the model", f"{path.name} could not be opened as a face model.\n\n{text}")
        self.modelFailed.emit(text)

    # =============================================================================== edits
    def _slider_edit(self, state: FaceState) -> None:
        if self.state is None or state == self.state:
            return
        self.state = state
        if self._dragging:
            self._submit(preview_only=True)
            self._rest_timer.start()
        else:
            self._submit()
            self._commit_timer.start()

    def _on_slider_pressed(self) -> None:
        self._flush_commit()
        self._dragging = True

    def _on_slider_released(self) -> None:
        self._dragging = False
        self._rest_timer.stop()
        if self._latest_job is not None and (self._latest_job.preview_only or self._latest_job.state != self.state):
            self._submit()
        self._commit()

    def _on_rest(self) -> None:
        if self._dragging and self._latest_job is not None and self._latest_job.preview_only:
            self._submit()

    def _commit(self) -> None:
        self._commit_timer.stop()
        if self.history is not None and self.state is not None:
            self.history.commit(self.state)
            self._update_actions()

    def _flush_commit(self) -> None:
        if self._commit_timer.isActive():
            self._commit()

    def set_state(self, state: FaceState, *, commit: bool = True, fresh: bool = True) -> None:
        """Show ``state`` (a discrete edit: a button, a pick, undo, a session, a fit)."""
        if self.space is None:
            return
        self.space.check(state)
        self._flush_commit()
        self.state = state
        self._sync_panels()
        if fresh:
            self._fresh_pending = True
        self._submit()
        if commit:
            self._commit()
        self._update_actions()

    def _sync_panels(self) -> None:
        for panel in (self.identity_panel, self.expression_panel, self.detail_panel):
            if panel is not None and self.state is not None:
                panel.set_state(self.state)

    def undo(self) -> None:
        if self.history is None:
            return
        self._flush_commit()
        state = self.history.undo()
        if state is not None:
            self.set_state(state, commit=False)
            self._set_activity("Undone")

    def redo(self) -> None:
        if self.history is None:
            return
        self._flush_commit()
        state = self.history.redo()
        if state is not None:
            self.set_state(state, commit=False)
            self._set_activity("Redone")

    def pick_identity(self, index: int) -> None:
        if self.editor is None:
            return
        codes = self.editor.training_codes(index)
        name = self.editor.identities[index]
        state = self.space.with_identity_code(self.state, codes.z_id, label=name)
        self.set_state(self.space.with_detail_code(state, codes.z_det))

    def random_face(self) -> None:
        if self.space is not None:
            self.set_state(self.space.random_identity(self.state, int(self._rng.integers(1_000_000))))

    def reset_identity(self) -> None:
        if self.space is not None:
            state = self.space.reset_identity(self.state)
            self.set_state(self.space.with_detail_code(state, self.space.det_mean))

    def neutral_expression(self) -> None:
        if self.space is not None:
            self.set_state(self.space.neutral_expression(self.state))

    def transfer_details(self, index: int) -> None:
        """Put the details of source ``index`` (training faces, then fitted scans) on the current face."""
        if self.space is None or not 0 <= index < len(self._detail_sources):
            return
        label, z_det = self._detail_sources[index]
        if self.viewport.face is not None:
            self.viewport.set_before(self.viewport.face)
        self.set_state(self.space.with_detail_code(self.state, z_det), fresh=False)
        self.detail_panel.compare.setEnabled(True)
        self.detail_panel.compare.setChecked(True)
        self._set_activity(f"Details of {label} applied")

    # =============================================================================== meshes
    def _submit(self, preview_only: bool = False) -> None:
        if self._worker is None or self.state is None or self._closing:
            return
        from app.engine import MeshJob

        job = MeshJob(self.state, self.space.codes(self.state), self.quality, preview_only=preview_only,
                      colors=self.colour_mode == "correspondence", landmarks=self.show_landmarks,
                      fresh=self._fresh_pending)
        self._latest_job = job
        if job.fresh:
            self._last_fresh_id = job.job_id
        self._worker.submit(job)
        self._set_activity("Computing the preview\N{HORIZONTAL ELLIPSIS}" if preview_only else
                           "Computing the face\N{HORIZONTAL ELLIPSIS}")

    def _show_mesh(self, dm: "DisplayMesh") -> None:
        if self._closing:
            return
        if dm.job_id < self._shown_job_id:
            self.stale_dropped += 1  # never go back to an older face
            return
        if dm.n_vertices == 0 or dm.poly.n_points == 0:  # the viewport is never handed an empty mesh
            self._on_empty_mesh(dm)
            return
        self._shown_job_id = dm.job_id
        shown = self._shown
        same_look = (shown is not None and shown.job.state == dm.job.state and shown.job.colors == dm.job.colors
                     and shown.job.resolution == dm.job.resolution and dm.stride >= shown.stride
                     and (dm.landmarks is None) == (shown.landmarks is None))
        if not same_look:  # (a full request re-yields the preview its drag already showed: skip that)
            self.viewport.set_face(dm.poly, dm.landmarks)
            self._shown = dm
        if dm.job.fresh and dm.job_id >= self._last_fresh_id:
            self._fresh_pending = False  # the mesher was reset for the newest jump; later jobs may follow it
        latest = self._latest_job is not None and dm.job_id == self._latest_job.job_id
        if dm.full_detail:
            self._full = dm
            self.mesh_label.setText(
                f"Last mesh: {dm.seconds:.2f} s \N{MIDDLE DOT} {dm.job.resolution}\N{SUPERSCRIPT THREE} "
                f"\N{MIDDLE DOT} {dm.n_vertices:,} vertices")
        self.meshShown.emit(dm)
        if latest and dm.full_detail:
            self._set_activity("Ready")
            self.faceReady.emit()
            if self._pending_export is not None:
                path, colors = self._pending_export
                self._pending_export = None
                self._start_export(dm, path, colors)
        elif latest:
            self._set_activity("Preview \N{EM DASH} release the slider for full detail" if dm.job.preview_only
                               else f"Refining ({dm.stage}, {dm.job.resolution // max(dm.stride, 1)}"
                                    f"\N{SUPERSCRIPT THREE})\N{HORIZONTAL ELLIPSIS}")

    def _on_empty_mesh(self, dm: "DisplayMesh") -> None:
        """No surface for these codes: an error (the last face stays on screen), never an empty face."""
        if not dm.full_detail:  # a preview: the full mesh of the job follows (or the next edit)
            self._set_activity("This face has no surface in the preview\N{HORIZONTAL ELLIPSIS}")
            return
        _log.warning("mesh job %s gave an empty mesh", dm.job_id)
        self._mesh_failed(dm.job, "the model gives no surface for this face (an empty mesh)")
        if self._latest_job is not None and dm.job_id == self._latest_job.job_id:
            self._error("Could not compute the face", f"The {self.last_error}.\n\nThe face shown is the last one "
                        "that could be computed; undo, or pick another face.")

    def _on_mesh_failed(self, job: "MeshJob", exc: BaseException) -> None:
        if isinstance(exc, ImFaceError):  # a face the model refuses (its message says why)
            _log.warning("mesh job %s failed: %s", job.job_id, exc)
            self._mesh_failed(job, str(exc))
        else:  # a bug: keep its traceback in the log
            _log.error("mesh job %s failed: %s", job.job_id, exc, exc_info=exc)
            self._mesh_failed(job, f"{type(exc).__name__}: {exc}")

    def _mesh_failed(self, job: "MeshJob", reason: str) -> None:
        self.last_error = reason
        self._failed_job_id = job.job_id
        self._set_activity(f"Could not compute the face: {reason}")
        if self._pending_export is not None and self._latest_job is not None and job.job_id == self._latest_job.job_id:
            path, _ = self._pending_export
            self._pending_export = None
            self._on_export_failed(path, RuntimeError(f"the face could not be computed ({reason})"))

    @property
    def full_mesh(self) -> "DisplayMesh | None":
        """The newest full-detail mesh on screen."""
        return self._full

    def is_ready(self) -> bool:
        """Whether nothing is pending: the newest edit's full-detail mesh is shown, or there is no model."""
        if self._loading:
            return False
        if self.editor is None:
            return True
        if self._latest_job is None:
            return False
        done = self._full.job_id if self._full is not None else 0
        return self._latest_job.job_id in (done, self._failed_job_id)

    def wait_until_ready(self, timeout_s: float = 120.0) -> bool:
        """Process events until ``is_ready`` (screenshots, scripts). False on timeout."""
        deadline = time.monotonic() + timeout_s
        loop = QEventLoop()
        poll = QTimer(interval=20)  # the event loop sleeps in between (no busy wait that would hog the GIL)
        poll.timeout.connect(lambda: (self.is_ready() or time.monotonic() > deadline) and loop.quit())
        poll.start()
        if not self.is_ready():
            loop.exec()
        poll.stop()
        QApplication.processEvents()
        return self.is_ready()

    # =============================================================================== view
    def set_colour_mode(self, mode: str) -> None:
        if mode not in COLOUR_MODES:
            raise ValueError(f"unknown colour mode {mode!r}")
        if mode == "error" and self.fit is None:
            mode = self.colour_mode
        self.colour_mode = mode
        self.colour_actions[mode].setChecked(True)
        self.viewport.set_colour_mode(mode)
        if mode == "correspondence" and (self._shown is None or not self._shown.job.colors):
            self._submit()

    def set_scan_mode(self, mode: str) -> None:
        self.scan_mode = mode
        self.scan_actions[mode].setChecked(True)
        self.viewport.set_scan_mode(mode)

    def set_landmarks_visible(self, on: bool) -> None:
        self.show_landmarks = bool(on)
        self.landmarks_action.setChecked(self.show_landmarks)
        self.viewport.set_landmarks_visible(self.show_landmarks)
        if self.show_landmarks and (self._shown is None or self._shown.landmarks is None):
            self._submit()

    def set_quality(self, resolution: int) -> None:
        self.quality = int(resolution)
        if self.quality in self.quality_actions:
            self.quality_actions[self.quality].setChecked(True)
        self._fresh_pending = True
        self._submit()

    # =============================================================================== fitting
    def load_scan(self, path: Path | str) -> None:
        """Fit the model to a scan (background, with a progress dialog and Cancel)."""
        from app.engine import FitOptions

        path = Path(path)
        if self.editor is None:
            self._error("Load scan", "Open a face model first.")
            return
        if self._fit_task is not None:
            return
        self._flush_commit()
        options = self.fit_options or FitOptions()
        dialog = QProgressDialog(f"Fitting {path.name}\N{HORIZONTAL ELLIPSIS}", "Cancel", 0, options.steps, self)
        dialog.setWindowTitle("Load scan")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setValue(0)
        dialog.canceled.connect(self.cancel_fit)
        self._fit_dialog = dialog
        self.fit_phase: str | None = None
        model = self.editor.model
        relay = self._relay

        def work(cancel):
            from app import engine

            def progress(step: int, steps: int, phase: str) -> None:
                relay.post(lambda: self._on_fit_progress(path, step, steps, phase))

            return engine.fit_scan_file(model, path, options, progress=progress, cancel=cancel)

        self._fit_task = self._start_task(work, lambda out: self._on_fit_done(out),
                                          lambda exc: self._on_fit_failed(path, exc), "fit")
        dialog.show()
        self._set_activity(f"Fitting {path.name}\N{HORIZONTAL ELLIPSIS}")

    def cancel_fit(self) -> None:
        if self._fit_task is not None:
            self._fit_task.cancel()
            if self._fit_dialog is not None:
                self._fit_dialog.setLabelText("Cancelling\N{HORIZONTAL ELLIPSIS}")
            self._set_activity("Cancelling the fit\N{HORIZONTAL ELLIPSIS}")

    @property
    def fit_dialog(self) -> QProgressDialog | None:
        return self._fit_dialog

    def _on_fit_progress(self, path: Path, step: int, steps: int, phase: str) -> None:
        dialog = self._fit_dialog
        if dialog is None or self._fit_task is None or self._fit_task.cancel_event.is_set():
            return
        self.fit_phase = phase
        dialog.setMaximum(max(steps, 1))
        dialog.setValue(min(step, max(steps, 1)))
        text = _FIT_PHASES.get(phase, phase)
        if step > 0 and phase in ("coarse", "handover", "detail"):
            text += f" (step {step} of {steps})"
        dialog.setLabelText(f"Fitting {path.name}\n{text}\N{HORIZONTAL ELLIPSIS}")

    def _close_fit_dialog(self) -> None:
        self._fit_task = None
        if self._fit_dialog is not None:
            self._fit_dialog.canceled.disconnect(self.cancel_fit)
            self._fit_dialog.close()
            self._fit_dialog.deleteLater()
            self._fit_dialog = None

    def _on_fit_done(self, outcome: "FitOutcome") -> None:
        self._close_fit_dialog()
        if self.editor is None or self._closing:
            return
        self.fits.append(outcome)
        self.fit = outcome
        self.viewport.set_scan(outcome.scan_vertices, outcome.scan_faces, outcome.errors_mm)
        self._detail_sources.append((f"fit: {outcome.name}", np.asarray(outcome.codes.z_det)))
        self.detail_panel.set_sources([label for label, _ in self._detail_sources])
        info = outcome.summary()
        if outcome.warnings:
            info += "\n" + "\n".join(outcome.warnings)
        self.detail_panel.fit_info.setText(info)
        state = self.space.state_from_codes(outcome.codes, detail_scale=1.0, label=f"fit: {outcome.name}")
        self.set_state(state)
        self._update_actions()
        self.set_colour_mode("error")
        self.recent.add("scan", outcome.path)
        self._set_activity(outcome.summary().capitalize())
        self.fitFinished.emit("done")

    def _on_fit_failed(self, path: Path, exc: BaseException) -> None:
        from app.engine import is_cancelled_fit

        self._close_fit_dialog()
        if is_cancelled_fit(exc):
            self._set_activity(f"Fit of {path.name} cancelled")
            self.fitFinished.emit("cancelled")
            return
        text = str(exc) if isinstance(exc, (ImFaceError, ValueError)) else f"{type(exc).__name__}: {exc}"
        self._error("Could not fit the scan", f"{path.name} could not be fitted.\n\n{text}")
        self._set_activity(f"Fit of {path.name} failed")
        self.fitFinished.emit("failed")

    # =============================================================================== export
    def export_mesh(self, path: Path | str, colors: bool = False) -> None:
        """Write the full-detail face to ``path`` (.obj or .ply, millimetres), in the background."""
        path = Path(path)
        if self.editor is None or self.state is None:
            self._error("Export", "There is no face to export yet.")
            self.exportFinished.emit("")
            return
        if path.suffix.lower() not in (".obj", ".ply"):
            self._error("Could not export", f"`{path.name}`: choose a file name ending in .obj or .ply.")
            self.exportFinished.emit("")
            return
        full = self._full
        if full is not None and full.job.state == self.state and full.job.resolution == self.quality:
            self._start_export(full, path, colors)
            return
        self._pending_export = (path, colors)
        if self._latest_job is None or self._latest_job.preview_only or self._latest_job.state != self.state:
            self._submit()
        self._set_activity("The export waits for the full-detail mesh\N{HORIZONTAL ELLIPSIS}")

    def _start_export(self, dm: "DisplayMesh", path: Path, colors: bool) -> None:
        model = self.editor.model

        def work(_cancel) -> Path:
            from app import engine

            return engine.export_face(dm.mesh, path, colors, model, dm.job.codes, dm.job.state.detail_scale)

        self._set_activity(f"Exporting {path.name}\N{HORIZONTAL ELLIPSIS}")
        self._start_task(work, lambda p: self._on_export_done(p), lambda exc: self._on_export_failed(path, exc),
                         "export")

    def _on_export_done(self, path: Path) -> None:
        self._set_activity(f"Exported {path}")
        self.exportFinished.emit(str(path))

    def _on_export_failed(self, path: Path, exc: BaseException) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self._error("Could not export", f"The face could not be written to\n{path}\n\n{reason}")
        self._set_activity(f"Export to {path.name} failed")
        self.exportFinished.emit("")

    # =============================================================================== sessions
    def save_session(self, path: Path | str) -> bool:
        path = Path(path)
        if self.state is None or self.space is None:
            self._error("Save session", "There is no face to save yet.")
            return False
        self._flush_commit()
        codes = self.space.codes(self.state)
        session = Session(
            self.state,
            {k: [float(x) for x in v] for k, v in codes.as_dict().items()},
            model=str(self.editor.path),
            view={"colour_mode": self.colour_mode, "landmarks": self.show_landmarks, "quality": self.quality,
                  "scan_mode": self.scan_mode},
        )
        try:
            save_session(path, session)
        except OSError as exc:
            self._error("Could not save the session",
                        f"The session could not be written to\n{path}\n\n{exc.strerror or exc}")
            return False
        self.recent.add("session", path)
        self._set_activity(f"Saved the session to {path}")
        return True

    def open_session(self, path: Path | str) -> bool:
        path = Path(path)
        if self.space is None:
            self._error("Open session", "Open a face model first.")
            return False
        try:
            session = load_session(path)
            state = session_state(session, self.space, self.editor.model.check_codes, path)
        except SessionError as exc:
            self._error("Could not open the session", str(exc))
            return False
        view = session.view
        if isinstance(view.get("quality"), int) and 16 <= view["quality"] <= 512:
            self.quality = view["quality"]
            if self.quality in self.quality_actions:
                self.quality_actions[self.quality].setChecked(True)
        self.set_state(state)
        if view.get("colour_mode") in COLOUR_MODES:
            self.set_colour_mode(view["colour_mode"])
        if isinstance(view.get("landmarks"), bool):
            self.set_landmarks_visible(view["landmarks"])
        if view.get("scan_mode") in SCAN_MODES:
            self.set_scan_mode(view["scan_mode"])
        self.recent.add("session", path)
        self._set_activity(f"Opened the session {path.name}")
        return True

    # =============================================================================== file dialogs
    def _ask_open_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", str(self._start_dir()), MODEL_FILTER)
        if path:
            self.open_model(path)

    def _ask_load_scan(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load scan", str(self._start_dir()), SCAN_FILTER)
        if path:
            self.load_scan(path)

    def _ask_export(self, colors: bool) -> None:
        title = "Export mesh with colours" if colors else "Export mesh"
        path, chosen = QFileDialog.getSaveFileName(self, title, str(self._start_dir() / "face.obj"),
                                                   ";;".join(MESH_FILTERS))
        if path:
            if not Path(path).suffix:
                path += MESH_FILTERS.get(chosen, ".obj")
            self.export_mesh(path, colors=colors)

    def _ask_open_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session", str(self._start_dir()), SESSION_FILTER)
        if path:
            self.open_session(path)

    def _ask_save_session(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save session", str(self._start_dir() / f"face{SESSION_SUFFIX}"),
                                              SESSION_FILTER)
        if path:
            if not path.endswith(".json"):
                path += SESSION_SUFFIX
            self.save_session(path)

    def _start_dir(self) -> Path:
        entries = self.recent.entries()
        return entries[0][1].parent if entries else Path.cwd()

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        entries = self.recent.entries()
        for kind, path in entries:
            action = menu.addAction(f"{'Session' if kind == 'session' else 'Scan'}: {path.name}")
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            if kind == "session":
                action.triggered.connect(lambda _=False, p=path: self.open_session(p))
            else:
                action.triggered.connect(lambda _=False, p=path: self.load_scan(p))
            action.setEnabled(self.editor is not None)
        if not entries:
            menu.addAction("(nothing yet)").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list", self.recent.clear)

    # =============================================================================== helpers
    def _start_task(self, fn: Callable, on_done: Callable, on_error: Callable, name: str) -> BackgroundTask:
        relay = self._relay

        def done(result) -> None:
            relay.post(lambda: (self._tasks.discard(task), on_done(result)))

        def failed(exc: BaseException) -> None:
            relay.post(lambda: (self._tasks.discard(task), on_error(exc)))

        task = BackgroundTask(fn, done, failed, name=name)
        self._tasks.add(task)
        return task.start()

    def _update_actions(self) -> None:
        has_model = self.editor is not None
        for action in (self.load_scan_action, self.export_action, self.export_colors_action,
                       self.open_session_action, self.save_session_action):
            action.setEnabled(has_model)
        self.undo_action.setEnabled(self.history is not None and self.history.can_undo)
        self.redo_action.setEnabled(self.history is not None and self.history.can_redo)
        self.colour_actions["error"].setEnabled(self.fit is not None)
        for action in self.scan_actions.values():
            action.setEnabled(self.fit is not None)

    def _set_activity(self, text: str) -> None:
        self.statusBar().showMessage(text)

    def _error(self, title: str, text: str) -> None:
        self.last_error = text
        _log.warning("%s: %s", title, text.replace("\n", " "))
        if self.interactive and not self._closing:
            QMessageBox.critical(self, title, text)
        else:
            self.statusBar().showMessage(f"{title}: {text.splitlines()[0]}")

    def _show_help(self) -> None:
        QMessageBox.information(
            self, "Mouse and keys",
            "Left-drag: orbit \N{MIDDLE DOT} wheel: zoom \N{MIDDLE DOT} Shift+drag or middle-drag: pan\n"
            "Ctrl+R: reset the view \N{MIDDLE DOT} Ctrl+Z / Ctrl+Shift+Z: undo / redo\n"
            "Sliders: drag for a quick preview; the full-detail face follows when you let go.")

    def _show_about(self) -> None:
        from imface_core import __version__

        model = self.editor.describe() if self.editor is not None else "no model loaded"
        QMessageBox.about(self, "About ImFace Studio",
                          f"ImFace Studio {__version__}\nA desktop editor for 3D faces (ImFace++).\n\nModel: {model}")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        self._closing = True
        self._rest_timer.stop()
        self._commit_timer.stop()
        if self._worker is not None:
            self._worker.close(timeout=0.5)
        for task in list(self._tasks):
            task.cancel()
        if self._fit_dialog is not None:
            self._fit_dialog.close()
        # Release the render window before Qt tears the widget down (pyvistaqt #762).
        self.viewport.close_viewport()
        super().closeEvent(event)
