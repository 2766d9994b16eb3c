"""A face rig in one file: the neutral face in the template topology with one morph target per named expression,
written as glTF 2.0 binary (GLB).

* The base mesh is the face with the model's ``base`` expression preset (``"neutral"`` when the model has one),
  carried in the template topology (``template_topology.py``); each morph target is the same identity (z_id and
  z_det) with another named expression's preset z_exp (``LatentNavigator.expression_presets``: the mean z_exp of
  the training scans with that label), stored as the difference of positions and of vertex normals.
* Target names are in ``mesh.extras.targetNames`` (what Blender and three.js read).
* Units: glTF lengths are metres, so positions are written in metres (Blender imports the face at its real
  size, about 0.2 m, with scale 1) and ``asset.extras`` says so: ``length_unit: "metre"``,
  ``millimetres_per_unit: 1000``, and the frame (the model's normalised frame x 100 mm: the nose tip at
  (0, 0, 40) mm, +y up, +z towards the viewer, which is glTF's +Y up / +Z front).
* ``rig_glb_bytes(..., animation=MorphAnimation(times, weights))`` adds a glTF animation of the morph weights
  (one channel targeting the node's ``weights``, LINEAR; ``morph_animation.py`` makes keyframe animations).
* The GLB is written here with numpy and json (a JSON chunk and a BIN chunk, one buffer view per accessor,
  POSITION accessors with min/max): no glTF library in the dependencies exports morph targets (trimesh's
  exporter writes none).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import trimesh

from imface_core.engine.chunks import CancelToken
from imface_core.engine.export import MM_PER_UNIT

__all__ = ["MorphAnimation", "Rig", "build_rig", "rig_glb_bytes", "rig_file_bytes", "read_glb", "base_expression", "METRES_PER_UNIT"]

METRES_PER_UNIT = MM_PER_UNIT / 1000.0
"""Model units (1 = 100 mm) to glTF metres."""

_FLOAT, _UBYTE, _UINT = 5126, 5121, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


@dataclass
class Rig:
    """The neutral face and its expression targets (normalised units; ``rig_glb_bytes`` converts)."""

    vertices: np.ndarray
    """(V, 3) float32 neutral positions."""
    faces: np.ndarray
    """(F, 3) int64 triangles (template topology)."""
    normals: np.ndarray
    """(V, 3) float32 unit vertex normals of the neutral face."""
    targets: dict[str, tuple[np.ndarray, np.ndarray]]
    """Expression name -> (position deltas (V, 3), normal deltas (V, 3)), in the order of the model's presets."""
    colors: np.ndarray | None = None
    """(V, 3) uint8 correspondence colours, or None."""
    info: dict = field(default_factory=dict)
    """What made it (model, base expression, topology fingerprint, per-face diagnostics)."""


@dataclass
class MorphAnimation:
    """A glTF animation of a mesh's morph weights: at ``times[k]`` seconds the weights are ``weights[k]``, linear
    in between (and held before the first and after the last time, as glTF does)."""

    times: np.ndarray
    """(T,) seconds, increasing."""
    weights: np.ndarray
    """(T, number of morph targets)."""
    name: str = "animation"


def base_expression(model) -> str:
    """The expression the rig's base face wears: ``neutral`` when the model has one, else its first."""
    names = model.expressions
    return "neutral" if "neutral" in names else names[0]


def _unit_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    n = np.asarray(trimesh.Trimesh(vertices, faces, process=False).vertex_normals, dtype=np.float64)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(length > 1e-12, n / np.maximum(length, 1e-12), np.array([0.0, 0.0, 1.0]))
    return n.astype(np.float32)


