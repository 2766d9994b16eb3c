"""The editing panels: identity, expression and detail (Qt widgets), labelled in words ("Variation 3", "Face
width", tooltips that say what a slider does rather than its statistics).

Each panel is given the model's ``FaceSpace`` and shows a ``FaceState``; it reports edits through signals
and never changes the state itself (the window does, then calls ``set_state``, which moves the widgets with
their signals blocked so the round trip does not loop).
"""

from __future__ import annotations

import math
from typing import Sequence

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider
from superqt.utils import signals_blocked

from app.face_state import DETAIL_RANGE, MIX_RANGE, SIGMA_RANGE, FaceSpace, FaceState

__all__ = ["DetailPanel", "ExpressionPanel", "IdentityPanel", "SliderGroup", "SliderKeys", "make_panels"]


def _pretty(name: str) -> str:
    return name.replace("_", " ").capitalize()


class SliderKeys(QObject):
    """Arrow, PageUp/PageDown, Home and End keys for a ``QLabeledDoubleSlider`` (superqt's double slider
    ignores them): arrows move by ``arrow`` (a tenth of a unit by default), pages by ``page``."""

    def __init__(self, slider: QLabeledDoubleSlider, arrow: float, page: float):
        super().__init__(slider)
        self.slider = slider
        self.moves = {Qt.Key.Key_Right: arrow, Qt.Key.Key_Up: arrow, Qt.Key.Key_Left: -arrow, Qt.Key.Key_Down: -arrow,
                      Qt.Key.Key_PageUp: page, Qt.Key.Key_PageDown: -page}
        for widget in (slider, *slider.findChildren(QWidget)):
            if widget.focusPolicy() != Qt.FocusPolicy.NoFocus and not hasattr(widget, "selectAll"):  # not the spin box
                widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress:
            return False
        key, s = event.key(), self.slider
        if key in self.moves:
            s.setValue(min(max(s.value() + self.moves[key], s.minimum()), s.maximum()))
        elif key in (Qt.Key.Key_Home, Qt.Key.Key_End):
            s.setValue(s.minimum() if key == Qt.Key.Key_Home else s.maximum())
        else:
            return False
        return True


