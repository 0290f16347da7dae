"""Activation maps of a model's output for FIQA analyses, through the existing explainers.

``activation_maps(faces, model, method="gradcam" | "scorecam", layer=..., target=...)`` returns
(B, h, w) float32 maps at the model's input resolution (its chip), each **normalised to [0, 1]**:
ReLU of the explainer's signed map (positive evidence only), then min–max scaled per image; a map
with no positive evidence is all zeros.

Targets (what the map explains) for identity models:

* ``"projection"`` (default): ⟨f(x), ê₀⟩, the embedding projected on the face's own clean
  embedding direction ê₀ = f(x₀)/‖f(x₀)‖ (a constant). Its gradient is non-zero at x₀ (unlike the
  self-similarity, which is at its maximum there) and for Score-CAM it measures how much of the
  identity embedding a masked chip keeps.
* ``"norm"``: ‖f(x)‖ (MagFace's quality).
* ``"similarity"``: the model's similarity to ê₀'s embedding (Score-CAM only: its gradient is 0 at x₀).
* a callable outputs (B, D) → (B,).
Classifiers and age models use their natural target (predicted logit / expected age).

Methods: ``"gradcam"`` (one forward + backward per face; needs gradients) and ``"scorecam"``
(forward passes only: one per channel of ``layer``; ``channels=k`` keeps the k channels with the
largest mean activation per face, which makes it k passes; the explainers' engine batches them).
Determinism: Score-CAM (forward passes only) gives identical maps on the CPU run after run; Grad-CAM's
CPU backward pass sums in a thread-dependent order, so its maps can differ by ~1e-9 between runs
(the normalised maps by ~1e-8). ``layer`` defaults to the explainers' default (the last conv layer whose output is at least 7×7:
``blocks.9.conv2``, 128 channels at 8×8 for dlib-resnet).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ShapeError, UnsupportedOperationError
from ..explainers import get_method
from ..explainers.base import ActivationRecorder, resolve_layer
from ..explainers.targets import CallableTarget, SimilarityTarget, resolve_target
from .batch import as_face_batch


def normalise_map(saliency: np.ndarray) -> np.ndarray:
    """(..., h, w) signed maps → ReLU then per-map min–max to [0, 1] (all-zero when nothing is positive)."""
    s = np.maximum(np.asarray(saliency, dtype=np.float64), 0.0)
    flat = s.reshape(-1, s.shape[-2] * s.shape[-1])
    lo = flat.min(1, keepdims=True)
    span = flat.max(1, keepdims=True) - lo
    out = np.where(span > 0, (flat - lo) / np.where(span > 0, span, 1.0), 0.0)
    return out.reshape(s.shape).astype(np.float32)


def _targets(model, chips: torch.Tensor, target, method: str) -> list:
    if model.config.task != "identity":  # the identity targets' names mean "the natural target" here
        natural = None if isinstance(target, str) and target in ("projection", "norm", "similarity") else target
        return [resolve_target(natural, model, c) for c in chips]
    if callable(target) and not isinstance(target, str):
        return [CallableTarget(target)] * len(chips)
    with torch.no_grad():  # one chip at a time: the reference (and so the map) does not depend on the batch
        ref = torch.cat([model.forward_chips(c[None]).float() for c in chips])
    unit = torch.nn.functional.normalize(ref, dim=1)
    if target == "projection":
        return [CallableTarget(lambda out, u=u: out @ u.to(out.device, out.dtype), name="projection")
                for u in unit]
    if target == "norm":
        return [CallableTarget(lambda out: torch.linalg.vector_norm(out, dim=1), name="norm")] * len(chips)
    if target == "similarity":
        if method == "gradcam":
            raise UnsupportedOperationError("the self-similarity target has zero gradient at the face itself; "
                                            "use target='projection' with Grad-CAM")
        return [SimilarityTarget(model, r) for r in ref]
    raise ShapeError(f"unknown activation target {target!r}: 'projection', 'norm', 'similarity' or a callable")


def _channel_subset(model, layer, k: int):
    """An ``activations=`` callable for Score-CAM: the layer's k channels with the largest mean."""
    name, module = resolve_layer(model, layer)

    def activations(chip_batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), ActivationRecorder(module, model) as rec:
            model.forward_chips(chip_batch)
        act = rec.output
        top = act.mean(dim=(2, 3))[0].topk(min(k, act.shape[1])).indices.sort().values
        return act[:, top]

    activations.__name__ = f"{name}[top{k}]"
    return activations


class ActivationMaps:
    """Callable ``maps(faces) -> (B, h, w)`` float32 in [0, 1]; holds the settings (see the module)."""

    def __init__(self, model, method: str = "gradcam", *, layer=None, target="projection", channels: int | None = None,
                 fill: float = 0.0, seed: int = 0, batch_size: int | None = None):
        if method not in ("gradcam", "scorecam"):
            raise ShapeError(f"activation maps use 'gradcam' or 'scorecam'; got {method!r}")
        if channels is not None and (method != "scorecam" or int(channels) < 2):
            raise ShapeError("channels= (>= 2) only applies to Score-CAM")
        self.model, self.method, self.layer, self.target = model, method, layer, target
        self.channels, self.fill, self.seed, self.batch_size = channels, fill, int(seed), batch_size
        self.layer_name = resolve_layer(model, layer)[0]

    def params(self) -> dict[str, Any]:
        return {"method": self.method, "layer": self.layer_name, "channels": self.channels,
                "target": self.target if isinstance(self.target, str) else getattr(self.target, "__name__", "callable"),
                "fill": self.fill, "seed": self.seed, "normalisation": "relu, per-map min-max to [0, 1]",
                "model": self.model.config.name, "weights_sha256": self.model.config.weights_sha256,
                "input_size": list(self.model.config.input_size)}

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.model.config.input_size)

    def raw(self, chips: torch.Tensor) -> np.ndarray:
        """Signed explainer maps (B, h, w) for chips already in the model's alignment."""
        fn = get_method(self.method)
        targets = _targets(self.model, chips, self.target, self.method)
        if self.method == "gradcam":
            result = fn(self.model, chips, targets, seed=self.seed, layer=self.layer)
        else:
            extra = {}
            if self.channels is not None:
                extra["activations"] = _channel_subset(self.model, self.layer, int(self.channels))
            else:
                extra["layer"] = self.layer
            result = fn(self.model, chips, targets, seed=self.seed, fill=self.fill, batch_size=self.batch_size,
                        **extra)
        return result.saliency

    def __call__(self, faces) -> np.ndarray:
        batch = as_face_batch(faces)
        return normalise_map(self.raw(batch.chips_for(self.model)))


def activation_maps(faces, model, method: str = "gradcam", **params) -> np.ndarray:
    """(B, h, w) float32 maps in [0, 1] at the model's input size; see :class:`ActivationMaps`."""
    return ActivationMaps(model, method, **params)(faces)
