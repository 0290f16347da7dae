"""Stage 3: face models behind one interface (:class:`FaceModel`), loaded with :func:`load_model`."""

from .base import FaceModel, ModelConfig, default_device, state_dict_sha256
from .onnx_model import OnnxFaceModel
from .registry import available_models, load_model

__all__ = ["FaceModel", "ModelConfig", "OnnxFaceModel", "available_models", "default_device", "load_model",
           "state_dict_sha256"]