class SliderGroup(QWidget):
    """Labelled horizontal sliders; ``valueChanged(index, value)``, ``pressed()``, ``released()``."""

    valueChanged = Signal(int, float)
    pressed = Signal()
    released = Signal()

    def __init__(self, labels: Sequence[str], lo: float, hi: float, step: float = 0.01, decimals: int = 2,
                 tooltips: Sequence[str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(2)
        self.sliders: list[QLabeledDoubleSlider] = []
        for i, text in enumerate(labels):
            slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal, self)
            slider.setRange(lo, hi)
            slider.setSingleStep(step)
            slider.setPageStep(step * 10)
            slider.setDecimals(decimals)
            slider.setValue(0.0 if lo <= 0.0 <= hi else lo)
            slider.setObjectName(f"slider_{i}")
            SliderKeys(slider, arrow=10 * step, page=50 * step)
            if tooltips:
                slider.setToolTip(tooltips[i])
            slider.valueChanged.connect(lambda value, i=i: self.valueChanged.emit(i, float(value)))
            slider.sliderPressed.connect(self.pressed)
            slider.sliderReleased.connect(self.released)
            label = QLabel(text, self)
            label.setBuddy(slider)
            form.addRow(label, slider)
            self.sliders.append(slider)

    def values(self) -> tuple[float, ...]:
        return tuple(float(s.value()) for s in self.sliders)

    def set_values(self, values: Sequence[float]) -> None:
        """Move the sliders without emitting anything."""
        for slider, value in zip(self.sliders, values):
            with signals_blocked(slider):
                slider.setValue(float(value))


def _scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(widget)
    return area


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def variation_tooltip(index: int, what: str) -> str:
    """Tooltip of Variation ``index + 1``: which way of differing it follows, in words."""
    which = "the most common way" if index == 0 else f"the {ordinal(index + 1)} most common way"
    return (f"Moves the {what} along {which} the training {what}s differ. 0 is the average; "
            f"\N{PLUS-MINUS SIGN}1 is a typical difference, \N{PLUS-MINUS SIGN}3 as far as nearly any of them.")


def axis_tooltip(axis, people: int) -> str:
    """Tooltip of a named identity slider (``imface_core.engine.identity_axes.IdentityAxis``): what it does, in
    mm as measured on the model, and how much of the training faces it explains."""
    loo = ("" if math.isnan(axis.r2_loo) else
           f", {max(axis.r2_loo, 0.0):.0%} when each face is predicted from the others")
    return (f"Towards {axis.description}; to the left, the opposite. +1 adds about {axis.measured_mm_per_unit:.1f} mm "
            f"(measured from the start face; the {people} training faces spread by {axis.spread_mm:.1f} mm).\n"
            f"Found from the training faces' measured landmarks: this direction explains {axis.r2:.0%} of how "
            f"their {axis.name.lower()} varies{loo}, and {axis.code_variance_share:.0%} of how their identities "
            "differ overall.\nIt moves the Variation sliders below.")


def unsteady_note(space: FaceSpace) -> str:
    """Which measured directions are not offered as sliders, and why ("" when all are)."""
    missing = [axis.name.lower() for axis in space.measured_axes if not axis.steady]
    if not missing:
        return ""
    return (f"Not offered: {', '.join(missing)}. Their directions, found from the training faces, do not change "
            "them steadily on this model (measured from the start face).")


class IdentityPanel(QWidget):
    """Identity: the training person the face started from (marked "edited" once the sliders left it), named
    face-shape sliders, the Variation sliders, Random face and Start face."""

    coeffChanged = Signal(int, float)
    """Variation slider (index, value); a face-shape slider moves several, one signal each (one undo step: the
    window records a drag or a key pause as one)."""
    pressed = Signal()
    released = Signal()
    identityPicked = Signal(int)
    randomClicked = Signal()
    resetClicked = Signal()

    def __init__(self, space: FaceSpace, identities: Sequence[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.space = space
        self.identities = list(identities)
        self._state: FaceState | None = None
        self._coeffs: tuple[float, ...] = (0.0,) * space.n_identity
        layout = QVBoxLayout(self)

        pick = QHBoxLayout()
        pick.addWidget(QLabel("Person:"))
        self.picker = QComboBox(self)
        self.picker.addItem("\N{EM DASH}")
        self.picker.addItems(self.identities)
        self.picker.setToolTip(f"Start from one of the {len(self.identities)} people the model was trained on; "
                               "\"(edited)\" once the sliders moved away from that person")
        self.picker.activated.connect(self._on_picked)
        pick.addWidget(self.picker, 1)
        layout.addLayout(pick)

        self.label = QLabel(self)
        self.label.setWordWrap(True)
        layout.addWidget(self.label)

        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        inner_layout.setContentsMargins(0, 0, 0, 0)
        axes = space.identity_axes
        self.shape = SliderGroup([a.name for a in axes], -SIGMA_RANGE, SIGMA_RANGE,
                                 tooltips=[axis_tooltip(a, len(space.training_identities)) for a in axes])
        self.shape.valueChanged.connect(self._on_axis)
        self.shape.pressed.connect(self.pressed)
        self.shape.released.connect(self.released)
        if space.measured_axes:
            box = QGroupBox("Face shape")
            box.setToolTip("Measured directions: each moves several Variation sliders together. "
                           + unsteady_note(space))
            box_layout = QVBoxLayout(box)
            box_layout.addWidget(self.shape)
            if not axes:
                note = QLabel(unsteady_note(space), box)
                note.setWordWrap(True)
                box_layout.addWidget(note)
            inner_layout.addWidget(box)

        n = space.n_identity
        self.sliders = SliderGroup([f"Variation {i + 1}" for i in range(n)], -SIGMA_RANGE, SIGMA_RANGE,
                                   tooltips=[variation_tooltip(i, "face") for i in range(n)])
        self.sliders.valueChanged.connect(self._on_coeff)
        self.sliders.pressed.connect(self.pressed)
        self.sliders.released.connect(self.released)
        box = QGroupBox("Variations")
        box.setToolTip("The main ways the training faces differ, the most common first")
        box_layout = QVBoxLayout(box)
        box_layout.addWidget(self.sliders)
        if n == 0:
            box_layout.addWidget(QLabel("This model has a single identity: nothing to vary."))
        inner_layout.addWidget(box)
        inner_layout.addStretch(1)
        layout.addWidget(_scrolled(inner), 1)

        buttons = QHBoxLayout()
        self.random_button = QPushButton("Random face", self)
        self.random_button.setToolTip("A new random person, drawn like the training faces")
        self.random_button.clicked.connect(self.randomClicked)
        self.reset_button = QPushButton("Start face", self)
        self.reset_button.setToolTip(
            f"Back to the identity the editor opened with: {space.start_label}, the training person closest to "
            "the average face (this model draws the exact average poorly), with that person's slider positions "
            "and the average skin details. The expression stays.")
        self.reset_button.clicked.connect(self.resetClicked)
        buttons.addWidget(self.random_button)
        buttons.addWidget(self.reset_button)
        layout.addLayout(buttons)

    def _on_picked(self, index: int) -> None:
        if index > 0:
            self.identityPicked.emit(index - 1)

    def _on_coeff(self, index: int, value: float) -> None:
        coeffs = list(self._coeffs)
        coeffs[index] = value
        self._coeffs = tuple(coeffs)
        self._show(skip_axis=None)
        self.coeffChanged.emit(index, value)

    def _on_axis(self, axis: int, value: float) -> None:
        old, self._coeffs = self._coeffs, self.space.move_along_axis(self._coeffs, axis, value)
        self.sliders.set_values(self._coeffs)
        self._show(skip_axis=axis)
        for index, (before, after) in enumerate(zip(old, self._coeffs)):
            if before != after:
                self.coeffChanged.emit(index, after)

    def _show(self, skip_axis: int | None) -> None:
        """The face-shape sliders (but the one being moved) and the person's name for the current sliders."""
        values = list(self.space.axis_values(self._coeffs))
        if skip_axis is not None:
            values[skip_axis] = self.shape.values()[skip_axis]
        self.shape.set_values(values)
        if self._state is None:
            return
        label = self.space.identity_label(self._state.with_id_coeffs(self._coeffs))
        with signals_blocked(self.picker):
            for i, name in enumerate(self.identities):
                self.picker.setItemText(i + 1, label if name == self._state.label else name)
            self.picker.setCurrentIndex(self.identities.index(self._state.label) + 1
                                        if self._state.label in self.identities else 0)
        self.label.setText(f"Current: {label}")

    def set_state(self, state: FaceState) -> None:
        self._state = state
        self._coeffs = tuple(state.id_coeffs)
        self.sliders.set_values(state.id_coeffs)
        self._show(skip_axis=None)


class ExpressionPanel(QWidget):
    """Named expressions that mix (-0.5 to 2), expression Variation sliders, and Neutral."""

    coeffChanged = Signal(int, float)
    mixChanged = Signal(int, float)
    pressed = Signal()
    released = Signal()
    neutralClicked = Signal()

    def __init__(self, space: FaceSpace, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        inner_layout.setContentsMargins(0, 0, 0, 0)

        named = QGroupBox("Named expressions")
        named_layout = QVBoxLayout(named)
        self.explanation = QLabel(
            "Each adds a training expression: 1 as trained, 2 twice as strong, below 0 a little of the opposite. "
            "They mix, and they add to the variations below (which do not move when you use them).", self)
        self.explanation.setWordWrap(True)
        named_layout.addWidget(self.explanation)
        self.names = list(space.expression_names)
        self.mix = SliderGroup(
            [_pretty(n) for n in self.names], *MIX_RANGE,
            tooltips=[f"Adds the training expression \N{LEFT DOUBLE QUOTATION MARK}{_pretty(n).lower()}"
                      "\N{RIGHT DOUBLE QUOTATION MARK}: 0 none, 1 as trained, 2 twice as strong, -0.5 a little of "
                      "the opposite" for n in self.names])
        self.mix.valueChanged.connect(self.mixChanged)
        self.mix.pressed.connect(self.pressed)
        self.mix.released.connect(self.released)
        named_layout.addWidget(self.mix)
        if not self.names:
            named_layout.addWidget(QLabel("This model knows no named expressions."))
        inner_layout.addWidget(named)

        pcs = QGroupBox("Expression variations")
        pcs.setToolTip("The main ways the training expressions differ, the most common first; the named "
                       "expressions above add to them")
        pcs_layout = QVBoxLayout(pcs)
        n = space.n_expression
        self.sliders = SliderGroup([f"Variation {i + 1}" for i in range(n)], -SIGMA_RANGE, SIGMA_RANGE,
                                   tooltips=[variation_tooltip(i, "expression") for i in range(n)])
        self.sliders.valueChanged.connect(self.coeffChanged)
        self.sliders.pressed.connect(self.pressed)
        self.sliders.released.connect(self.released)
        pcs_layout.addWidget(self.sliders)
        inner_layout.addWidget(pcs)
        inner_layout.addStretch(1)
        layout.addWidget(_scrolled(inner), 1)

        self.neutral_button = QPushButton("Neutral", self)
        self.neutral_button.setToolTip("Back to the neutral expression: named expressions to 0, the variations "
                                       "to where the neutral expression lies")
        self.neutral_button.clicked.connect(self.neutralClicked)
        layout.addWidget(self.neutral_button)

    def set_state(self, state: FaceState) -> None:
        self.sliders.set_values(state.exp_coeffs)
        self.mix.set_values(state.exp_mix)


class DetailPanel(QWidget):
    """Detail strength and detail transfer (source: a fitted scan or a training face) with before/after."""

    strengthChanged = Signal(float)
    pressed = Signal()
    released = Signal()
    transferRequested = Signal(int)
    compareToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)

        strength = QGroupBox("Detail strength")
        strength_layout = QVBoxLayout(strength)
        self.strength = SliderGroup(["Strength"], *DETAIL_RANGE,
                                    tooltips=["0: the smooth (coarse) face, 1: as trained, 2: exaggerated"])
        self.strength.set_values([1.0])
        self.strength.valueChanged.connect(lambda _i, v: self.strengthChanged.emit(v))
        self.strength.pressed.connect(self.pressed)
        self.strength.released.connect(self.released)
        strength_layout.addWidget(self.strength)
        layout.addWidget(strength)

        transfer = QGroupBox("Detail transfer")
        transfer_layout = QVBoxLayout(transfer)
        intro = QLabel("Put the details (wrinkles, pores) of another face on this one:")
        intro.setWordWrap(True)
        transfer_layout.addWidget(intro)
        self.source = QComboBox(self)
        self.source.setToolTip("A training face, or a scan fitted in this session")
        transfer_layout.addWidget(self.source)
        self.apply_button = QPushButton("Apply details", self)
        self.apply_button.clicked.connect(lambda: self.transferRequested.emit(self.source.currentIndex()))
        transfer_layout.addWidget(self.apply_button)
        self.compare = QCheckBox("Show before / after", self)
        self.compare.setEnabled(False)
        self.compare.setToolTip("The face before the last transfer on the left, the current face on the right")
        self.compare.toggled.connect(self.compareToggled)
        transfer_layout.addWidget(self.compare)
        layout.addWidget(transfer)

        self.fit_info = QLabel(self)
        self.fit_info.setWordWrap(True)
        layout.addWidget(self.fit_info)
        layout.addStretch(1)

    def set_sources(self, labels: Sequence[str]) -> None:
        current = self.source.currentIndex()
        with signals_blocked(self.source):
            self.source.clear()
            self.source.addItems(list(labels))
            if labels:
                self.source.setCurrentIndex(min(max(current, 0), len(labels) - 1))
        self.apply_button.setEnabled(bool(labels))

    def set_state(self, state: FaceState) -> None:
        self.strength.set_values([state.detail_scale])


def make_panels(tabs: QTabWidget, space: FaceSpace, identities: Sequence[str]
                ) -> tuple[IdentityPanel, ExpressionPanel, DetailPanel]:
    """The three panels of a model as the pages of ``tabs`` (its old pages are deleted)."""
    old_pages = [tabs.widget(i) for i in range(tabs.count())]
    tabs.clear()
    for page in old_pages:
        page.deleteLater()
    panels = IdentityPanel(space, identities), ExpressionPanel(space), DetailPanel()
    for panel, title in zip(panels, ("Identity", "Expression", "Detail")):
        tabs.addTab(panel, title)
    return panels
