"""The two files a keyframe animation of template-topology faces is written to: a glTF animation of morph
weights, and a numbered OBJ sequence.

Every keyframe is a face in the model's template topology (``template_topology.py``: the same vertices for
every face), and a face between two keyframes is the linear blend of their vertex positions and normals
(``imface_core.keyframes``). The editor plays this back, the OBJ sequence writes it frame by frame, and the
glTF file says the same to any viewer: the first keyframe is the base mesh, every other keyframe a morph
target, and the weights move linearly from one keyframe's target to the next (``keyframe_weights``), which is
that blend exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from imface_core.engine.chunks import CancelToken
from imface_core.engine.export import MM_PER_UNIT
from imface_core.engine.rig import MorphAnimation, Rig, rig_glb_bytes
from imface_core.errors import Cancelled
from imface_core.keyframes import KeyframeFaces, keyframe_weights

__all__ = ["animation_glb_bytes", "write_obj_sequence"]


def animation_glb_bytes(keys: KeyframeFaces, name: str = "face", extras: dict | None = None) -> bytes:
    """The animation as one glTF 2.0 binary: the first keyframe's face, one morph target per later keyframe and
    an animation of the morph weights (LINEAR, ``keyframe_weights`` at the keyframe times). Raises
    ``ValueError`` for fewer than two keyframes (nothing moves)."""
    if len(keys.times) < 2:
        raise ValueError("an animation needs at least two keyframes")
    p0, n0 = keys.positions[0], keys.normals[0]
    targets = {keys.names[k]: (keys.positions[k] - p0, keys.normals[k] - n0) for k in range(1, len(keys.times))}
    info = {"animation": "keyframe faces blended linearly: base = the first keyframe, one morph target per later "
                         "keyframe", "keyframes": len(keys.times)}
    rig = Rig(np.asarray(p0, dtype=np.float32), keys.faces, np.asarray(n0, dtype=np.float32), targets, info=info)
    animation = MorphAnimation(np.asarray(keys.times, dtype=np.float32), keyframe_weights(len(keys.times)))
    return rig_glb_bytes(rig, name=name, extras=extras, animation=animation)


def write_obj_sequence(keys: KeyframeFaces, folder: str | Path, stem: str, fps: float, frames: int,
                       header: str = "", progress: Callable[[int, int], None] | None = None,
                       cancel: CancelToken | None = None) -> list[Path]:
    """Frames 0 .. ``frames`` - 1 (``fps`` per second) as ``stem_0000.obj``, ... in ``folder``: the blended
    face of each frame in millimetres (the model's frame), with vertex normals; ``header`` (lines) goes on top
    of every file. Each file is written whole or not at all; ``progress(k, frames)`` before each. Raises
    ``Cancelled`` (the files written so far stay) and ``OSError``."""
    from imface_core.io_utils import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    f = np.asarray(keys.faces, dtype=np.int64) + 1
    faces_text = "\n".join(f"f {a}//{a} {b}//{b} {c}//{c}" for a, b, c in f.tolist())
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    written = []
    for k in range(int(frames)):
        if cancel is not None and cancel.is_set():
            raise Cancelled("the mesh sequence export was cancelled")
        if progress is not None:
            progress(k, int(frames))
        v, n = keys.at(k / float(fps))
        lines = [comment + f"# frame {k} of {frames}, {k / float(fps):.4f} s at {fps:g} fps; millimetres"]
        lines += [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in (v * MM_PER_UNIT).tolist()]
        lines += [f"vn {x:.5f} {y:.5f} {z:.5f}" for x, y, z in n.tolist()]
        path = folder / f"{stem}_{k:04d}.obj"
        atomic_write_text(path, "\n".join(lines) + "\n" + faces_text + "\n")
        written.append(path)
    return written
