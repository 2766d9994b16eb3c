"""The Regions tab: local edits of the eyes, nose, mouth, cheeks and jaw or forehead (Qt).

Pick a region, then take it from another face (a training person or a fitted scan), move its own identity
sliders or give it an expression of its own; nothing outside the region's band moves
(``imface_core.local_edit``). "Symmetric" gives the mirrored region (right eye <-> left eye, right cheek <->
left cheek) the same edit. Like the other panels it never changes the face itself: it reports new
``FaceState``s (``edited`` for slider moves, ``picked`` for discrete changes) and shows the state it is given.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, \
    QVBoxLayout, QWidget
from superqt.utils import signals_blocked

from app.face_state import MIX_RANGE, SIGMA_RANGE, FaceSpace, FaceState
from app.panels import SliderGroup, variation_tooltip
from app.region_state import REGION_SLIDERS, RegionState, with_region
from imface_core.local_edit import REGIONS

if TYPE_CHECKING:
    from app.main_window import MainWindow
    from imface_core.face_codes import FaceCodes

__all__ = ["RegionPanel", "add_region_panel"]

SYMMETRIC_TIP = ("Edit both sides at once: an edit of the right eye (or cheek) is made to the left one too, and "
                 "the other way round. The model has no mirror image of a code, so the other side takes the same "
                 "codes: a region taken from a person gets that person's other eye, and an expression given to "
                 "one eye is given to both (a wink becomes a blink). The nose, mouth and forehead have no partner.")


class RegionPanel(QWidget):
    """The Regions tab for one model (``space``); ``current()`` is the face being edited (the document's: a slider
    of another tab may have moved it since this panel was shown), ``sources()`` lists (name, codes) of the faces a
    region can be taken from."""

    edited = Signal(object)
    """A slider moved: the new ``FaceState``."""
    picked = Signal(object)
    """A source, a reset: the new ``FaceState``."""
    pressed = Signal()
    released = Signal()

    def __init__(self, space: FaceSpace, current: Callable[[], FaceState | None],
                 sources: Callable[[], Sequence[tuple[str, "FaceCodes"]]], parent: QWidget | None = None):
        super().__init__(parent)
        self.space, self._current, self._sources = space, current, sources
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.region_combo = QComboBox(self)
        for name, region in REGIONS.items():
            self.region_combo.addItem(region.label, name)
        self.region_combo.setToolTip("The part of the face to edit; the rest of the face stays as it is")
        form.addRow("Region", self.region_combo)
        self.source_combo = QComboBox(self)
        self.source_combo.setToolTip("Take the region's shape from another face: a training person or a fitted scan")
        form.addRow("Take from", self.source_combo)
        self.symmetric = QCheckBox("Symmetric", self)
        self.symmetric.setToolTip(SYMMETRIC_TIP)
        form.addRow("", self.symmetric)
        layout.addLayout(form)

        n = min(REGION_SLIDERS, space.n_identity)
        box = QGroupBox("Shape of the region", self)
        self.identity = SliderGroup([f"Variation {i + 1}" for i in range(n)], -SIGMA_RANGE, SIGMA_RANGE,
                                    tooltips=[variation_tooltip(i, "face") + " Here only inside the region."
                                              for i in range(n)], parent=box)
        QVBoxLayout(box).addWidget(self.identity)
        layout.addWidget(box)
        box = QGroupBox("Expression of the region", self)
        inner = QFormLayout(box)
        self.expression_combo = QComboBox(box)
        for name in space.expression_names:
            self.expression_combo.addItem(name.replace("_", " ").capitalize(), name)
        self.expression_combo.setToolTip("A named expression for this region alone, added to the face's own")
        inner.addRow("Expression", self.expression_combo)
        self.strength = SliderGroup(["Strength"], *MIX_RANGE, parent=box)
        inner.addRow(self.strength)
        layout.addWidget(box)
        row = QHBoxLayout()
        self.reset_button = QPushButton("Reset region", self)
        self.reset_button.setToolTip("This region back to the rest of the face")
        self.reset_all_button = QPushButton("Reset all regions", self)
        row.addWidget(self.reset_button)
        row.addWidget(self.reset_all_button)
        layout.addLayout(row)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        layout.addStretch(1)

        self.region_combo.currentIndexChanged.connect(lambda _i: self._show())
        self.expression_combo.currentIndexChanged.connect(lambda _i: self._show())
        self.source_combo.activated.connect(self._on_source)
        self.identity.valueChanged.connect(self._on_identity)
        self.strength.valueChanged.connect(lambda _i, v: self._on_strength(v))
        for group in (self.identity, self.strength):
            group.pressed.connect(self.pressed)
            group.released.connect(self.released)
        self.reset_button.clicked.connect(lambda: self._emit(RegionState(self.region), self.picked))
        self.reset_all_button.clicked.connect(lambda: self.picked.emit(replace(self.state, regions=())))

    # -- what is shown -----------------------------------------------------------------------------
    @property
    def region(self) -> str:
        return self.region_combo.currentData()

    @property
    def state(self) -> FaceState | None:
        return self._current()

    def edit(self) -> RegionState:
        """The current state's edit of the selected region (an empty one when it has none)."""
        return next((r for r in self.state.regions if r.region == self.region), RegionState(self.region))

    def set_state(self, state: FaceState) -> None:
        """Show ``state`` (the document's current face)."""
        self._show()

    def _show(self) -> None:
        if self.state is None:
            return
        edit = self.edit()
        names = ["Its own (this face)"] + [name for name, _ in self._sources()]
        with signals_blocked(self.source_combo):
            if [self.source_combo.itemText(i) for i in range(self.source_combo.count())] != names:
                self.source_combo.clear()
                self.source_combo.addItems(names)
            self.source_combo.setCurrentIndex(names.index(edit.source) if edit.source in names else 0)
        self.identity.set_values(edit.id_coeffs or (0.0,) * len(self.identity.sliders))
        k = self.expression_combo.currentIndex()
        self.strength.set_values([edit.exp_mix[k] if edit.exp_mix and k >= 0 else 0.0])
        self._show_summary()

    def _show_summary(self) -> None:
        """The line of edited regions and the reset buttons (also after this panel's own slider edits, which the
        window does not show again)."""
        labels = [REGIONS[r.region].label for r in self.state.regions]
        self.summary.setText(f"Edited: {', '.join(labels)}" if labels else "No region edited")
        self.reset_button.setEnabled(not self.edit().is_identity)
        self.reset_all_button.setEnabled(bool(labels))

    # -- edits -------------------------------------------------------------------------------------
    def _emit(self, edit: RegionState, signal) -> None:
        regions = with_region(self.state.regions, edit, self.symmetric.isChecked())
        signal.emit(replace(self.state, regions=regions))
        self._show_summary()

    def _on_source(self, index: int) -> None:
        if index <= 0:
            edit = replace(self.edit(), source="", z_id=(), z_det=())
        else:
            name, codes = self._sources()[index - 1]
            edit = replace(self.edit(), source=name, z_id=_floats(codes.z_id), z_det=_floats(codes.z_det))
        self._emit(edit, self.picked)

    def _on_identity(self, index: int, value: float) -> None:
        edit = self.edit()
        coeffs = list(edit.id_coeffs or (0.0,) * len(self.identity.sliders))
        coeffs[index] = value
        self._emit(replace(edit, id_coeffs=tuple(coeffs)), self.edited)

    def _on_strength(self, value: float) -> None:
        edit, k = self.edit(), self.expression_combo.currentIndex()
        mix = list(edit.exp_mix or (0.0,) * self.expression_combo.count())
        mix[k] = value
        self._emit(replace(edit, exp_mix=tuple(mix)), self.edited)


def _floats(z) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(z, dtype=np.float64).reshape(-1))


def add_region_panel(w: "MainWindow") -> RegionPanel:
    """The Regions tab of ``w``'s model, added to its tabs and connected like the other panels."""
    editor = w.editor
    training = [(name, editor.training_codes(i)) for i, name in enumerate(editor.identities)]

    def sources() -> list[tuple[str, "FaceCodes"]]:
        return training + [(f"fit: {fit.name}", fit.codes) for fit in w.document.fits]

    panel = RegionPanel(w.space, lambda: w.document.state, sources)
    w.tabs.addTab(panel, "Regions")
    panel.edited.connect(w._slider_edit)
    panel.picked.connect(w.set_state)
    panel.pressed.connect(w._on_slider_pressed)
    panel.released.connect(w._on_slider_released)
    return panel
