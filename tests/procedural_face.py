"""A tiny procedural face model with the arrays of the ICT npz, for tests that must not need ../shared.

The face is the front of a flattened ellipsoid (about 16 cm tall, 14 cm wide, 6.5 cm
deep) on a 41 x 41 grid, with a nose bump whose tip is the frontmost vertex, a brow
ridge and a chin.
Units follow ``ict_head_sockets.npz``: centimetres, y up, +z towards the viewer.
The vertex count is not 14,062, so the loader treats every vertex as skin.

Landmarks (iBUG 68 order) are the vertices nearest in (x, y) to plausible spots:
30 = nose tip, 36/45 outer eye corners (subject's right is -x), 48/54 mouth
corners, brows 17-26 above the eyes, the mouth below the nose.

Expression shapes are smooth local displacements (a few millimetres); most of
the 53 ARKit shapes are zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# The 53 ARKit names of the ICT model, in its (alphabetical) order.
ARKIT_NAMES: tuple[str, ...] = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
    "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R",
    "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R",
    "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R",
    "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimple_L", "mouthDimple_R",
    "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft", "mouthLowerDown_L", "mouthLowerDown_R",
    "mouthPress_L", "mouthPress_R", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmile_L", "mouthSmile_R", "mouthStretch_L", "mouthStretch_R",
    "mouthUpperUp_L", "mouthUpperUp_R", "noseSneer_L", "noseSneer_R",
)
assert len(ARKIT_NAMES) == 53 and list(ARKIT_NAMES) == sorted(ARKIT_NAMES, key=str.lower)

HALF_WIDTH_CM = 7.0
HALF_HEIGHT_CM = 8.0
DEPTH_CM = 6.5
NOSE_HEIGHT_CM = 1.5
NOSE_CENTRE_CM = (0.0, -0.6)
BROW_HEIGHT_CM = 0.8
CHIN_HEIGHT_CM = 0.5
GRID = 41
N_ID = 8


def _surface_z(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height of the face (cm): a flattened ellipsoid front plus a nose bump."""
    r = np.sqrt((x / HALF_WIDTH_CM) ** 2 + (y / HALF_HEIGHT_CM) ** 2)
    base = DEPTH_CM * np.clip(1.0 - r**6, 0.0, None) ** (1.0 / 6.0)  # flat front, steep sides
    nx, ny = NOSE_CENTRE_CM
    nose = NOSE_HEIGHT_CM * np.exp(-(((x - nx) / 0.9) ** 2) - ((y - ny) / 1.6) ** 2)
    # A brow ridge and a chin: without them the face is nearly the same upside down, and an
    # alignment from an unknown orientation could not tell up from down.
    brow = BROW_HEIGHT_CM * np.exp(-(((y - 3.3) / 0.7) ** 2) - (x / 4.5) ** 4)
    chin = CHIN_HEIGHT_CM * np.exp(-(((y + 6.2) / 1.0) ** 2) - (x / 2.2) ** 2)
    return base + nose + brow + chin


