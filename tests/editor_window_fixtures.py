"""What the editor's window tests share: the model and scan they open, message boxes recorded instead of shown,
a window opened the same way (and the ``window`` fixture: opened, its first face shown), and waiting for its full-detail face.

Import the fixtures into a test module (``from editor_window_fixtures import messages, model_path``); every
test already has its own settings folder (``conftest._own_config``). Set $IMFACE_TEST_MODEL (a checkpoint) and
$IMFACE_TEST_SCANS (a folder of synthesized scans) to reuse a trained tiny model instead of the session fixtures.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox
from scipy.spatial import cKDTree

QUALITY = 64
"""Mesh resolution of the windows under test (quick with the tiny model)."""
MESH_TIMEOUT_MS = 90_000
Button = QMessageBox.StandardButton


@pytest.fixture(scope="module")
def model_path(request) -> Path:
    env = os.environ.get("IMFACE_TEST_MODEL")
    return Path(env) if env else request.getfixturevalue("tiny_model_path")


@pytest.fixture(scope="module")
def scan_path(request) -> Path:
    """A neutral scan of a person the model knows."""
    env = os.environ.get("IMFACE_TEST_SCANS")
    root = Path(env) if env else request.getfixturevalue("tiny_raw_dir")
    return sorted(root.glob("*/*neutral.ply"))[0]


class Messages(list):
    """Message boxes as (kind, title, text); ``answers`` are what the next questions are answered (then Discard)."""

    def __init__(self):
        super().__init__()
        self.answers: list[QMessageBox.StandardButton] = []


@pytest.fixture
def messages(monkeypatch) -> Messages:
    """Message boxes recorded instead of shown (they would block); questions (the unsaved-changes prompt) get
    ``messages.answers`` in turn, then Discard."""
    seen = Messages()

    def recorder(kind):
        def show(parent, title, text, *args, **kwargs):
            seen.append((kind, title, text))
            if kind == "question":
                return seen.answers.pop(0) if seen.answers else Button.Discard
            return Button.Ok

        return show

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, recorder(kind))
    return seen


def open_window(qtbot, model_path, **kwargs):
    """A shown window on ``model_path`` at ``QUALITY`` with quick fits (not yet waited for its face)."""
    from app.engine import FitOptions
    from app.main_window import MainWindow

    kwargs.setdefault("fit_options", FitOptions(steps=6, sample_points=3000, mesh_resolution=48))
    win = MainWindow(model_path, quality=QUALITY, **kwargs)
    qtbot.addWidget(win)
    win.resize(720, 480)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(qtbot, model_path, messages):
    """A window on the test model with its first full-detail face on screen."""
    win = open_window(qtbot, model_path)
    qtbot.waitUntil(win.is_ready, timeout=MESH_TIMEOUT_MS)
    assert win.editor is not None and win.full_mesh is not None, messages
    return win


def wait_face(qtbot, win) -> None:
    """Until the full-detail mesh of the current state is on screen."""
    qtbot.waitUntil(lambda: win.is_ready() and win.full_mesh.job.state == win.state, timeout=MESH_TIMEOUT_MS)


def vertices(win) -> np.ndarray:
    return np.asarray(win.full_mesh.mesh.vertices).copy()


def mesh_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance from a vertex of one set to the nearest of the other (0 for the same mesh)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0 if len(a) == len(b) else np.inf
    return float(max(cKDTree(b).query(a)[0].max(), cKDTree(a).query(b)[0].max()))
