"""The window's document as a file, as in any desktop editor (Qt): session name and modified marker in the title,
Save / Save as, Open session (with its fit), and the Save / Discard / Cancel prompt before unsaved changes are lost.

"Modified" means the face, the timeline or the fits differ from those last saved or opened (undoing back to them is
unmodified again); view settings (colours, quality) do not count. A saved session keeps the newest fit
(``app.session_fit``): re-opening it shows the scan overlay and the error map again without fitting.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

from app import dialogs
from app.session import SESSION_SUFFIX, Session, SessionError, load_session, save_session, session_state
from app.session_fit import FitNotRestored, file_sha256, restore_fit, saved_fit

if TYPE_CHECKING:
    from app.engine import FitOutcome
    from app.main_window import MainWindow

__all__ = ["SessionFiles", "UNTITLED", "WINDOW_TITLE"]

WINDOW_TITLE = "ImFace Studio"
UNTITLED = "Untitled"
Button = QMessageBox.StandardButton


class SessionFiles:
    """The session file of ``window``'s document: its path (None until saved or opened) and its saved contents."""

    def __init__(self, window: "MainWindow"):
        self.window = window
        self.document = window.document
        self.path: Path | None = None
        self._saved = self._contents()
        self._scan_checksums: list[tuple[FitOutcome, str | None]] = []
        """Each fit with the SHA-256 of its scan file when it was added (None: the file could not be read)."""
        self.document.on("model", self.model_loaded)
        self.document.on("state", lambda **_: self.refresh())
        self.document.on("timeline", self.refresh)
        self.document.on("fit", self._fit_added)

    # -- name, modified, title ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The session's file name without ``.imface.json``, or "Untitled"."""
        if self.path is None:
            return UNTITLED
        name = self.path.name
        return name[: -len(SESSION_SUFFIX)] if name.endswith(SESSION_SUFFIX) else name

    def _contents(self) -> tuple:
        return self.document.state, tuple(self.document.fits), self.document.timeline

    @property
    def modified(self) -> bool:
        """Whether the face or the fits changed since the session was last saved or opened (or the model loaded)."""
        if self.document.editor is None:
            return False
        state, fits, timeline = self._contents()
        saved_state, saved_fits, saved_timeline = self._saved
        return (state != saved_state or timeline != saved_timeline or len(fits) != len(saved_fits)
                or any(a is not b for a, b in zip(fits, saved_fits)))

    def refresh(self) -> None:
        """The title ("face[*] — ImFace Studio — model.pt") and the modified marker, after any change."""
        w = self.window
        editor = self.document.editor
        title = WINDOW_TITLE
        if editor is not None:
            title = f"{self.name}[*] \N{EM DASH} {WINDOW_TITLE} \N{EM DASH} {editor.name}"
        if w.windowTitle() != title:
            w.setWindowTitle(title)
        w.setWindowModified(self.modified)

    def model_loaded(self) -> None:
        """A new model: a new, untitled and unmodified document."""
        self.path, self._saved, self._scan_checksums = None, self._contents(), []
        self.refresh()

    def _fit_added(self, outcome: "FitOutcome") -> None:
        try:
            checksum = file_sha256(outcome.path)
        except OSError:
            checksum = None
        self._scan_checksums.append((outcome, checksum))
        self.refresh()

    def _scan_checksum(self, outcome: "FitOutcome") -> str | None:
        return next((checksum for fit, checksum in self._scan_checksums if fit is outcome), None)

    def _mark_saved(self, path: Path) -> None:
        self.path, self._saved = path, self._contents()
        self.refresh()

    # -- the prompt --------------------------------------------------------------------------------
    def confirm(self, doing: str) -> bool:
        """Whether the window may go on ``doing`` ("closing", "opening face.imface.json"): nothing is unsaved,
        or the user saved the changes now or chose to discard them (False: Cancel, or the save failed)."""
        w = self.window
        if not self.modified or not w.interactive:
            return True
        answer = QMessageBox.question(
            w, "Unsaved changes", f"The face in \u201c{self.name}\u201d has changes that are not saved.\n\n"
            f"Save them before {doing}?", Button.Save | Button.Discard | Button.Cancel, Button.Save)
        if answer == Button.Cancel:
            return False
        if answer == Button.Save:
            return self.save_current()
        return True

    # -- save --------------------------------------------------------------------------------------
    def save_current(self) -> bool:
        """File > Save session: to the session's file, or to one the user picks; True when saved."""
        if self.path is not None:
            return self.save(self.path)
        dialogs.ask_save_session(self.window)  # calls save() with the file chosen
        return self.path is not None and not self.modified

    def save(self, path: Path | str) -> bool:
        """Write the face, the view and the newest fit to ``path``; messages for what went wrong."""
        w, doc, path = self.window, self.document, Path(path)
        if doc.state is None or doc.space is None:
            w.show_error("Save session", "There is no face to save yet.")
            return False
        doc.flush()
        session: Session = doc.session()
        note = None
        if doc.fits:
            try:
                session.fit = saved_fit(doc.fits[-1], self._scan_checksum(doc.fits[-1]))
            except FitNotRestored as exc:
                note = f"{exc}\n\nThe session is saved without the fit."
        try:
            save_session(path, session)
        except OSError as exc:
            w.show_error("Could not save the session",
                         f"The session could not be written to\n{path}\n\n{exc.strerror or exc}")
            return False
        self._mark_saved(path)
        w.recent.add("session", path)
        w.set_activity(f"Saved the session to {path}")
        if note:
            self._tell("Session saved without the fit", note)
        return True

    # -- open --------------------------------------------------------------------------------------
    def open(self, path: Path | str) -> bool:
        """Open a session file (after the unsaved-changes prompt): its fit (when its scan is still there and
        the same), then its face and view. False, with a message, when the file cannot be used."""
        w, doc, path = self.window, self.document, Path(path)
        if doc.space is None:
            w.show_error("Open session", "Open a face model first.")
            return False
        try:
            session = load_session(path)
            session_state(session, doc.space, doc.editor.model.check_codes, path)  # checked before any change
        except SessionError as exc:
            w.show_error("Could not open the session", str(exc))
            return False
        if not self.confirm(f"opening {path.name}"):
            return False
        outcome, note = self._fit_of(session)
        try:
            if outcome is not None:
                doc.add_fit(outcome, show=False)  # its scan, error map, detail source; the session's face next
            doc.open_session(path)
        except SessionError as exc:  # (the file changed since it was read above)
            w.show_error("Could not open the session", str(exc))
            return False
        self._mark_saved(path)
        w.recent.add("session", path)
        w.set_activity(f"Opened the session {path.name}")
        if note:
            self._tell("Session opened without its scan", note)
        return True

    def _fit_of(self, session: Session) -> "tuple[FitOutcome | None, str | None]":
        """The session's fit made back into an outcome, or None and why not."""
        if session.fit is None:
            return None, None
        without = "The session opens without the scan overlay and the error map."
        try:
            outcome = restore_fit(session.fit)
            self.document.editor.model.check_codes(outcome.codes)
        except FitNotRestored as exc:
            return None, f"{exc}\n\n{without}"
        except ValueError as exc:  # (CodesError is one)
            return None, f"The session's fit does not suit this model ({exc}).\n\n{without}"
        return outcome, None

    def _tell(self, title: str, text: str) -> None:
        w = self.window
        if w.interactive:
            QMessageBox.warning(w, title, text)
        else:
            w.set_activity(f"{title}: {text.splitlines()[0]}")
