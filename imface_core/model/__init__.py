"""The ImFace++ network: config, batched FiLM-SIREN mini-nets, neural blend fields and ``ImFaceNet``."""

from __future__ import annotations

from imface_core.model.blend_field import NeuralBlendField
from imface_core.model.config import ModelConfig
from imface_core.model.imface_net import ImFaceNet
from imface_core.model.siren import BatchedFiLMSiren, BatchedLinear, FiLMMapping

__all__ = ["BatchedFiLMSiren", "BatchedLinear", "FiLMMapping", "ImFaceNet", "ModelConfig", "NeuralBlendField"]
