"""Any ONNX face model as a black box (onnxruntime): forward passes only, no gradients.

``OnnxFaceModel`` keeps the :class:`~facewidget.models.FaceModel` interface (preprocessing,
``embed``, ``verify``, targets) so perturbation explainers (RISE-style) work; gradient explainers
must check ``model.differentiable`` and are refused with
:class:`~facewidget.errors.UnsupportedOperationError` if they try to backpropagate.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from ..data.assets import sha256_file
from ..errors import ModelError, UnsupportedOperationError
from .base import FaceModel, ModelConfig


class OnnxBlackBox(nn.Module):
    """An onnxruntime session behind the nn.Module call convention; refuses inputs needing gradients."""

    def __init__(self, path: str | os.PathLike, name: str):
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError("ONNX models need onnxruntime: pip install onnxruntime") from exc
        try:
            self.session = ort.InferenceSession(os.fspath(path), providers=ort.get_available_providers())
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ModelError(f"{path} is not a loadable ONNX model: {exc}") from exc
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{path}: expected one image input, found {[i.name for i in inputs]}")
        self.input_name = inputs[0].name
        self.input_shape = list(inputs[0].shape)
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad and torch.is_grad_enabled():
            raise UnsupportedOperationError(
                f"{self.name} is an ONNX model run by onnxruntime: it has no gradients. Use a "
                "perturbation explainer (e.g. RISE/CorrRISE), or load the model as a torch module.")
        out = self.session.run(None, {self.input_name: x.detach().cpu().numpy().astype(np.float32)})[0]
        return torch.from_numpy(np.asarray(out, dtype=np.float32)).to(x.device)


class OnnxFaceModel(FaceModel):
    """A black-box ONNX face model; ``differentiable`` is False."""

    differentiable = False

    def __init__(self, path: str | os.PathLike, config: ModelConfig | dict | None = None, *, device=None,
                 batch_size: int = 32):
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ModelError(f"no ONNX file at {path}")
        name = os.path.basename(path)
        box = OnnxBlackBox(path, name)
        cfg = dict(config.__dict__) if isinstance(config, ModelConfig) else dict(config or {})
        cfg.setdefault("name", name)
        h, w = box.input_shape[2:4] if len(box.input_shape) == 4 else (None, None)
        if "input_size" not in cfg:
            if not (isinstance(h, int) and isinstance(w, int)):
                raise ModelError(f"{path} has a dynamic input size {box.input_shape}; pass config={{'input_size': (h, w)}}")
            cfg["input_size"] = (h, w)
        elif isinstance(h, int) and isinstance(w, int) and tuple(cfg["input_size"]) != (h, w):
            raise ModelError(f"{path} takes {h}×{w} inputs but the config says {tuple(cfg['input_size'])}")
        cfg.setdefault("weights_sha256", sha256_file(path))
        super().__init__(box, ModelConfig(**cfg), device=device, batch_size=batch_size)

    def forward_chips(self, chips: torch.Tensor) -> torch.Tensor:
        if isinstance(chips, torch.Tensor) and chips.requires_grad and torch.is_grad_enabled():
            raise UnsupportedOperationError(
                f"{self.config.name} is a black-box ONNX model: gradient-based explanations are not available")
        return super().forward_chips(chips)
