"""Stage 3: face models behind one interface."""

from .base import FaceModel, ModelConfig, default_device, state_dict_sha256

__all__ = ["FaceModel", "ModelConfig", "default_device", "state_dict_sha256"]
