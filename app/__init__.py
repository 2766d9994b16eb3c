"""ImFace Studio desktop editor: the Qt (PySide6) and pyvistaqt front end.

Everything that shows a window lives here; the model, data and training code
live in ``imface_core``, which never imports Qt.  This package never imports
torch itself (an import-linter contract in ``pyproject.toml`` checks that): it
talks to the model through ``imface_core`` and gets numpy arrays back.
"""