def _grid() -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) cm and faces (F, 3) of the face: a square grid mapped onto the ellipse."""
    u, v = np.meshgrid(np.linspace(-1.0, 1.0, GRID), np.linspace(-1.0, 1.0, GRID), indexing="ij")
    # Square -> disc (elliptical grid mapping), shrunk so the rim stays in front of z = 0.
    s = 0.96
    dx = u * np.sqrt(1.0 - v**2 / 2.0) * s
    dy = v * np.sqrt(1.0 - u**2 / 2.0) * s
    x, y = dx * HALF_WIDTH_CM, dy * HALF_HEIGHT_CM
    verts = np.stack([x, y, _surface_z(x, y)], axis=-1).reshape(-1, 3)
    idx = np.arange(GRID * GRID).reshape(GRID, GRID)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    # i grows with x, j with y: (a, b, c) is counter-clockwise seen from +z.
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return verts.astype(np.float64), faces.astype(np.int32)


def _landmark_spots_mm() -> np.ndarray:
    """(68, 2) plausible (x, y) landmark positions in mm, iBUG order (subject's right = -x)."""
    spots = []
    # 0-16 jaw line: from the right temple round the chin to the left temple.
    for t in np.linspace(np.pi * 0.95, np.pi * 0.05, 17):
        spots.append((58.0 * np.cos(t), -15.0 - 52.0 * np.sin(t)))
    # 17-21 right brow (outer -> inner), 22-26 left brow (inner -> outer).
    for x in np.linspace(-52.0, -14.0, 5):
        spots.append((x, 38.0 + 4.0 * np.cos((x + 33.0) / 20.0)))
    for x in np.linspace(14.0, 52.0, 5):
        spots.append((x, 38.0 + 4.0 * np.cos((x - 33.0) / 20.0)))
    # 27-30 nose bridge down to the tip (30 is replaced by the frontmost vertex).
    for y in (22.0, 14.0, 6.0, -6.0):
        spots.append((0.0, y))
    # 31-35 nose bottom, right wing to left wing.
    for x in (-14.0, -7.0, 0.0, 7.0, 14.0):
        spots.append((x, -18.0 + (2.0 if x == 0 else 0.0)))
    # 36-41 right eye, 42-47 left eye (outer corner 36, inner 39; inner 42, outer 45).
    # Both run from their -x corner, over the top, back along the bottom (clockwise in the image).
    ring = [(-15.0, 0.0), (-6.0, 5.0), (6.0, 5.0), (15.0, 0.0), (6.0, -5.0), (-6.0, -5.0)]
    for cx in (-30.0, 30.0):
        spots.extend((cx + dx, 25.0 + dy) for dx, dy in ring)
    # 48-59 outer lip contour from the right corner, 60-67 inner contour.
    for t in np.linspace(np.pi, -np.pi, 13)[:-1]:
        spots.append((25.0 * np.cos(t), -42.0 + (7.0 if np.sin(t) > 0 else 9.0) * np.sin(t)))
    for t in np.linspace(np.pi, -np.pi, 9)[:-1]:
        spots.append((16.0 * np.cos(t), -42.0 + 3.0 * np.sin(t)))
    spots = np.asarray(spots, dtype=np.float64)
    assert spots.shape == (68, 2)
    return spots


def _bump(p: np.ndarray, centre_mm, sigma_mm) -> np.ndarray:
    """Smooth (V,) weight in [0, 1] around an (x, y) centre."""
    d2 = ((p[:, 0] * 10 - centre_mm[0]) / sigma_mm) ** 2 + ((p[:, 1] * 10 - centre_mm[1]) / sigma_mm) ** 2
    return np.exp(-d2)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _expression_basis(verts: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """(53, V, 3) cm offsets: smooth local displacements; shapes not listed stay zero."""
    p = verts
    basis = np.zeros((len(ARKIT_NAMES),) + p.shape, dtype=np.float64)
    mm = 0.1  # offsets below are written in mm

    def put(name: str, weight: np.ndarray, vec_mm) -> None:
        basis[ARKIT_NAMES.index(name)] += weight[:, None] * np.asarray(vec_mm, dtype=np.float64)[None] * mm

    y_mm = p[:, 1] * 10
    below_mouth = _smoothstep(-30.0, -50.0, y_mm)  # 0 above the mouth, 1 on the chin
    put("jawOpen", below_mouth, (0.0, -9.0, -2.0))
    put("jawLeft", below_mouth, (5.0, 0.0, 0.0))
    put("jawRight", below_mouth, (-5.0, 0.0, 0.0))
    put("jawForward", below_mouth, (0.0, 0.0, 4.0))
    for s, sign in (("L", 1.0), ("R", -1.0)):
        corner = lm[54 if s == "L" else 48] * 10
        brow = (sign * 30.0, 40.0)
        eye = (sign * 30.0, 25.0)
        put(f"mouthSmile_{s}", _bump(p, corner[:2], 12.0), (sign * 3.0, 4.0, 1.0))
        put(f"mouthFrown_{s}", _bump(p, corner[:2], 12.0), (0.0, -3.0, 0.0))
        put(f"mouthStretch_{s}", _bump(p, corner[:2], 12.0), (sign * 4.0, -1.0, 0.0))
        put(f"mouthDimple_{s}", _bump(p, corner[:2], 8.0), (sign * 1.0, 0.0, -1.5))
        put(f"mouthPress_{s}", _bump(p, (sign * 10.0, -44.0), 10.0), (0.0, 1.0, -1.0))
        put(f"mouthLowerDown_{s}", _bump(p, (sign * 10.0, -47.0), 10.0), (0.0, -3.0, 0.0))
        put(f"mouthUpperUp_{s}", _bump(p, (sign * 10.0, -37.0), 10.0), (0.0, 2.5, 0.5))
        put(f"cheekPuff_{s}", _bump(p, (sign * 38.0, -25.0), 15.0), (sign * 2.0, 0.0, 4.0))
        put(f"cheekSquint_{s}", _bump(p, (sign * 35.0, 10.0), 12.0), (0.0, 2.5, 1.0))
        put(f"noseSneer_{s}", _bump(p, (sign * 10.0, -5.0), 8.0), (0.0, 2.0, 0.5))
        put(f"browInnerUp_{s}", _bump(p, (sign * 14.0, 45.0), 16.0), (0.0, 5.0, 0.0))
        put(f"browOuterUp_{s}", _bump(p, (sign * 45.0, 42.0), 16.0), (0.0, 4.5, 0.0))
        put(f"browDown_{s}", _bump(p, brow, 16.0), (-sign * 1.0, -4.0, 0.5))
        put(f"eyeBlink_{s}", _bump(p, (eye[0], eye[1] + 3.0), 6.0), (0.0, -4.0, 0.5))
        put(f"eyeSquint_{s}", _bump(p, (eye[0], eye[1] - 4.0), 7.0), (0.0, 1.5, 0.3))
        put(f"eyeWide_{s}", _bump(p, (eye[0], eye[1] + 4.0), 7.0), (0.0, 1.5, 0.0))
    put("mouthPucker", _bump(p, (0.0, -42.0), 14.0), (0.0, 0.0, 5.0))
    put("mouthFunnel", _bump(p, (0.0, -42.0), 12.0), (0.0, 0.0, 3.5))
    put("mouthLeft", _bump(p, (0.0, -42.0), 16.0), (5.0, 0.0, 0.0))
    put("mouthRight", _bump(p, (0.0, -42.0), 16.0), (-5.0, 0.0, 0.0))
    put("mouthClose", _bump(p, (0.0, -45.0), 10.0), (0.0, 2.0, 0.0))
    put("mouthRollLower", _bump(p, (0.0, -47.0), 9.0), (0.0, 0.0, -2.0))
    put("mouthRollUpper", _bump(p, (0.0, -37.0), 9.0), (0.0, 0.0, -2.0))
    put("mouthShrugLower", _bump(p, (0.0, -58.0), 12.0), (0.0, 3.0, 1.5))
    put("mouthShrugUpper", _bump(p, (0.0, -36.0), 10.0), (0.0, 1.5, 1.0))
    # Fade every shape out towards the rim so the outline stays put.
    r = np.sqrt((p[:, 0] / HALF_WIDTH_CM) ** 2 + (p[:, 1] / HALF_HEIGHT_CM) ** 2)
    return basis * (1.0 - _smoothstep(0.8, 0.95, r))[None, :, None]


def _identity_basis(verts: np.ndarray) -> np.ndarray:
    """(N_ID, V, 3) cm offsets: smooth global changes (width, height, depth, nose, jaw, ...)."""
    p = verts
    x, y = p[:, 0], p[:, 1]
    nx, ny = NOSE_CENTRE_CM
    nose = np.exp(-(((x - nx) / 0.9) ** 2) - ((y - ny) / 1.6) ** 2)
    zero = np.zeros_like(x)
    modes = [
        np.stack([0.05 * x, zero, zero], 1),  # width ~ +-3.5 mm at the sides
        np.stack([zero, 0.04 * y, zero], 1),  # height
        np.stack([zero, zero, 0.05 * p[:, 2]], 1),  # depth
        np.stack([zero, zero, 0.25 * nose], 1),  # nose length (2.5 mm)
        np.stack([0.03 * x * _smoothstep(-2.0, -6.0, y), zero, zero], 1),  # jaw width
        np.stack([zero, 0.15 * np.sin(x / 3.0), 0.1 * np.cos(y / 4.0)], 1),
        np.stack([0.1 * np.cos(y / 5.0), zero, 0.12 * np.sin(x / 4.0 + y / 5.0)], 1),
        np.stack([zero, 0.1 * np.cos(x / 4.0), 0.1 * np.sin(y / 3.0)], 1),
    ]
    assert len(modes) == N_ID
    r = np.sqrt((x / HALF_WIDTH_CM) ** 2 + (y / HALF_HEIGHT_CM) ** 2)
    fade = (1.0 - 0.7 * _smoothstep(0.85, 1.0, r))[None, :, None]
    return np.stack(modes) * fade


def build_face_model() -> dict[str, np.ndarray]:
    """The arrays of an ICT-style npz (centimetres), built deterministically."""
    verts, faces = _grid()
    spots = _landmark_spots_mm() / 10.0
    d2 = ((verts[None, :, :2] - spots[:, None, :]) ** 2).sum(axis=2)
    landmarks = d2.argmin(axis=1).astype(np.int64)
    landmarks[30] = int(np.argmax(verts[:, 2]))  # nose tip: the frontmost vertex
    return {
        "mean": verts.astype(np.float32),
        "faces": faces.astype(np.int32),
        "id_basis": _identity_basis(verts).astype(np.float32),
        "exp_basis": _expression_basis(verts, verts[landmarks]).astype(np.float32),
        "exp_names": np.array(ARKIT_NAMES),
        "landmarks68": landmarks,
    }


def write_face_model(path: str | Path) -> Path:
    """Write the procedural model as an npz (like ``ict_head_sockets.npz``) and return its path."""
    path = Path(path)
    np.savez(path, **build_face_model())
    return path


if __name__ == "__main__":  # a quick look: python tests/procedural_face.py
    m = build_face_model()
    v, lm = m["mean"], m["landmarks68"]
    print("vertices", v.shape, "faces", m["faces"].shape, "extent cm", v.min(0), v.max(0))
    print("nose", v[lm[30]], "eyes", v[lm[36]], v[lm[45]], "mouth", v[lm[48]], v[lm[54]])
