"""The editing panels: identity, expression and detail (Qt widgets).

Each panel is given the model's ``FaceSpace`` and shows a ``FaceState``; it reports edits through signals
and never changes the state itself (the window does, then calls ``set_state``, which moves the widgets with
their signals blocked so the round trip does not loop).
"""

from __future__ import annotations

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

__all__ = ["DetailPanel", "ExpressionPanel", "IdentityPanel", "SliderGroup", "make_panels"]


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


class IdentityPanel(QWidget):
    """Identity sliders (+-3 sigma along the main identity directions), training identities, Random, Reset."""

    coeffChanged = Signal(int, float)
    pressed = Signal()
    released = Signal()
    identityPicked = Signal(int)
    randomClicked = Signal()
    resetClicked = Signal()

    def __init__(self, space: FaceSpace, identities: Sequence[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.identities = list(identities)
        layout = QVBoxLayout(self)

        pick = QHBoxLayout()
        pick.addWidget(QLabel("Training identity:"))
        self.picker = QComboBox(self)
        self.picker.addItem("\N{EM DASH}")
        self.picker.addItems(self.identities)
        self.picker.setToolTip("Show one of the people the model was trained on")
        self.picker.activated.connect(self._on_picked)
        pick.addWidget(self.picker, 1)
        layout.addLayout(pick)

        self.label = QLabel(self)
        self.label.setWordWrap(True)
        layout.addWidget(self.label)

        n = space.n_identity
        tips = [f"Identity direction {i + 1} (sigma = {space.identity.sigma[i]:.3g})" for i in range(n)]
        self.sliders = SliderGroup([f"PC {i + 1}" for i in range(n)], -SIGMA_RANGE, SIGMA_RANGE, tooltips=tips)
        self.sliders.valueChanged.connect(self.coeffChanged)
        self.sliders.pressed.connect(self.pressed)
        self.sliders.released.connect(self.released)
        if n == 0:
            layout.addWidget(QLabel("This model has a single identity: nothing to vary."))
        layout.addWidget(_scrolled(self.sliders), 1)

        buttons = QHBoxLayout()
        self.random_button = QPushButton("Random face", self)
        self.random_button.setToolTip("Draw a random identity from the model's distribution")
        self.random_button.clicked.connect(self.randomClicked)
        self.reset_button = QPushButton("Reset", self)
        self.reset_button.setToolTip("Back to the mean identity")
        self.reset_button.clicked.connect(self.resetClicked)
        buttons.addWidget(self.random_button)
        buttons.addWidget(self.reset_button)
        layout.addLayout(buttons)

    def _on_picked(self, index: int) -> None:
        if index > 0:
            self.identityPicked.emit(index - 1)

    def set_state(self, state: FaceState) -> None:
        self.sliders.set_values(state.id_coeffs)
        with signals_blocked(self.picker):
            self.picker.setCurrentIndex(self.identities.index(state.label) + 1 if state.label in self.identities else 0)
        self.label.setText(f"Current: {state.label}")


class ExpressionPanel(QWidget):
    """Expression sliders along the main directions, named expressions that mix, and Neutral."""

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

        named = QGroupBox("Named expressions (they mix)")
        named_layout = QVBoxLayout(named)
        self.names = list(space.expression_names)
        self.mix = SliderGroup([_pretty(n) for n in self.names], *MIX_RANGE,
                               tooltips=[f"Add the training expression `{n}` (1 = all of it)" for n in self.names])
        self.mix.valueChanged.connect(self.mixChanged)
        self.mix.pressed.connect(self.pressed)
        self.mix.released.connect(self.released)
        named_layout.addWidget(self.mix)
        if not self.names:
            named_layout.addWidget(QLabel("This model knows no named expressions."))
        inner_layout.addWidget(named)

        pcs = QGroupBox("Main expression directions (\N{PLUS-MINUS SIGN}3\N{GREEK SMALL LETTER SIGMA})")
        pcs_layout = QVBoxLayout(pcs)
        n = space.n_expression
        self.sliders = SliderGroup([f"PC {i + 1}" for i in range(n)], -SIGMA_RANGE, SIGMA_RANGE)
        self.sliders.valueChanged.connect(self.coeffChanged)
        self.sliders.pressed.connect(self.pressed)
        self.sliders.released.connect(self.released)
        pcs_layout.addWidget(self.sliders)
        inner_layout.addWidget(pcs)
        inner_layout.addStretch(1)
        layout.addWidget(_scrolled(inner), 1)

        self.neutral_button = QPushButton("Neutral", self)
        self.neutral_button.setToolTip("Back to the neutral expression")
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
