"""Help > Guide: the short illustrated manual (``docs/guide.md``) in a dialog (Qt).

The dialog shows the same Markdown file the repository keeps in ``docs/``, with its pictures (relative paths,
from the same folder) scaled to the dialog's width.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

__all__ = ["GUIDE_PATH", "GuideDialog", "show_guide"]

GUIDE_PATH = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
IMAGE_WIDTH = 560
"""Pictures wider than this (pixels) are shown scaled down to it."""


class GuideBrowser(QTextBrowser):
    """A text browser whose pictures are no wider than ``IMAGE_WIDTH``; links open outside the app."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setOpenExternalLinks(True)

    def loadResource(self, kind: int, url: QUrl):  # noqa: N802 (Qt naming)
        resource = super().loadResource(kind, url)
        if kind == int(QTextDocument.ResourceType.ImageResource.value) and resource is not None:
            image = QImage.fromData(resource) if isinstance(resource, (QByteArray, bytes)) else resource
            if isinstance(image, QImage) and not image.isNull() and image.width() > IMAGE_WIDTH:
                return image.scaledToWidth(IMAGE_WIDTH)
            return image
        return resource


class GuideDialog(QDialog):
    """The guide at ``path`` (default ``docs/guide.md``); a missing file is said in the dialog itself."""

    def __init__(self, parent: QWidget | None = None, path: Path = GUIDE_PATH):
        super().__init__(parent)
        self.setWindowTitle("ImFace Studio guide")
        self.resize(IMAGE_WIDTH + 80, 640)
        self.browser = GuideBrowser(self)
        self.browser.setSearchPaths([str(path.parent)])
        try:
            self.browser.setMarkdown(path.read_text(encoding="utf-8"))
        except OSError as exc:
            self.browser.setPlainText(f"The guide could not be read from {path} ({exc.strerror or exc}).")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)


def show_guide(parent: QWidget) -> GuideDialog:
    """Open the guide beside the window (not modal: the editor stays usable); the same dialog is raised again."""
    dialog = getattr(parent, "_guide_dialog", None)
    if dialog is None:
        dialog = GuideDialog(parent)
        parent._guide_dialog = dialog
    dialog.show()
    dialog.raise_()
    return dialog
