"""Correspondence colours: every point coloured by its template coordinate (method.md section 1).

RGB = clip(x_t / 2 + 0.5, 0, 1): the same template point has the same colour on every identity and
expression.
"""

from __future__ import annotations

import numpy as np

from imface_core.engine.chunks import DEFAULT_CHUNK, CancelToken, evaluate_in_chunks

__all__ = ["correspondence_colors", "vertex_correspondence_colors"]


def correspondence_colors(template_coords: np.ndarray) -> np.ndarray:
    """(V, 3) template coordinates -> (V, 3) uint8 RGB = round(255 * clip(x_t / 2 + 0.5, 0, 1))."""
    xt = np.asarray(template_coords, dtype=np.float64)
    if xt.ndim != 2 or xt.shape[1] != 3:
        raise ValueError(f"template coordinates must have shape (V, 3), got {xt.shape}")
    return np.round(np.clip(xt / 2.0 + 0.5, 0.0, 1.0) * 255.0).astype(np.uint8)


def vertex_correspondence_colors(face, vertices: np.ndarray, chunk: int = DEFAULT_CHUNK * 4,
                                 cancel: CancelToken | None = None) -> np.ndarray:
    """(V, 3) uint8 colours of mesh vertices of ``face`` (a ``FaceField``): one warp evaluation per vertex."""
    xt = evaluate_in_chunks(face.template_coords, np.asarray(vertices, dtype=np.float32), chunk, cancel)
    return correspondence_colors(xt.reshape(-1, 3))