def build_rig(model, codes, expressions: list[str] | None = None, resolution: int | None = None,
              colors: bool = False, progress: Callable[[str, int, int], None] | None = None,
              cancel: CancelToken | None = None) -> Rig:
    """The rig of the identity of ``codes`` (its z_id and z_det; its z_exp is replaced by the presets).

    Args:
        expressions: the targets (default: every named expression of the model but the base one).
        resolution: of the template mesh (``template_topology.TEMPLATE_RESOLUTION`` by default).
        colors: add correspondence colours (template coordinates as RGB).
        progress: called with (expression name, index, count) before each face is carried.
    Raises ``KeyError`` for an expression the model does not know.
    """
    from imface_core.engine.navigation import LatentNavigator

    codes = model.check_codes(codes)
    presets = LatentNavigator(model).expression_presets()
    base = base_expression(model)
    names = [n for n in presets if n != base] if expressions is None else list(expressions)
    unknown = [n for n in names if n not in presets]
    if unknown:
        raise KeyError(f"unknown expression(s) {', '.join(unknown)}; the model knows {', '.join(presets)}")
    meshes = {}
    for k, name in enumerate([base] + [n for n in names if n != base]):
        if progress is not None:
            progress(name, k, len(names) + 1)
        mesh = model.mesh(codes.replace(z_exp=presets[name]), resolution, topology="template",
                          colors="correspondence" if colors and name == base else None, cancel=cancel)
        meshes[name] = mesh
    neutral = meshes[base]
    v0 = np.asarray(neutral.vertices, dtype=np.float32)
    f = np.asarray(neutral.faces, dtype=np.int64)
    n0 = _unit_normals(v0, f)
    targets = {}
    for name in names:
        if name == base:
            continue
        v = np.asarray(meshes[name].vertices, dtype=np.float32)
        targets[name] = (v - v0, _unit_normals(v, f) - n0)
    rgb = np.asarray(neutral.visual.vertex_colors)[:, :3].astype(np.uint8) if colors else None
    info = {
        "base_expression": base,
        "template_topology": neutral.metadata["template_topology"]["fingerprint"],
        "template_resolution": neutral.metadata["template_topology"]["resolution"],
        "faces": {name: mesh.metadata["template_topology"] for name, mesh in meshes.items()},
    }
    return Rig(v0, f, n0, targets, rgb, info)


def rig_file_bytes(vertices: int, faces: int, targets: int, colors: bool = False) -> int:
    """The size of a rig's GLB (for a free-space check before the work): 24 B per vertex and target (position
    and normal), 24 for the base, 12 per triangle, 4 per vertex for colours, plus the JSON."""
    return 24 * vertices * (targets + 1) + 12 * faces + (4 * vertices if colors else 0) + 4096 + 512 * targets


