"""The ImFace++ network: config, batched FiLM-SIREN mini-nets, neural blend fields and ``ImFaceNet``.

The names below load their module on first use, so that the torch-free ``imface_core.model.config`` and
``imface_core.model.objective`` (read by the command line's ``imface train`` options) do not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imface_core.model.blend_field import NeuralBlendField
    from imface_core.model.config import ModelConfig
    from imface_core.model.imface_net import ImFaceNet
    from imface_core.model.siren import BatchedFiLMSiren, BatchedLinear, FiLMMapping

_MODULES = {"BatchedFiLMSiren": "siren", "BatchedLinear": "siren", "FiLMMapping": "siren", "ImFaceNet": "imface_net",
            "ModelConfig": "config", "NeuralBlendField": "blend_field"}

__all__ = ["BatchedFiLMSiren", "BatchedLinear", "FiLMMapping", "ImFaceNet", "ModelConfig", "NeuralBlendField"]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = value
    return value
