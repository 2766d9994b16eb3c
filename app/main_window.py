"""The editor window: builds the viewport, panels, menus and dialogs and connects them to the document.

The layers (napari's model / view split):

* ``app.document.Document`` holds the model, the face, its undo history, the fits and the view modes, and says
  when they change (plain callbacks; no Qt);
* ``app.scheduler.MeshScheduler`` decides which mesh to compute for each edit and which of the meshes that come
  back to show (no Qt); it owns the ``LatestOnlyWorker`` and this window is its ``MeshView``;
* this window: widgets, menus and dialogs, two timers (a held slider's rest, the pause that ends a keyboard
  edit) and the model's loading on a ``BackgroundTask`` (torch's import included: the window appears at once);
  ``app.scan_fit`` fits scans and ``app.mesh_export`` writes meshes, each on tasks of their own.

Results of other threads come back through ``app.relay.Relay`` (a queued Qt signal).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QSplitter, QTabWidget, QWidget

from app.animation_export import AnimationExport
from app.document import COLOUR_MODES, DEFAULT_QUALITY, SCAN_MODES, Document
from app.face_state import FaceState
from app.fit_view import show_current, show_fit, show_sources
from app.jobs import FitOptions
from app.mesh_export import MeshExport
from app.menus import QUALITIES, build_menus, check_view_actions, update_actions
from app.panels import make_panels
from app.recent import RecentFiles
from app.region_panel import add_region_panel
from app.relay import Relay, wait_until
from app.rig_export import RigExport
from app.scan_fit import ScanFit
from app.scheduler import MeshScheduler
from app.session_files import WINDOW_TITLE, SessionFiles
from app.symmetrise import Symmetrise
from app.start_view import show_stored_start_face
from app.timeline_player import TimelinePlayer
from app.viewport import SKIN_RGB, Viewport
from app.worker import TaskGroup
from imface_core.errors import CheckpointError

if TYPE_CHECKING:
    from app.engine import DisplayMesh, EditorModel, MeshComputer

__all__ = ["COLOUR_MODES", "MainWindow", "PLACEHOLDER_STATUS", "QUALITIES", "SCAN_MODES", "SKIN_RGB", "WINDOW_TITLE"]

_log = logging.getLogger(__name__)

PLACEHOLDER_STATUS = "No face model loaded \N{EM DASH} File \N{RIGHTWARDS ARROW} Open model\N{HORIZONTAL ELLIPSIS}"
REST_MS = 250
"""A slider held still this long (button still down) gets its full-detail mesh."""
COMMIT_MS = 600
"""Keyboard / wheel edits become one undo step after this pause."""


def _document_attr(name: str) -> property:
    return property(lambda self: getattr(self.document, name), doc=f"``Document.{name}``")


def _forward(target: str, name: str) -> Callable:
    """A window method that is ``self.<target>.<name>`` (the document's, the scan fit's, ...)."""
    def method(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(getattr(self, target), name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{target}.{name}``"
    return method


class MainWindow(QMainWindow):
    """The ImFace Studio editor.

    Parameters
    ----------
    model_path : checkpoint to open (loaded in the background), or None for an empty editor.
    off_screen : render the viewport off screen.
    quality : resolution of the full-detail mesh (N of the equivalent dense grid).
    threads, device : torch threads and device of the computations (device None: CUDA when present).
    fit_options : ``app.jobs.FitOptions`` for Load scan (default: the fitting defaults).
    interactive : show problems in message boxes (False: log them and show them in the status bar only,
        for ``--screenshot``).
    """

    meshShown = Signal(object)
    startFaceShown = Signal()
    """The stored start face is drawn before the model has loaded (``app.start_view``)."""
    """A ``DisplayMesh`` was put on screen."""
    faceReady = Signal()
    """The full-detail mesh of the newest edit is on screen."""
    modelLoaded = Signal(str)
    modelFailed = Signal(str)
    fitFinished = Signal(str)
    """"done", "cancelled" or "failed"."""
    exportFinished = Signal(str)
    """The path written, or "" when the export failed."""

    editor, space, state, history = (_document_attr(n) for n in ("editor", "space", "state", "history"))
    fits, fit = _document_attr("fits"), _document_attr("fit")
    colour_mode, scan_mode = _document_attr("colour_mode"), _document_attr("scan_mode")
    show_landmarks, quality = _document_attr("show_landmarks"), _document_attr("quality")
    set_state, set_colour_mode, set_scan_mode, set_landmarks_visible, set_quality, pick_identity, random_face, \
        reset_identity, neutral_expression = (_forward("document", n) for n in (
            "set_state", "set_colour_mode", "set_scan_mode", "set_landmarks_visible", "set_quality", "pick_identity",
            "random_face", "reset_identity", "neutral_expression"))
    cancel_fit = _forward("scan_fit", "cancel")
    fit_dialog = property(lambda self: self.scan_fit.dialog, doc="The running fit's progress dialog, or None.")
    fit_phase = property(lambda self: self.scan_fit.phase, doc='Phase of the running fit ("load", "align", ...).')
    start_export, export_failed = _forward("mesh_export", "start"), _forward("mesh_export", "failed")
    save_session, open_session = _forward("session_files", "save"), _forward("session_files", "open")

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        off_screen: bool = False, parent: QWidget | None = None,
        quality: int = DEFAULT_QUALITY,
        threads: int = 1, fit_options: FitOptions | None = None,
        interactive: bool = True, device: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(WINDOW_TITLE)
        self.model_path = Path(model_path) if model_path is not None else None
        self.threads, self.device = int(threads), device
        self.fit_options = fit_options
        self.interactive = interactive
        self.recent = RecentFiles()
        self.model_error: str | None = None
        self.last_error: str | None = None
        self._closing = False
        self._loading = False

        self._relay = Relay(self)
        self.tasks = TaskGroup(self._relay.post)
        self.document = Document(quality)
        self.session_files = SessionFiles(self)  # the title, Save / Open session, the unsaved-changes prompt
        for event, slot in (("model", self._on_model), ("state", self._on_state), ("view", self._on_view),
                            ("history", lambda: update_actions(self)), ("fit", lambda _fit: show_sources(self))):
            self.document.on(event, slot)
        self.scheduler = MeshScheduler(self.document, self, self._relay.post)
        self.scan_fit = ScanFit(self, self._relay.post)
        self.scan_fit.finished.connect(self.fitFinished)
        self.mesh_export = MeshExport(self)
        self.rig_export = RigExport(self, self._relay.post)
        self.symmetrise = Symmetrise(self, self._relay.post)  # Edit > Symmetrise face
        self.mesh_export.finished.connect(self.exportFinished)
        self._rest_timer = QTimer(self, singleShot=True, interval=REST_MS)
        self._rest_timer.timeout.connect(self.scheduler.rest)
        self._commit_timer = QTimer(self, singleShot=True, interval=COMMIT_MS)
        self._commit_timer.timeout.connect(self.document.flush)

        self._build_ui()
        self.timeline = TimelinePlayer(self, self._relay.post)  # the timeline dock: keyframes, bake, playback
        self.animation_export = AnimationExport(self, self._relay.post)
        build_menus(self)
        update_actions(self)
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
        self.identity_panel = self.expression_panel = self.detail_panel = self.region_panel = None  # (_on_model)

        self.mesh_label = QLabel("")
        self.mesh_label.setToolTip("Time and size of the last full-detail mesh")
        self.statusBar().addPermanentWidget(self.mesh_label)

    # =============================================================================== the document's events
    def _on_model(self) -> None:
        """A model is loaded: its panels, connected."""
        ip, ep, dp = make_panels(self.tabs, self.space, self.editor.identities)
        self.identity_panel, self.expression_panel, self.detail_panel = ip, ep, dp
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
        self.detail_panel.set_sources([label for label, _ in self.document.detail_sources])
        self.region_panel = add_region_panel(self)
        self._sync_panels()

    def _on_state(self, fresh: bool, slider: bool) -> None:
        if not slider:  # (a slider's own edit: the panels show it already)
            self._sync_panels()
            update_actions(self)
        show_current(self)  # the "Current:" line: a fitted face, or edited since

    def _on_view(self, what: str, remesh: bool = True) -> None:
        check_view_actions(self, what)
        doc = self.document
        if what == "colour_mode":
            self.viewport.set_colour_mode(doc.colour_mode)
        elif what == "scan_mode":
            self.viewport.set_scan_mode(doc.scan_mode)
        elif what == "landmarks":
            self.viewport.set_landmarks_visible(doc.show_landmarks)
        elif what == "fit":
            show_fit(self)  # the current face's scan and error map, or the notice that they are hidden

    def _sync_panels(self) -> None:
        for panel in (self.identity_panel, self.expression_panel, self.detail_panel, self.region_panel):
            if panel is not None and self.state is not None:
                panel.set_state(self.state)

    # =============================================================================== model
    def open_model(self, path: Path | str) -> None:
        """Load a checkpoint in the background; the current model stays until the new one is ready."""
        path = Path(path)
        if not self.session_files.confirm(f"opening {path.name}"):
            return
        self._loading = True
        self.model_error = None
        update_actions(self)
        self.set_activity(f"Loading model {path.name}\N{HORIZONTAL ELLIPSIS}")
        if self.editor is None:
            if show_stored_start_face(self.viewport, path, self.document.quality, self.document.colour_mode ==
                                      "correspondence"):
                self.startFaceShown.emit()
            else:
                self.viewport.show_placeholder(f"Loading model {path.name}\N{HORIZONTAL ELLIPSIS}")
        threads, device = self.threads, self.device

        def load(_cancel) -> "tuple[EditorModel, MeshComputer]":
            from app import engine  # imports torch: on this thread, never the GUI's

            editor = engine.load_editor_model(path, threads=threads, device=device)
            return editor, engine.MeshComputer(editor.model, start_face=engine.stored_start_face(editor, threads),
                                                threads=threads)

        self.tasks.start(load, self._on_model_loaded, lambda exc: self._on_model_failed(path, exc), "model-loader")

    def _on_model_loaded(self, loaded: "tuple[EditorModel, MeshComputer]") -> None:
        self._loading = False
        if self._closing:
            return
        editor, computer = loaded
        self.model_path = editor.path
        self.viewport.set_scan(None)
        self.viewport.set_before(None)
        self.document.load_model(editor)
        self.scheduler.attach(computer.run)
        update_actions(self)
        self.statusBar().showMessage(f"Loaded {editor.describe()} in {editor.load_seconds:.1f} s", 5000)
        self.modelLoaded.emit(str(editor.path))

    def _on_model_failed(self, path: Path, exc: BaseException) -> None:
        self._loading = False
        text = str(exc) if isinstance(exc, CheckpointError) else f"{type(exc).__name__}: {exc}"
        self.model_error = text
        update_actions(self)
        if self.editor is None:
            self.viewport.show_placeholder("No face model loaded")
            self.statusBar().showMessage(PLACEHOLDER_STATUS)
        else:
            self.set_activity(f"Kept {self.editor.name}: {path.name} could not be opened")
        self.show_error("Could not open the model", f"{path.name} could not be opened as a face model.\n\n{text}")
        self.modelFailed.emit(text)

    # =============================================================================== edits
    def _slider_edit(self, state: FaceState) -> None:
        if self.document.edit(state, commit_later=not self.scheduler.dragging):
            (self._rest_timer if self.scheduler.dragging else self._commit_timer).start()

    def _on_slider_pressed(self) -> None:
        self.document.flush()
        self.scheduler.press()

    def _on_slider_released(self) -> None:
        self._rest_timer.stop()
        self.scheduler.release()
        self.document.commit()

    def undo(self) -> None:
        if self.document.undo():
            self.set_activity("Undone")

    def redo(self) -> None:
        if self.document.redo():
            self.set_activity("Redone")

    def transfer_details(self, index: int) -> None:
        """Put the details of source ``index`` (training faces, then fitted scans) on the current face."""
        before = self.viewport.face
        label = self.document.transfer_details(index)
        if label is None:
            return
        if before is not None:
            self.viewport.set_before(before)
        self.detail_panel.compare.setEnabled(True)
        self.detail_panel.compare.setChecked(True)
        self.set_activity(f"Details of {label} applied")

    # =============================================================================== meshes (the scheduler's view)
    def draw_mesh(self, dm: "DisplayMesh") -> None:
        if not self.timeline.showing:  # (an animation frame stays until the face is edited: TimelinePlayer.leave)
            self.viewport.set_face(dm.poly, dm.landmarks)

    def mesh_shown(self, dm: "DisplayMesh") -> None:
        if dm.full_detail:
            self.mesh_label.setText(
                ("Last mesh: stored start face" if dm.stored else f"Last mesh: {dm.seconds:.2f} s")
                + f" \N{MIDDLE DOT} {dm.job.resolution}\N{SUPERSCRIPT THREE} "
                f"\N{MIDDLE DOT} {dm.n_vertices:,} vertices")
        self.meshShown.emit(dm)

    def face_ready(self, dm: "DisplayMesh") -> None:
        self.faceReady.emit()

    def mesh_failed(self, reason: str) -> None:
        self.last_error = reason

    @property
    def full_mesh(self) -> "DisplayMesh | None":
        """The newest full-detail mesh on screen."""
        return self.scheduler.full

    def is_ready(self) -> bool:
        """Whether nothing is pending: the newest edit's full-detail mesh is shown, or there is no model."""
        return not self._loading and self.scheduler.is_ready()

    def wait_until_ready(self, timeout_s: float = 120.0) -> bool:
        """Process events until ``is_ready`` (screenshots, scripts). False on timeout."""
        return wait_until(self.is_ready, timeout_s)

    # =============================================================================== fitting
    def load_scan(self, path: Path | str) -> None:
        """Fit the model to a scan (background, with a progress dialog and Cancel)."""
        self.scan_fit.start(Path(path), self.fit_options)

    # =============================================================================== export
    def export_mesh(self, path: Path | str, colors: bool = False, frame: str = "scan") -> None:
        """Write the full-detail face to ``path`` (.obj or .ply, millimetres; ``frame`` "scan": a fitted scan's
        frame when there is one, "model"), in the background."""
        self.mesh_export.request(Path(path), colors, frame)

    # =============================================================================== helpers
    def set_activity(self, text: str) -> None:
        self.statusBar().showMessage(text)

    def show_error(self, title: str, text: str) -> None:
        self.last_error = text
        _log.warning("%s: %s", title, text.replace("\n", " "))
        if self.interactive and not self._closing:
            QMessageBox.critical(self, title, text)
        else:
            self.statusBar().showMessage(f"{title}: {text.splitlines()[0]}")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        if not self._closing and not self.session_files.confirm("closing"):
            event.ignore()
            return
        self._closing = True
        self._rest_timer.stop()
        self._commit_timer.stop()
        self.timeline.pause()
        self.scheduler.close(timeout=0.5)
        self.tasks.cancel_all()
        self.scan_fit.close()
        # Release the render window before Qt tears the widget down (pyvistaqt #762).
        self.viewport.close_viewport()
        super().closeEvent(event)
