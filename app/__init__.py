"""ImFace Studio desktop editor: the Qt (PySide6) and pyvistaqt front end.

Everything that shows a window lives here; the model, data and training code
live in ``imface_core``, which never imports Qt.  This package never imports
torch itself (an import-linter contract in ``pyproject.toml`` checks that): it
talks to the model through ``imface_core`` and gets numpy arrays back.

Qt-free (unit-tested without a display):

* ``document`` - the edited face: model, ``FaceState``, undo history, fits, view modes, sessions; plain-callback
  events the window and the scheduler listen to;
* ``scheduler`` - which mesh job to run on a drag / rest / release / jump and which mesh that comes back to
  show (stale ones dropped, pending export); owns the mesh worker; ``jobs`` - ``MeshJob``, ``FitOptions``;
* ``face_state`` - ``FaceState`` (slider values) and ``FaceSpace`` (state <-> latent codes);
* ``history`` - undo/redo of states (the document's: the face and the timeline);
* ``timeline`` - keyframes of the expression (``Timeline``, ``Keyframe``); ``pose_bake`` - each keyframe's
  face baked into the template topology on a background task;
* ``worker`` - ``LatestOnlyWorker`` (one thread, only the newest request computed), ``BackgroundTask``, ``TaskGroup``;
* ``session`` - session files; ``session_fit`` - a fit kept in a session (scan checksum, codes, error map);
  ``recent`` - the Open Recent list; ``export_frame`` - the scan's or the model's frame of an export;
* ``polydata`` - meshes as the viewport draws them (no torch: the stored start face is drawn before it loads);
* ``engine`` - the bridge to ``imface_core`` (model loading, meshes for the viewport, export, fitting);
  it imports torch, so the window imports it only off the GUI thread.

Qt: ``viewport`` (the 3D view), ``panels`` (identity / expression / detail), ``main_window`` (builds and connects
the widgets), ``menus``, ``dialogs``, ``scan_fit`` (Load scan), ``fit_view`` (the fit's overlay and notices),
``mesh_export``, ``rig_export`` (Export rig), ``timeline_panel`` and ``timeline_player`` (the timeline dock:
keyframe edits, playback in the viewport), ``animation_export`` (the animation as glTF or an OBJ sequence), ``background_export`` (what the rig and animation
exports share: a background task behind a Cancel dialog), ``progress_dialog`` (that dialog, also Symmetrise's), ``session_files`` (title, Save / Open, the unsaved-changes prompt),
``start_view`` (the stored start face at launch), ``guide`` (Help > Guide), ``relay`` (results to the GUI
thread), ``screenshot`` (``main.py --screenshot``), ``exception_hook`` (an exception no handler caught is logged
and shown in a dialog, never lost in the event loop).
"""
