"""Checkpoint files: what they hold, atomic saving, and loading with clear errors.

A checkpoint alone rebuilds its model: it stores the training config
(``TrainConfig.to_dict()``), the code version, the network weights, the latent
code tables, the identity and scan names, and (for resumable training files)
the optimiser, step and random-number states. Loading uses
``torch.load(weights_only=True)``: no pickled classes.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import torch

from imface_core.version import __version__
from imface_core.errors import CheckpointError
from imface_core.io_utils import atomic_write_bytes

CHECKPOINT_KIND = "imface-studio-checkpoint"
FORMAT_VERSION = 1




def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus kind, format and code version) atomically."""
    data = {"kind": CHECKPOINT_KIND, "format_version": FORMAT_VERSION, "code_version": __version__, **payload}
    buf = io.BytesIO()
    torch.save(data, buf)
    atomic_write_bytes(path, buf.getvalue())


REQUIRED = ("config", "model_state", "codes", "identities", "scans")


def store_in_model(model_path: str | Path, entries: dict[str, Any], out_path: str | Path | None = None) -> Path:
    """Write ``model_path``'s checkpoint with ``entries`` added or replaced to ``out_path`` (default: in place,
    atomically): what a step after training learns about the model (its face region, its expression gains)."""
    checkpoint = load_checkpoint(model_path)
    checkpoint.update(entries)
    for key in ("kind", "format_version", "code_version"):
        checkpoint.pop(key, None)
    out = Path(out_path or model_path)
    save_checkpoint(out, checkpoint)
    return out


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint; raise CheckpointError saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"model file not found: `{path}`")
    if path.is_dir():
        raise CheckpointError(f"`{path}` is a folder, not a model file: give the .pt file inside it "
                              "(e.g. model.pt of a training run)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"`{path}` is empty: not an ImFace Studio model")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"`{path}` is corrupt or truncated, or not a PyTorch file ({type(exc).__name__}: {str(exc)[:120]})"
        ) from exc
    except Exception as exc:  # unpickling errors of foreign files have many types
        raise CheckpointError(f"`{path}` is not an ImFace Studio model ({type(exc).__name__}: {str(exc)[:120]})") from exc
    if not isinstance(data, dict) or data.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"`{path}` is a PyTorch file but not an ImFace Studio model checkpoint")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"`{path}` has checkpoint format {version}, newer than this ImFace Studio ({__version__}) "
            f"reads (format {FORMAT_VERSION}); update ImFace Studio"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"`{path}` is incomplete: missing {missing}")
    return data
