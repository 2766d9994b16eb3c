"""The timeline panel (Qt): play / pause / stop, the frame slider with the keyframes marked above it, keyframe
buttons, frame rate and length, how many keyframes are baked and the frame rate shown.

Like the editing panels it only reports what the user did (signals) and shows what it is told
(``set_timeline``, ``set_frame``, ...); ``app.timeline_player`` does the rest.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPolygonF
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QStyle,
    QStyleOptionSlider,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import signals_blocked

from app.timeline import FPS_CHOICES, INBETWEEN_CHOICES, Timeline

__all__ = ["KeyStrip", "TimelinePanel"]

KEY_RGB = QColor("#f0c674")
SELECTED_RGB = QColor("#ffffff")
PLAYHEAD_RGB = QColor("#e06c75")


class KeyStrip(QWidget):
    """The keyframes as diamonds over the frame slider's groove, and the playhead. A click on a diamond goes to
    its frame (``frameClicked``); dragging one moves it (``keyMoved(from, to)`` when let go)."""

    frameClicked = Signal(int)
    keyMoved = Signal(int, int)

    def __init__(self, slider: QSlider, parent: QWidget | None = None):
        super().__init__(parent)
        self.slider = slider
        self.frames: list[int] = []
        self.ready: set[int] = set()
        self.end = 1
        self.playhead = 0.0
        self._drag: tuple[int, int] | None = None
        """(the dragged keyframe's frame, where it would go)."""
        self.setMinimumHeight(18)
        self.setToolTip("Keyframes (filled: baked). Click one to go to it; drag it to move it.")

    def _groove(self) -> tuple[float, float]:
        """x of frame 0 and of the last frame (the slider handle's centre at both ends)."""
        opt = QStyleOptionSlider()
        self.slider.initStyleOption(opt)
        handle = self.slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                                    QStyle.SubControl.SC_SliderHandle, self.slider)
        offset = self.mapFromGlobal(self.slider.mapToGlobal(QPoint(0, 0))).x()
        half = handle.width() / 2.0
        return offset + half, offset + self.slider.width() - half

    def x_of(self, frame: float) -> float:
        x0, x1 = self._groove()
        return x0 + (x1 - x0) * frame / max(self.end, 1)

    def frame_at(self, x: float) -> int:
        x0, x1 = self._groove()
        return int(round(min(max((x - x0) / max(x1 - x0, 1.0), 0.0), 1.0) * self.end))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        super().paintEvent(event)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        y, r = self.height() / 2.0, min(6.0, self.height() / 2.0 - 1)
        for frame in self.frames:
            shown = self._drag[1] if self._drag is not None and self._drag[0] == frame else frame
            x = self.x_of(shown)
            diamond = QPolygonF([QPointF(x, y - r), QPointF(x + r, y), QPointF(x, y + r), QPointF(x - r, y)])
            colour = SELECTED_RGB if abs(frame - self.playhead) < 0.5 else KEY_RGB
            painter.setPen(colour)
            painter.setBrush(colour if frame in self.ready else Qt.BrushStyle.NoBrush)
            painter.drawPolygon(diamond)
        painter.setPen(PLAYHEAD_RGB)
        x = self.x_of(self.playhead)
        painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        painter.end()

    def _key_near(self, x: float) -> int | None:
        near = [f for f in self.frames if abs(self.x_of(f) - x) <= 7]
        return min(near, key=lambda f: abs(self.x_of(f) - x)) if near else None

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        key = self._key_near(event.position().x())
        if key is not None:
            self._drag = (key, key)
            self.frameClicked.emit(key)
        else:
            self.frameClicked.emit(self.frame_at(event.position().x()))
        super().mousePressEvent(event)
        event.accept()  # (QWidget's own ignores it: the strip keeps the mouse for a drag)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag is not None:
            self._drag = (self._drag[0], self.frame_at(event.position().x()))
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        drag, self._drag = self._drag, None
        if drag is not None and drag[1] != drag[0]:
            self.keyMoved.emit(*drag)
        self.update()
        super().mouseReleaseEvent(event)


