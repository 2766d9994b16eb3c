"""The window's timeline (Qt): keyframe edits as undo steps of the document, keyframe faces baked in the
background, playback in the viewport, and the animation's exports.

* **Keyframes** hold the face's expression (``app.timeline``); Set key / Remove key / a dragged key /
  frame rate / last frame each go to ``Document.set_timeline`` (one undo step each).
* **Bake**: a moment after the timeline or the person changes, every keyframe's face (the current person with
  the keyframe's expression), and every in-between's when the timeline asks for them, is carried into the
  template topology on a background task (``app.pose_bake``).
* **Playback**: a timer ticks at the animation's frame rate; each tick blends the baked positions and normals
  of the two keyframes around the playhead (``imface_core.keyframes``) and writes them into the
  face on screen in place (``Viewport.move_face``). Between keyframes the face is a blend of the two keyframe
  meshes, not a mesh of blended codes; keyframes not baked yet are left out until they are.
* While the viewport shows the animation (playing, paused, or scrubbed), meshes of the edited face wait; any
  edit of the face (a slider, undo, a pick) or Stop shows the edited face again.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QFrame, QScrollArea, QWidget

from app.polydata import face_polydata
from app.pose_bake import Pose, PoseBaker, pose_key
from app.timeline import Timeline
from app.timeline_panel import TimelinePanel
from imface_core.keyframes import KeyframeFaces, blend, segment

if TYPE_CHECKING:
    from app.main_window import MainWindow

__all__ = ["BAKE_RESOLUTION", "TimelinePlayer"]

BAKE_RESOLUTION = 128
"""Template mesh resolution of the keyframe faces (``template_topology.TEMPLATE_RESOLUTION``, the rig's)."""
BAKE_DELAY_MS = 300
"""The bake starts this long after the last change (a slider dragged through many identities bakes once)."""
RATE_WINDOW = 24
"""Frames over which the shown frame rate is measured."""


class TimelinePlayer(QObject):
    """The timeline of ``window`` (see the module doc); its panel is a dock at the bottom of the window."""

    frameShown = Signal(float)
    """An animation frame (its frame number) was put in the viewport."""
    bakeChanged = Signal()
    """A keyframe face was baked, or a bake started or ended."""

    def __init__(self, window: "MainWindow", post: Callable[[Callable[[], Any]], None]):
        super().__init__(window)
        self.window, self.document = window, window.document
        self.panel = TimelinePanel()
        self.dock = QDockWidget("Timeline", window)
        self.dock.setObjectName("timeline_dock")
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.dock.setTitleBarWidget(QWidget())  # (no title bar: the panel's buttons say what it is)
        area = QScrollArea()  # (a narrow window scrolls the panel instead of growing to its width)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setWidget(self.panel)
        area.setFixedHeight(self.panel.sizeHint().height() + area.horizontalScrollBar().sizeHint().height())
        self.dock.setWidget(area)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.resolution = BAKE_RESOLUTION
        self.baker = PoseBaker(window.tasks.start, post, self._on_baked)
        self.frame = 0.0
        """The playhead (frames; fractional while playing)."""
        self.playing = False
        self.showing = False
        """The viewport shows an animation frame (not the edited face)."""
        self.shown_fps = float("nan")
        """Frames shown per second over the last ``RATE_WINDOW`` frames of playback."""
        self._ticks: deque[float] = deque(maxlen=RATE_WINDOW)
        self._poly = None
        self._ready: tuple[list[int], list] | None = None
        """(frames, baked faces) of the keyframes ready to play, made when needed."""
        self._play_from = (0.0, 0.0)
        """(playhead, clock) when playback (re)started."""
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._bake_timer = QTimer(self, singleShot=True, interval=BAKE_DELAY_MS)
        self._bake_timer.timeout.connect(self.bake)
        self.document.on("timeline", self._on_timeline)
        self.document.on("state", lambda **_: self._on_face())
        self.document.on("model", self._on_model)
        p = self.panel
        p.playClicked.connect(self.toggle_play)
        p.stopClicked.connect(self.stop)
        p.frameChosen.connect(self.seek)
        p.addKeyClicked.connect(self.set_key)
        p.removeKeyClicked.connect(self.remove_key)
        p.loadKeyClicked.connect(self.edit_key)
        p.keyMoved.connect(self.move_key)
        p.fpsChosen.connect(lambda fps: self._edit(lambda tl: tl.with_fps(fps)))
        p.endChosen.connect(lambda end: self._edit(lambda tl: tl.with_end(end)))
        p.inbetweenChosen.connect(lambda every: self._edit(lambda tl: tl.with_inbetween(every)))
        p.exportGltfClicked.connect(lambda: window.animation_export.ask("gltf"))
        p.exportObjClicked.connect(lambda: window.animation_export.ask("obj"))
        self._show_status()

    @property
    def timeline(self) -> Timeline:
        return self.document.timeline

    # -- keyframe edits (undo steps) ------------------------------------------------------------------
    def _edit(self, change: Callable[[Timeline], Timeline]) -> bool:
        """``change(timeline)`` as an undo step; False, said in the status bar, when it is refused."""
        try:
            self.document.set_timeline(change(self.timeline))
        except ValueError as exc:  # (a key dragged onto another, a last frame before a key)
            self.window.set_activity(f"Timeline: {exc}")
            self.panel.set_timeline(self.timeline)
            return False
        return True

    def set_key(self) -> None:
        """A keyframe of the current face at the playhead's frame."""
        if self.document.state is not None:
            state = self.document.state
            self._edit(lambda tl: tl.with_key(int(round(self.frame)), state))

    def remove_key(self) -> None:
        frame = int(round(self.frame))
        if self.timeline.key_at(frame) is not None:
            self._edit(lambda tl: tl.without_key(frame))

    def move_key(self, frame: int, to: int) -> None:
        if self._edit(lambda tl: tl.moved(frame, to)):
            self.seek(to)

    def edit_key(self) -> None:
        """The keyframe at the playhead's expression on the face (an undo step; the edited face is shown)."""
        key = self.timeline.key_at(int(round(self.frame)))
        if key is not None and self.document.state is not None:
            self.document.set_state(key.apply(self.document.state), fresh=False)

    # -- the document's events --------------------------------------------------------------------------
    def _on_model(self) -> None:
        self.leave()
        self.baker.clear()
        self.frame = 0.0
        self._on_timeline()

    def _on_timeline(self) -> None:
        self.panel.set_timeline(self.timeline)
        self.frame = min(self.frame, float(self.timeline.end))
        self._changed()

    def _on_face(self) -> None:
        """The edited face changed: show it (leaving the animation); the keyframes follow its person."""
        self.leave()
        self._changed()

    def _changed(self) -> None:
        self._ready = None
        self._bake_timer.start()
        self._show_status()
        if self.showing and not self.playing:
            self._show(self.frame)

    # -- baking ---------------------------------------------------------------------------------------
    def poses(self) -> list[Pose]:
        """The faces to bake (the current person with the expression of each keyframe and in-between,
        ``Timeline.samples``), in frame order."""
        doc = self.document
        if doc.space is None or doc.state is None:
            return []
        out = []
        for key in self.timeline.samples():
            state = key.apply(doc.state)
            codes = doc.space.codes(state)
            out.append(Pose(pose_key(codes, state.detail_scale, self.resolution), codes, state.detail_scale))
        return out

    def bake(self) -> None:
        """Bake the keyframes not baked yet (in the background)."""
        if self.document.editor is not None:
            self.baker.request(self.document.editor.model, self.poses(), self.resolution)

    @property
    def baked(self) -> bool:
        """Every face to bake is baked (and there is at least one keyframe)."""
        return bool(self.timeline.keys) and len(self._ready_faces()[0]) == len(self.timeline.samples())

    def _on_baked(self) -> None:
        self._ready = None
        self._show_status()
        if self.showing and not self.playing:
            self._show(self.frame)
        self.bakeChanged.emit()

    def _ready_faces(self) -> tuple[list[int], list]:
        if self._ready is None:
            faces = self.baker.faces
            pairs = [(key.frame, faces.get(pose.key)) for key, pose in zip(self.timeline.samples(), self.poses())]
            ready = [(frame, face) for frame, face in pairs if face is not None]
            self._ready = ([f for f, _ in ready], [face for _, face in ready])
        return self._ready

    def keyframe_faces(self) -> KeyframeFaces | None:
        """The baked faces as ``KeyframeFaces`` (seconds; names "key <n> (frame <f>)", "in-between (frame <f>)");
        None until every one is baked."""
        if not self.baked:
            return None
        frames, faces = self._ready_faces()
        keys = self.timeline.frames
        names = [f"key {keys.index(f) + 1} (frame {f})" if f in keys else f"in-between (frame {f})" for f in frames]
        return KeyframeFaces(self.baker.triangles, np.stack([f.positions for f in faces]),
                             np.stack([f.normals for f in faces]),
                             np.asarray(frames, dtype=np.float64) / self.timeline.fps, names)

    def _show_status(self) -> None:
        frames, _ = self._ready_faces()
        self.panel.set_ready(set(frames))
        keys, n, ready = len(self.timeline.keys), len(self.timeline.samples()), len(frames)
        faces = f"{keys} keyframe{'s' if keys != 1 else ''}" + (f" and {n - keys} in-betweens" if n > keys else "")
        if self.baker.error:
            text = f"Keyframes could not be baked: {self.baker.error}"
        elif n == 0:
            text = "No keyframes: set one with Set key"
        elif ready < n:
            text = f"Baking {faces}\N{HORIZONTAL ELLIPSIS} {ready} of {n} ready"
            if not self.baker.faces and self.baker.task is not None:
                text += " (the first also makes the template mesh)"
        else:
            text = f"{faces} ready"
        self.panel.bake_label.setText(text)
        rate = f"{self.timeline.fps} fps"
        if self.playing and self.shown_fps == self.shown_fps:
            rate += f" \N{MIDDLE DOT} showing {self.shown_fps:.1f}"
        self.panel.rate_label.setText(rate)
        for button in (self.panel.export_gltf, self.panel.export_obj):
            button.setEnabled(self.baked)

    # -- playback -------------------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> bool:
        """Play from the playhead (from 0 at the end), looping; False when no keyframe is baked yet."""
        if not self._ready_faces()[0]:
            self.window.set_activity("Nothing to play yet: set keyframes and wait until they are baked")
            return False
        if self.frame >= self.timeline.end:
            self.frame = 0.0
        self.playing = True
        self._ticks.clear()
        self.shown_fps = float("nan")
        self._play_from = (self.frame, time.perf_counter())
        self._timer.start(int(1000 / self.timeline.fps))  # (rounded down: a tick is never late for its frame)
        self.panel.set_playing(True)
        self._show(self.frame)
        return True

    def pause(self) -> None:
        self._timer.stop()
        self.playing = False
        self.panel.set_playing(False)
        self._show_status()

    def stop(self) -> None:
        """Stop at frame 0 and show the edited face again."""
        self.leave()
        self.frame = 0.0
        self.panel.set_frame(0.0)

    def seek(self, frame: int) -> None:
        """Go to ``frame`` (from the slider or a keyframe): its animation frame is shown."""
        self.frame = float(frame)
        if self.playing:
            self._play_from = (self.frame, time.perf_counter())
        if not self._show(self.frame):
            self.panel.set_frame(self.frame)

    def leave(self) -> None:
        """Stop playing and show the edited face again (its newest mesh)."""
        if self.playing:
            self.pause()
        if self.showing:
            self.showing = False
            shown = self.window.scheduler.shown
            if shown is not None:
                self.window.viewport.set_face(shown.poly, shown.landmarks)

    def _tick(self) -> None:
        start, t0 = self._play_from
        now = time.perf_counter()
        end = max(self.timeline.end, 1)
        self._show((start + (now - t0) * self.timeline.fps) % end)
        self._ticks.append(now)
        if len(self._ticks) >= 2 and self._ticks[-1] > self._ticks[0]:
            self.shown_fps = (len(self._ticks) - 1) / (self._ticks[-1] - self._ticks[0])
        if len(self._ticks) == RATE_WINDOW:
            self._show_status()
            self._ticks.clear()
            self._ticks.append(now)

    def _show(self, frame: float) -> bool:
        """Put the animation's face at ``frame`` in the viewport; False when no keyframe is baked."""
        frames, faces = self._ready_faces()
        if not faces or self.baker.triangles is None:
            return False
        i, j, a = segment(frames, frame)
        positions = blend([faces[i].positions, faces[j].positions], 0, 1, a)
        normals = blend([faces[i].normals, faces[j].normals], 0, 1, a, unit=True)
        viewport = self.window.viewport
        if self.showing and self._poly is not None and viewport.face is not None \
                and viewport.face.n_points == len(positions):
            viewport.move_face(positions, normals)
        else:
            self._poly = face_polydata(positions, self.baker.triangles, self.baker.colors)
            self._poly.point_data.active_normals = normals
            viewport.set_face(self._poly)
            self.showing = True
        self.frame = frame
        self.panel.set_frame(frame)
        self.frameShown.emit(frame)
        return True
