"""The timeline's exports (Qt): the animation as one glTF file (morph targets and an animation of their weights)
or as a numbered OBJ sequence, written from the baked keyframe faces on a background task with a progress
dialog and Cancel (``imface_core.engine.morph_animation``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from app.background_export import BackgroundExport

__all__ = ["AnimationExport"]

GLTF_FILTER = "glTF binary (*.glb)"


class AnimationExport(BackgroundExport):
    """One animation export at a time for ``window``; ``finished`` gives the path written (the .glb, or the
    folder of the OBJ sequence), or "" (failed, cancelled, nothing to export)."""

    TASK_NAME = "animation-export"
    DONE = "Exported the animation to {path}"
    CANCELLED = "Animation export cancelled"
    FAIL_TITLE = "Could not export the animation"
    FAIL_BODY = "It could not be written to"

    def ask(self, kind: str) -> None:
        """The file (``kind`` "gltf") or folder ("obj") dialog, then the export (first a message when there is
        nothing to export yet)."""
        w = self.window
        if self.task is not None or self._keys() is None:
            return
        stem = w.document.export_name("")
        if kind == "gltf":
            path, _ = QFileDialog.getSaveFileName(w, "Export animation", str(Path.cwd() / f"{stem}_animation.glb"),
                                                  GLTF_FILTER)
            if path:
                self.start_gltf(Path(path if path.lower().endswith(".glb") else path + ".glb"))
        else:
            folder = QFileDialog.getExistingDirectory(w, "Export the mesh sequence into a folder", str(Path.cwd()))
            if folder:
                self.start_obj(Path(folder), stem)

    def _keys(self):
        keys = self.window.timeline.keyframe_faces()
        if keys is None or (len(keys.times) < 2):
            self.window.show_error("Could not export the animation", "The animation needs at least two keyframes, "
                                   "all baked (the timeline says when they are ready).")
            self.finished.emit("")
            return None
        return keys

    def start_gltf(self, path: Path) -> None:
        """Write the animation as a glTF binary to ``path``."""
        keys = self._keys()
        if keys is None or self.task is not None:
            return
        w = self.window
        extras = {"source": {"model": w.editor.name, "face": w.state.label, "fps": w.timeline.timeline.fps}}

        def work(cancel) -> Path:
            from imface_core.engine.morph_animation import animation_glb_bytes
            from imface_core.io_utils import atomic_write_bytes

            atomic_write_bytes(path, animation_glb_bytes(keys, name="face", extras=extras))
            return path

        self._start(work, path, f"Writing the animation {path.name}", 1)

    def start_obj(self, folder: Path, stem: str) -> None:
        """Write frames 0 .. last frame as ``stem_0000.obj``, ... into ``folder``."""
        keys = self._keys()
        if keys is None or self.task is not None:
            return
        timeline, post = self.window.timeline.timeline, self._post
        frames = timeline.end + 1

        def work(cancel) -> Path:
            from imface_core.engine.morph_animation import write_obj_sequence

            write_obj_sequence(keys, folder, stem, timeline.fps, frames,
                               header="ImFace Studio animation: keyframe faces blended linearly between keyframes",
                               progress=lambda k, n: post(lambda: self._on_progress(k, n)), cancel=cancel)
            return folder

        self._start(work, folder, f"Writing {frames} frames into {folder.name}", frames)

    def _on_progress(self, k: int, n: int) -> None:
        if self.dialog is not None:
            self.dialog.setValue(k)
