"""The window-modal progress dialog with Cancel that a background task shows (rig, animation, symmetrise)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressDialog, QWidget


def open_progress(parent: QWidget, text: str, steps: int, cancel: Callable[[], None],
                  show_after_ms: int = 300) -> QProgressDialog:
    """A dialog saying ``text``... with a bar of ``steps`` steps; Cancel calls ``cancel``."""
    dialog = QProgressDialog(f"{text}\N{HORIZONTAL ELLIPSIS}", "Cancel", 0, steps, parent)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(show_after_ms)
    dialog.canceled.connect(cancel)
    return dialog


def close_progress(dialog: QProgressDialog | None, cancel: Callable[[], None]) -> None:
    """Close ``dialog`` (None: nothing to do) without its closing counting as Cancel."""
    if dialog is not None:
        dialog.canceled.disconnect(cancel)
        dialog.close()
        dialog.deleteLater()
