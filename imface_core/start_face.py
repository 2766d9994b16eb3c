"""The start face kept beside the model file, so that the editor shows its first full-detail face at once.

The editor's first face is the same every launch (the model's start state at the chosen quality), and
computing it is most of the wait before a user can work. ``StartFace`` finds it in ``<model>.start_face.npz``
beside the model file (shipped with the model: ``scripts/store_start_face.py`` writes it) or in the user's
cache folder (``$XDG_CACHE_HOME/imface-studio/start_faces``, written by the editor the first time it computes
the face), under a key made of the model file's content and everything the mesh depends on (codes, resolution,
detail, method, colours, device and threads, the engine's code, this module's format). A changed model, another quality or another start state gives
another key: the stored face is then ignored, never shown for the wrong face. A missing, corrupt or unwritable
file only means the face is computed as before.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imface_core.face_codes import codes_key
from imface_core.io_utils import save_npz_atomic

if TYPE_CHECKING:
    import trimesh

    from imface_core.engine.progressive import MeshRequest

__all__ = ["StartFace", "code_digest", "file_digest", "request_key", "user_cache_folder"]

_log = logging.getLogger(__name__)
FORMAT = 1
"""Changes when what is stored or how the key is made changes (older files then never match)."""
SUFFIX = ".start_face.npz"


def file_digest(path: str | Path) -> str:
    """A digest of the file's content (18 MB, the shipped model: about 20 ms), read once per version of the
    file (the window's first look and the model loader both ask)."""
    path = Path(path).resolve()
    stat = path.stat()
    return _content_digest(path, stat.st_size, stat.st_mtime_ns)


@cache
def _content_digest(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


MESH_CODE_ROOTS = ("imface_core.engine.progressive", "imface_core.face_model", "imface_core.face_codes")
"""The code that makes the editor's faces starts here; everything these import within imface_core counts."""
NOT_MESH_CODE = frozenset({"imface_core.settings", "imface_core.errors", "imface_core.version",
                           "imface_core.allocator", "imface_core.io_utils", "imface_core.checkpoint",
                           "imface_core.start_face"})
"""Imported by it but making no mesh value (command-line settings, error types, files)."""


def _imports(path: Path) -> set[str]:
    """The imface_core modules a source file imports (at any depth of the file, TYPE_CHECKING blocks too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("imface_core.")}


@cache
def code_digest() -> str:
    """A digest of the code that makes a face mesh (the engine's meshing and the networks, found by following
    the imports from ``MESH_CODE_ROOTS``): a changed engine never shows a face the old one made."""
    root = Path(__file__).resolve().parents[1]
    seen: dict[str, Path] = {}
    todo = list(MESH_CODE_ROOTS)
    while todo:
        name = todo.pop()
        if name in seen or name in NOT_MESH_CODE:
            continue
        base = root.joinpath(*name.split("."))
        path = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if not path.is_file():  # a name imported from a module, not a module
            continue
        seen[name] = path
        todo.extend(_imports(path))
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(seen):
        h.update(name.encode())
        h.update(seen[name].read_bytes())
    return h.hexdigest()


def request_key(model_digest: str, request: MeshRequest, compute: str = "cpu") -> str:
    """The key of the full-detail mesh of ``request`` made by the model whose file has ``model_digest`` on
    ``compute`` (device and threads: float results differ in the last bits between them)."""
    parts = (FORMAT, code_digest(), model_digest, compute, codes_key(request.codes), request.resolution, request.detail,
             repr(float(request.detail_scale)), request.method, request.colors)
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _view(resolution: int, method: str, colors: bool) -> str:
    return f"{int(resolution)}:{method}:{bool(colors)}"


def user_cache_folder(name: str) -> Path:
    """``$XDG_CACHE_HOME/imface-studio/<name>`` (``~/.cache`` without the variable): where files kept between runs
    go (start faces, fit references)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "imface-studio" / name


class StartFace:
    """The stored start face of one model file (see the module doc)."""

    def __init__(self, model_path: str | Path, compute: str = "cpu:1"):
        self.model_path = Path(model_path)
        self.compute = compute
        """Where the faces are computed, e.g. ``cpu:1`` (one thread) or ``cuda``: part of the key."""
        self.model_digest = file_digest(self.model_path)
        self.shipped = self.model_path.with_name(self.model_path.stem + SUFFIX)
        """Beside the model file (read only, except by ``save(..., beside=True)``)."""
        self.cached = user_cache_folder("start_faces") / f"{self.model_path.stem}-{self.model_digest}{SUFFIX}"
        """In the user's cache folder (what the editor writes)."""

    def load(self, request: MeshRequest) -> trimesh.Trimesh | None:
        """The stored full-detail mesh of ``request``, or None (none stored, another face, unreadable)."""
        import trimesh

        key = request_key(self.model_digest, request, self.compute)
        for path in (self.shipped, self.cached):
            if not path.is_file():
                continue
            try:
                with np.load(path, allow_pickle=False) as data:
                    if str(data["key"]) != key:
                        continue
                    mesh = trimesh.Trimesh(data["vertices"], data["faces"], process=False)
                    if "colors" in data.files:
                        mesh.visual.vertex_colors = data["colors"]
                    return mesh
            except Exception as exc:  # a corrupt or foreign file: compute the face instead
                _log.warning("ignoring the stored start face %s: %s", path, exc)
        return None

    def peek(self, resolution: int, method: str = "displace", colors: bool = False
             ) -> tuple[np.ndarray, np.ndarray] | None:
        """Vertices and faces of the stored start face for this model file, engine and view, before the model
        is loaded (numpy only: no torch); None when there is none. Its codes cannot be checked without the
        model: it is what the editor's first full-detail job stored (the start face), to show until the model
        computes or confirms it (``load``)."""
        for path in (self.shipped, self.cached):
            if not path.is_file():
                continue
            try:
                with np.load(path, allow_pickle=False) as data:
                    if not {"model_digest", "code_digest", "view"} <= set(data.files):
                        continue
                    if (str(data["model_digest"]) == self.model_digest and str(data["code_digest"]) == code_digest()
                            and str(data["view"]) == _view(resolution, method, colors)):
                        return np.asarray(data["vertices"]), np.asarray(data["faces"])
            except Exception as exc:  # a corrupt or foreign file: wait for the model
                _log.warning("ignoring the stored start face %s: %s", path, exc)
        return None

    def save(self, request: MeshRequest, mesh: trimesh.Trimesh, beside: bool = False) -> Path | None:
        """Store ``mesh`` as the full-detail mesh of ``request`` in the user's cache folder (``beside``: beside
        the model file, to ship with it); the path written, or None when it could not be written (the editor
        works as before)."""
        arrays = {"key": np.array(request_key(self.model_digest, request, self.compute)),
                  "model_digest": np.array(self.model_digest), "code_digest": np.array(code_digest()),
                  "view": np.array(_view(request.resolution, request.method, request.colors)),
                  "vertices": np.asarray(mesh.vertices),  # as computed, to the bit
                  "faces": np.asarray(mesh.faces, dtype=np.int32)}
        if request.colors and mesh.visual.kind == "vertex":
            arrays["colors"] = np.asarray(mesh.visual.vertex_colors, dtype=np.uint8)
        path = self.shipped if beside else self.cached
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_npz_atomic(path, **arrays)
        except OSError as exc:
            _log.info("could not store the start face in %s: %s", path, exc)
            return None
        return path
