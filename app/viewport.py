"""The 3D viewport: the face (smooth-shaded), its colour modes, landmarks, the scan and a before/after view.

One ``QtInteractor`` (pyvistaqt < 0.13: a native window VTK draws into; 0.13's ``QOpenGLWidget`` makes Qt
compose the whole window with OpenGL on every frame, 12-38 ms more per frame without a graphics driver,
see the README) embedded in a frame.  The face is one ``PolyData`` owned by the viewport:
a new mesh from the worker is swapped in with ``shallow_copy`` (the worker already computed the vertex
normals, so the GUI thread does no geometry work) and the actor is rebuilt only when the colour mode
changes.  Mouse: left-drag orbits, wheel zooms, shift/middle-drag pans (VTK's trackball camera).
"""

from __future__ import annotations

import logging

import numpy as np
import pyvista
from pyvistaqt import QtInteractor
from PySide6.QtWidgets import QFrame, QVBoxLayout, QWidget

from app.document import COLOUR_MODES, SCAN_MODES

__all__ = ["COLOUR_MODES", "ERROR_LEGEND", "SCAN_MODES", "SKIN_RGB", "Viewport", "error_limit"]

_log = logging.getLogger(__name__)

SKIN_RGB = (0.89, 0.70, 0.58)
"""Colour of the face surface, RGB in [0, 1]."""
SCAN_RGB = (0.62, 0.72, 0.86)
LANDMARK_RGB = (0.15, 0.85, 0.35)
BACKGROUND_BOTTOM = "#24262b"
BACKGROUND_TOP = "#4a4f59"
TEXT_RGB = "#c8ccd4"

ERROR_ARRAY = "fit error (mm)"
ERROR_LEGEND = ("Fit error, mm: distance of each scan point to the fitted face\n"
                "red (+): the face lies inside the scan there\n"
                "blue (-): the face lies outside the scan there\n"
                "grey: not covered by the fit")
"""What the error map's colours mean (beside its colour bar): the sign of ``FitOutcome.errors_mm`` is + where a
scan point lies in front of the fitted surface (``imface_core.fitting.error_map``)."""
_SHADING = dict(specular=0.25, specular_power=20.0, diffuse=0.9, ambient=0.12)


def error_limit(errors_mm: np.ndarray) -> float:
    """Symmetric colour limit of an error map: the 95th percentile of |error|, at least 0.5 mm."""
    finite = np.abs(errors_mm[np.isfinite(errors_mm)])
    if finite.size == 0:
        return 1.0
    return float(max(0.5, np.ceil(np.percentile(finite, 95) * 2.0) / 2.0))


