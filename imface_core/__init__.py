"""ImFace Studio core: the ImFace++ model, data, training, extraction and fitting (no Qt here)."""

from __future__ import annotations

from imface_core.version import __version__

__all__ = ["FaceModel", "__version__"]


def __getattr__(name: str):
    # FaceModel pulls in torch; import it only when asked for.
    if name == "FaceModel":
        from imface_core.face_model import FaceModel

        return FaceModel
    raise AttributeError(name)