class TimelinePanel(QWidget):
    """The timeline's controls (see the module doc)."""

    playClicked = Signal()
    """Play, or pause when playing."""
    stopClicked = Signal()
    frameChosen = Signal(int)
    """The user moved the frame slider or clicked the key strip."""
    addKeyClicked = Signal()
    removeKeyClicked = Signal()
    loadKeyClicked = Signal()
    keyMoved = Signal(int, int)
    fpsChosen = Signal(int)
    endChosen = Signal(int)
    inbetweenChosen = Signal(int)
    exportGltfClicked = Signal()
    exportObjClicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 4)
        layout.setSpacing(2)

        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setToolTip("The frame shown: drag to scrub through the animation")
        self.slider.valueChanged.connect(lambda v: self.frameChosen.emit(int(v)))
        self.strip = KeyStrip(self.slider, self)
        self.strip.frameClicked.connect(self.frameChosen)
        self.strip.keyMoved.connect(self.keyMoved)
        layout.addWidget(self.strip)
        row = QHBoxLayout()
        self.play = QPushButton("Play", self)
        self.play.setToolTip("Play the animation in the viewport, looping; again to pause")
        self.play.clicked.connect(self.playClicked)
        self.stop = QPushButton("Stop", self)
        self.stop.setToolTip("Stop, back to frame 0 and to the edited face")
        self.stop.clicked.connect(self.stopClicked)
        row.addWidget(self.play)
        row.addWidget(self.stop)
        row.addWidget(self.slider, 1)
        self.frame_label = QLabel(self)
        self.frame_label.setMinimumWidth(150)
        row.addWidget(self.frame_label)
        layout.addLayout(row)

        row = QHBoxLayout()
        self.add_key = QPushButton("Set key", self)
        self.add_key.setToolTip("A keyframe of the current face's expression at this frame (replaces one there)")
        self.add_key.clicked.connect(self.addKeyClicked)
        self.remove_key = QPushButton("Remove key", self)
        self.remove_key.setToolTip("Remove the keyframe at this frame")
        self.remove_key.clicked.connect(self.removeKeyClicked)
        self.load_key = QPushButton("Edit key's face", self)
        self.load_key.setToolTip("Put this keyframe's expression on the face, to change it with the sliders and "
                                 "Set key again")
        self.load_key.clicked.connect(self.loadKeyClicked)
        for button in (self.add_key, self.remove_key, self.load_key):
            row.addWidget(button)
        row.addSpacing(12)
        row.addWidget(QLabel("Frame rate", self))
        self.fps = QComboBox(self)
        for fps in FPS_CHOICES:
            self.fps.addItem(f"{fps} fps", fps)
        self.fps.activated.connect(lambda i: self.fpsChosen.emit(int(self.fps.itemData(i))))
        row.addWidget(self.fps)
        row.addWidget(QLabel("Last frame", self))
        self.end = QSpinBox(self)
        self.end.setRange(1, 100_000)
        self.end.setKeyboardTracking(False)
        self.end.valueChanged.connect(lambda v: self.endChosen.emit(int(v)))
        row.addWidget(self.end)
        row.addWidget(QLabel("In-betweens", self))
        self.inbetween = QComboBox(self)
        for every in INBETWEEN_CHOICES:
            self.inbetween.addItem("none" if every == 0 else "every frame" if every == 1 else f"every {every} frames",
                                   every)
        self.inbetween.setToolTip("Also bake the face of the interpolated expression this often between keyframes: "
                                  "closer to the model's own in-between faces than a blend of two keyframes, "
                                  "one more baked face each")
        self.inbetween.activated.connect(lambda i: self.inbetweenChosen.emit(int(self.inbetween.itemData(i))))
        row.addWidget(self.inbetween)
        row.addSpacing(12)
        self.bake_label = QLabel(self)
        self.bake_label.setToolTip("Each keyframe's face is computed once in the template topology (seconds each); "
                                   "playback blends the vertices of the two keyframes around each frame")
        row.addWidget(self.bake_label, 1)
        self.rate_label = QLabel(self)
        self.rate_label.setToolTip("The animation's frame rate, and while playing the rate the viewport shows")
        row.addWidget(self.rate_label)
        self.export_gltf = QPushButton("Export glTF\N{HORIZONTAL ELLIPSIS}", self)
        self.export_gltf.setToolTip("Write the animation as one glTF file: the first keyframe's face, a morph "
                                    "target per later keyframe, and an animation of the morph weights")
        self.export_gltf.clicked.connect(self.exportGltfClicked)
        self.export_obj = QPushButton("Export OBJ sequence\N{HORIZONTAL ELLIPSIS}", self)
        self.export_obj.setToolTip("Write every frame as a numbered OBJ mesh (millimetres) into a folder")
        self.export_obj.clicked.connect(self.exportObjClicked)
        row.addWidget(self.export_gltf)
        row.addWidget(self.export_obj)
        layout.addLayout(row)
        self._timeline = Timeline()
        self.set_timeline(self._timeline)

    def set_timeline(self, timeline: Timeline) -> None:
        """Show ``timeline``'s keyframes, frame rate and length (no signals)."""
        self._timeline = timeline
        with signals_blocked(self.slider), signals_blocked(self.fps), signals_blocked(self.end):
            self.slider.setRange(0, timeline.end)
            self.fps.setCurrentIndex(FPS_CHOICES.index(timeline.fps))
            self.inbetween.setCurrentIndex(INBETWEEN_CHOICES.index(timeline.inbetween))
            self.end.setMinimum(max(timeline.frames + [1]))
            self.end.setValue(timeline.end)
        self.strip.frames, self.strip.end = timeline.frames, timeline.end
        self.strip.update()
        self._label()

    def set_ready(self, frames: set[int]) -> None:
        """The keyframes whose faces are baked (filled diamonds)."""
        self.strip.ready = set(frames)
        self.strip.update()

    def set_frame(self, frame: float) -> None:
        """The playhead at ``frame`` (no signals)."""
        with signals_blocked(self.slider):
            self.slider.setValue(int(frame))
        self.strip.playhead = frame
        self.strip.update()
        self._label()

    def set_playing(self, playing: bool) -> None:
        self.play.setText("Pause" if playing else "Play")

    def _label(self) -> None:
        tl, frame = self._timeline, self.strip.playhead
        self.frame_label.setText(f"Frame {int(frame)} / {tl.end} \N{MIDDLE DOT} {frame / tl.fps:.2f} s")
        on_key = tl.key_at(int(round(frame))) is not None and abs(frame - round(frame)) < 1e-6
        self.remove_key.setEnabled(on_key)
        self.load_key.setEnabled(on_key)