def rig_glb_bytes(rig: Rig, name: str = "face", extras: dict | None = None,
                  animation: MorphAnimation | None = None) -> bytes:
    """The rig as GLB bytes (positions in metres; see the module doc), with ``animation`` of its morph weights
    when given (``ValueError`` when its shape does not fit the targets or its times do not increase)."""
    scale = METRES_PER_UNIT
    chunks: list[bytes] = []
    views: list[dict] = []
    accessors: list[dict] = []
    offset = 0

    def add(array: np.ndarray, component: int, kind: str, target: int | None, normalized: bool = False,
            bounds: bool = False) -> int:
        nonlocal offset
        data = np.ascontiguousarray(array).tobytes()
        view = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        views.append(view)
        pad = (-len(data)) % 4
        chunks.append(data + b"\0" * pad)
        offset += len(data) + pad
        accessor = {"bufferView": len(views) - 1, "componentType": component, "count": int(array.shape[0]),
                    "type": kind}
        if normalized:
            accessor["normalized"] = True
        if bounds:
            accessor["min"] = [float(x) for x in array.min(axis=0)]
            accessor["max"] = [float(x) for x in array.max(axis=0)]
        accessors.append(accessor)
        return len(accessors) - 1

    indices = add(np.asarray(rig.faces, dtype=np.uint32).reshape(-1), _UINT, "SCALAR", _ELEMENT_ARRAY_BUFFER)
    attributes = {
        "POSITION": add((rig.vertices * scale).astype(np.float32), _FLOAT, "VEC3", _ARRAY_BUFFER, bounds=True),
        "NORMAL": add(rig.normals.astype(np.float32), _FLOAT, "VEC3", _ARRAY_BUFFER),
    }
    if rig.colors is not None:
        rgba = np.concatenate([rig.colors.astype(np.uint8), np.full((len(rig.colors), 1), 255, np.uint8)], axis=1)
        attributes["COLOR_0"] = add(rgba, _UBYTE, "VEC4", _ARRAY_BUFFER, normalized=True)
    targets = []
    for dv, dn in rig.targets.values():
        targets.append({
            "POSITION": add((dv * scale).astype(np.float32), _FLOAT, "VEC3", _ARRAY_BUFFER, bounds=True),
            "NORMAL": add(dn.astype(np.float32), _FLOAT, "VEC3", _ARRAY_BUFFER),
        })
    primitive = {"attributes": attributes, "indices": indices, "material": 0, "mode": 4}
    mesh = {"name": name, "primitives": [primitive]}
    if targets:
        primitive["targets"] = targets
        mesh["weights"] = [0.0] * len(targets)
        mesh["extras"] = {"targetNames": list(rig.targets)}
    animations = []
    if animation is not None:
        times = np.asarray(animation.times, dtype=np.float32).reshape(-1, 1)
        weights = np.asarray(animation.weights, dtype=np.float32)
        if weights.shape != (len(times), len(targets)) or not targets:
            raise ValueError(f"animation weights of shape {weights.shape} for {len(times)} times and "
                             f"{len(targets)} morph targets")
        if len(times) < 2 or np.any(np.diff(times[:, 0]) <= 0) or times[0, 0] < 0:
            raise ValueError("animation times must be two or more, from 0 s on, increasing")
        sampler = {"input": add(times, _FLOAT, "SCALAR", None, bounds=True),
                   "output": add(weights.reshape(-1, 1), _FLOAT, "SCALAR", None), "interpolation": "LINEAR"}
        animations.append({"name": animation.name, "samplers": [sampler],
                           "channels": [{"sampler": 0, "target": {"node": 0, "path": "weights"}}]})
    from imface_core.version import __version__ as version

    asset_extras = {
        "length_unit": "metre",
        "millimetres_per_unit": 1000.0,
        "frame": "ImFace normalised frame x 100 mm: nose tip at (0, 0, 40) mm, +y up, +z towards the viewer",
        **{k: v for k, v in rig.info.items() if k != "faces"},
        **(extras or {}),
    }
    gltf = {
        "asset": {"version": "2.0", "generator": f"ImFace Studio {version}", "extras": asset_extras},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"name": name, "mesh": 0}],
        "meshes": [mesh],
        "materials": [{"name": "skin", "pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.8, 0.8, 1.0],
                                                                "metallicFactor": 0.0, "roughnessFactor": 0.6}}],
        "buffers": [{"byteLength": offset}],
        "bufferViews": views,
        "accessors": accessors,
    }
    if animations:
        gltf["animations"] = animations
    text = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 4)
    binary = b"".join(chunks)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join([
        struct.pack("<4sII", b"glTF", 2, total),
        struct.pack("<I4s", len(text), b"JSON"), text,
        struct.pack("<I4s", len(binary), b"BIN\0"), binary,
    ])


def read_glb(data: bytes) -> tuple[dict, bytes]:
    """(the JSON, the BIN chunk) of GLB bytes (a minimal reader, for checks)."""
    magic, version, total = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF" or version != 2 or total != len(data):
        raise ValueError("not a glTF 2.0 binary")
    length, kind = struct.unpack_from("<I4s", data, 12)
    gltf = json.loads(data[20:20 + length])
    rest = 20 + length
    binary = b""
    if rest < len(data):
        blength, bkind = struct.unpack_from("<I4s", data, rest)
        binary = data[rest + 8:rest + 8 + blength]
    return gltf, binary