class Viewport(QFrame):
    """The face viewport. ``plotter`` is the ``QtInteractor``."""

    def __init__(self, parent: QWidget | None = None, off_screen: bool = False):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # Cheap to draw without a GPU (software OpenGL spends ~100 ms of CPU on a large viewport with pyvista's
        # defaults, ~45 ms like this): no 5 Hz re-render timer (we render after every change), no MSAA or
        # FXAA, two lights instead of the five of the light kit.
        self.plotter = QtInteractor(parent=self, off_screen=off_screen, auto_update=False, multi_samples=0)
        layout.addWidget(self.plotter.interactor)
        if self.plotter.render_window.GetMultiSamples():
            self.plotter.render_window.SetMultiSamples(0)
        self.plotter.set_background(BACKGROUND_BOTTOM, top=BACKGROUND_TOP)
        self.plotter.remove_all_lights()
        self.plotter.add_light(pyvista.Light(light_type="headlight", intensity=0.55))
        key = pyvista.Light(position=(-1.0, 1.4, 2.0), focal_point=(0.0, 0.0, 0.0), light_type="camera light",
                            intensity=0.6)
        self.plotter.add_light(key)

        self._face: pyvista.PolyData | None = None
        self._face_actor = None
        self._face_layout: tuple | None = None
        self._placeholder = False
        self.colour_mode = "plain"
        self.scan_mode = "overlay"
        self._scan: pyvista.PolyData | None = None
        self._scan_limit = 1.0
        self._landmarks: np.ndarray | None = None
        self.show_landmarks = False
        self._before: pyvista.PolyData | None = None
        self.compare = False
        self.notice: str | None = None
        """The line shown while a fit is hidden (``show_notice``)."""
        self._closed = False
        self._off_screen = bool(off_screen)

    # -- messages and placeholder -----------------------------------------------------------------
    def show_message(self, text: str | None) -> None:
        """A line of text in the lower left corner (None removes it)."""
        self.plotter.remove_actor("message", render=False)
        if text:
            self.plotter.add_text(text, position="lower_left", font_size=9, color=TEXT_RGB, name="message")
        self.render()

    def show_notice(self, text: str | None) -> None:
        """A notice in the upper left corner (a hidden fit's reason; None removes it)."""
        self.notice = text or None
        self.plotter.remove_actor("notice", render=False)
        if self.notice:
            self.plotter.add_text(self.notice, position="upper_left", font_size=9, color="#f0c674", name="notice")
        self.render()

    def show_placeholder(self, text: str) -> None:
        """A smooth skin-coloured egg where the face will be, with ``text``."""
        surface = pyvista.Sphere(radius=1.0, theta_resolution=96, phi_resolution=96).scale(
            (0.75, 1.0, 0.85), inplace=False)
        self.plotter.add_mesh(surface, name="face", color=SKIN_RGB, smooth_shading=True, **_SHADING)
        self._face, self._face_actor, self._face_layout, self._placeholder = None, None, None, True
        self.plotter.view_xy()
        self.plotter.camera.zoom(1.1)
        self.show_message(text)

    # -- the face ---------------------------------------------------------------------------------
    @property
    def face(self) -> pyvista.PolyData | None:
        """The shown face mesh (owned by the viewport)."""
        return self._face

    def set_face(self, poly: pyvista.PolyData, landmarks: np.ndarray | None = None) -> None:
        """Show ``poly`` (made by ``engine.to_polydata``) as the face, keeping the camera. An empty mesh is a
        ``ValueError`` and leaves the shown face as it was (the window reports it instead of showing it)."""
        if poly.n_points == 0:
            raise ValueError("the viewport cannot show an empty face mesh")
        first = self._face is None
        if first:
            self._face = pyvista.PolyData()
        self._face.shallow_copy(poly)
        if landmarks is not None:
            self._landmarks = np.asarray(landmarks, dtype=np.float32)
        if self._face_layout != self._layout():
            self._rebuild()
        else:
            if landmarks is not None and self.show_landmarks:
                self._add_landmarks()
            self._place_actors()
        if first:
            self.show_message(None)
            self.reset_view()
        else:
            self.render()

    def move_face(self, points: np.ndarray, normals: np.ndarray) -> None:
        """New vertex positions and unit normals (V, 3) for the face on screen, of the same vertex count: written
        into its arrays in place, then one render (an animation frame: no new mesh, no new actor)."""
        if self._face is None or len(points) != self._face.n_points:
            raise ValueError("move_face needs the vertex count of the face on screen")
        self._face.points[:] = points
        self._face.point_data.active_normals[:] = normals
        self._face.GetPoints().Modified()
        self._face.GetPointData().GetNormals().Modified()
        self.render()

    def _layout(self) -> tuple:
        has_rgb = self._face is not None and "rgb" in self._face.point_data
        return (self.colour_mode, has_rgb, self._scan is not None, self.scan_mode,
                self.show_landmarks and self._landmarks is not None, self.compare and self._before is not None)

    def _face_kwargs(self) -> dict:
        kwargs = dict(_SHADING)
        if self.colour_mode == "correspondence" and "rgb" in self._face.point_data:
            kwargs.update(scalars="rgb", rgb=True)
        else:
            kwargs.update(color=SKIN_RGB)
        if self.colour_mode == "error" and self._scan is not None and self.scan_mode == "overlay":
            kwargs.update(opacity=0.35)
        return kwargs

    def _rebuild(self) -> None:
        """Re-create the actors for the current modes (colour mode, scan, landmarks, compare)."""
        p = self.plotter
        for name in ("face", "before", "scan", "landmarks", "compare_label", "error_legend"):
            p.remove_actor(name, render=False)
        if p.scalar_bars:
            for title in list(p.scalar_bars.keys()):
                p.remove_scalar_bar(title, render=False)
        self._face_actor = None
        if self._face is not None:
            self._placeholder = False
            self._face_actor = p.add_mesh(self._face, name="face", reset_camera=False, show_scalar_bar=False,
                                          **self._face_kwargs())
            self._face_actor.prop.interpolation = "gouraud"  # uses the worker's vertex normals
        if self._scan is not None and (self.scan_mode != "hidden" or self.colour_mode == "error"):
            self._add_scan()
        if self.compare and self._before is not None:
            actor = p.add_mesh(self._before, name="before", color=SKIN_RGB, reset_camera=False, **_SHADING)
            actor.prop.interpolation = "gouraud"
            p.add_text("before  |  after", position="upper_edge", font_size=10, color=TEXT_RGB, name="compare_label")
        if self.show_landmarks and self._landmarks is not None:
            self._add_landmarks()
        self._face_layout = self._layout()
        self._place_actors()

    def _add_landmarks(self) -> None:
        self.plotter.add_points(self._landmarks, name="landmarks", color=LANDMARK_RGB, point_size=12,
                                render_points_as_spheres=True, reset_camera=False, render=False)

    def _add_scan(self) -> None:
        p = self.plotter
        scan = self._scan
        as_points = scan.n_cells == 0
        if self.colour_mode == "error":
            actor = p.add_mesh(
                scan, name="scan", scalars=ERROR_ARRAY, cmap="RdBu_r", clim=(-self._scan_limit, self._scan_limit),
                nan_color=(0.55, 0.55, 0.55), reset_camera=False, point_size=4,
                render_points_as_spheres=as_points,
                scalar_bar_args=dict(title=ERROR_ARRAY, n_labels=5, fmt="%+.1f", color=TEXT_RGB, vertical=True,
                                     position_x=0.86, position_y=0.2, height=0.6, width=0.08),
                **_SHADING)
            p.add_text(ERROR_LEGEND, position="lower_right", font_size=8, color=TEXT_RGB, name="error_legend")
        else:
            actor = p.add_mesh(scan, name="scan", color=SCAN_RGB, reset_camera=False, point_size=3,
                               opacity=0.45 if self.scan_mode == "overlay" else 1.0,
                               render_points_as_spheres=as_points, show_scalar_bar=False, **_SHADING)
        if not as_points:
            actor.prop.interpolation = "gouraud"

    def _place_actors(self) -> None:
        """Positions: before | face | scan (beside) along x."""
        p = self.plotter
        width = 0.0
        if self._face is not None and self._face.n_points:
            b = self._face.bounds
            width = (b[1] - b[0]) * 1.15
        face_x = 0.0
        if self.compare and self._before is not None and "before" in p.actors:
            p.actors["before"].position = (-width / 2, 0.0, 0.0)
            face_x = width / 2
        if self._face_actor is not None:
            self._face_actor.position = (face_x, 0.0, 0.0)
        if "landmarks" in p.actors:
            p.actors["landmarks"].position = (face_x, 0.0, 0.0)
        if "scan" in p.actors:
            beside = self.scan_mode == "beside"
            p.actors["scan"].position = (face_x + (width if beside else 0.0), 0.0, 0.0)

    # -- modes ------------------------------------------------------------------------------------
    def set_colour_mode(self, mode: str) -> None:
        if mode not in COLOUR_MODES:
            raise ValueError(f"colour mode must be one of {tuple(COLOUR_MODES)}, got {mode!r}")
        self.colour_mode = mode
        self._refresh()

    def set_scan(self, vertices: np.ndarray | None, faces: np.ndarray | None = None,
                 errors_mm: np.ndarray | None = None) -> None:
        """The scan (normalised units, the model's frame) and its per-vertex fit error; None removes it."""
        if vertices is None:
            self._scan = None
        else:
            v = np.asarray(vertices, dtype=np.float32)
            if faces is not None and len(faces):
                scan = pyvista.PolyData.from_regular_faces(v, np.asarray(faces, dtype=np.int64))
                scan = scan.compute_normals(cell_normals=False, split_vertices=False, auto_orient_normals=False)
            else:
                scan = pyvista.PolyData(v)
            if errors_mm is not None:
                scan.point_data[ERROR_ARRAY] = np.asarray(errors_mm, dtype=np.float32)
                self._scan_limit = error_limit(np.asarray(errors_mm))
            self._scan = scan
        self._refresh()

    @property
    def has_scan(self) -> bool:
        return self._scan is not None

    def set_scan_mode(self, mode: str) -> None:
        if mode not in SCAN_MODES:
            raise ValueError(f"scan mode must be one of {tuple(SCAN_MODES)}, got {mode!r}")
        self.scan_mode = mode
        self._refresh(reset=True)

    def set_landmarks_visible(self, visible: bool) -> None:
        self.show_landmarks = bool(visible)
        self._refresh()

    def set_before(self, poly: pyvista.PolyData | None) -> None:
        """The face before a detail transfer (a copy is kept)."""
        self._before = None if poly is None else poly.copy(deep=True)
        self._refresh()

    def set_compare(self, on: bool) -> None:
        self.compare = bool(on)
        self._refresh(reset=True)

    def _refresh(self, reset: bool = False) -> None:
        if self._face is None and self._scan is None:
            return
        self._rebuild()
        if reset:
            self.reset_view()
        else:
            self.render()

    # -- camera, rendering ------------------------------------------------------------------------
    def reset_view(self) -> None:
        """Front view of everything shown."""
        self.plotter.view_xy(render=False)
        self.plotter.reset_camera(render=False)
        self.plotter.camera.zoom(1.15)
        self.render()

    def render(self) -> None:
        """Ask for a repaint. On screen this is a Qt update: several changes in one event-loop pass are
        drawn by one render in the widget's paint event."""
        if self._closed:
            return
        if self._off_screen:
            self.plotter.render()
        else:
            self.plotter.interactor.update()

    def rgb_image(self) -> np.ndarray:
        """(h, w, 3) uint8 render of the viewport (rendered now)."""
        if not self._closed:
            self.plotter.render()
        return self.plotter.screenshot(None, return_img=True)

    def close_viewport(self) -> None:
        """Release the render window before Qt tears the widget down (pyvistaqt #762)."""
        if not self._closed:
            self._closed = True
            self.plotter.close()
