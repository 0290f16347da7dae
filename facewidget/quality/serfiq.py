"""SER-FIQ (Terhörst et al., CVPR 2020): quality = robustness of the embedding under dropout.

Where the dropout goes
    On the **input of the embedding layer**: the last ``nn.Linear`` of the model's network (or the
    module given as ``layer``). For dlib's ResNet that is ``fc`` (256 → 128), so dropout hits the
    256 globally pooled penultimate features; for insightface ``iresnet`` it is ``fc`` on the
    flattened 512·7·7 features (where the network's own dropout layer sits); for facenet
    ``InceptionResnetV1`` ``last_linear``. Everything after that layer (e.g. a BatchNorm1d) runs as
    usual. The trunk runs once per face; only the head runs ``passes`` times.

Procedure (per face)
    m = ``passes`` (default 100) dropout masks with drop rate p = ``rate`` (default 0.5; inverted
    dropout: kept features are scaled by 1/(1 − p)) give m embeddings x_1 … x_m, each L2-normalised.
    quality = 2 · σ(−(2/m²) · Σ_{i<j} ‖x_i − x_j‖₂) (the paper's formula; σ = logistic sigmoid), in
    (0, 1], 1 = perfectly stable.

How well it works depends on the model
    SER-FIQ assumes a network trained with dropout before its embedding layer (ArcFace-style
    training). dlib's ResNet was not: with p = 0.5 its scores on the sample photos only span
    0.476-0.486, and it ranks a clean photo above its heavily noised copy in 86-93 % of pairs (above
    blurred / JPEG / low-light copies in only 57-86 %). Lower rates (0.05-0.3) and dropout on the
    2×2 spatial features before pooling were measured and were no better.

    Other placements were measured on a larger set too (``bench/serfiq_variants.py``: 88 clean faces,
    the sample photos mirrored / rescaled / rotated ±10°, each vs its copy at severity 1.0; clean rated
    higher in, per kind, blur / noise (two draws) / JPEG / low light / downscale):

    * this default (fc input, p = 0.5, 100 passes): 52 / 85, 83 / 74 / 81 / 58 %, and it depends on
      the mask draw: blur 32 % with mask seed 1, 27 % with 300 passes, 66 % with 30;
    * element dropout p = 0.1 on the output of residual block 12 (256×4×4, before the last
      down-sampling block), three mask seeds: 53-64 / 95-98, 94-97 / 86-90 / 86-92 / 49-61 % —
      >= 90 % on noise only (the best of the 12 variants tried, picked on this same set; its
      neighbours, block 12 with p = 0.05 / 0.2 or channel dropout p = 0.2: noise 88-95 %);
    * earlier in the trunk (blocks 5 and 9, element or channel dropout, p = 0.1 or 0.5) the ranking
      is erratic and often inverted (degraded copies *more* stable, e.g. channel dropout p = 0.5 after
      block 9: clean higher for 3 % of JPEG and 1 % of downscaled pairs);
    * raw (un-normalised) distances, dlib's own metric: worse than L2-normalised ones on noise and
      JPEG for every placement; where better (low light, blur after block 9) >= 90 % on one kind only.

    No placement reaches 90 % across degradations on dlib's ResNet, so the default stays the
    documented SER-FIQ placement (right for networks trained with dropout there).

Seeding
    The m masks are drawn once from ``torch.Generator().manual_seed(seed)`` on the CPU and reused for
    every face, so a face's score does not depend on the batch it is in, its position, or the device.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ShapeError, UnsupportedOperationError
from .batch import FaceBatch
from .fiqa import FIQAMethod

MAX_HEAD_ELEMENTS = 16_000_000
"""Faces per head pass are limited so that faces · passes · features stays below this (memory)."""


def embedding_layer(model, layer=None) -> tuple[str, nn.Linear]:
    """(name, module) of the layer whose *input* SER-FIQ drops out (default: the last nn.Linear)."""
    net = getattr(model, "network", None)
    if not isinstance(net, nn.Module):
        raise UnsupportedOperationError(f"SER-FIQ needs a torch network to put dropout in; {model.config.name} "
                                        "is a black-box model")
    named = dict(net.named_modules())
    if isinstance(layer, str):
        if layer not in named:
            raise ShapeError(f"no layer {layer!r} in {model.config.name}")
        return layer, named[layer]
    if isinstance(layer, nn.Module):
        for n, m in named.items():
            if m is layer:
                return n, m
        raise ShapeError("the given layer is not a module of the model's network")
    linears = [(n, m) for n, m in named.items() if isinstance(m, nn.Linear)]
    if not linears:
        raise UnsupportedOperationError(f"{model.config.name} has no nn.Linear embedding layer; pass layer=")
    return linears[-1]


def serfiq_quality(embeddings: torch.Tensor) -> torch.Tensor:
    """(B, m, D) stochastic embeddings → (B,) quality 2·σ(−(2/m²)·Σ_{i<j} ‖x̂_i − x̂_j‖)."""
    x = torch.nn.functional.normalize(embeddings.double(), dim=-1)
    m = x.shape[1]
    d = torch.cdist(x, x)  # (B, m, m), symmetric, zero diagonal
    upper = d.triu(diagonal=1).sum(dim=(1, 2))
    return 2.0 * torch.sigmoid(-(2.0 / m ** 2) * upper)


class SERFIQ(FIQAMethod):
    """SER-FIQ on any loaded identity model (see the module docstring for where dropout goes).

    Args:
        model: an identity :class:`~facewidget.models.FaceModel` with a torch network.
        passes: stochastic forward passes m (the paper used 100).
        rate: dropout probability p (the paper: 0.5).
        seed: seed of the dropout masks.
        layer: the embedding layer (name or module); default the network's last nn.Linear.
    Returns ``{"ser_fiq": (B,)}`` in (0, 1], higher = better.
    """

    name = "ser-fiq"

    def __init__(self, model, passes: int = 100, rate: float = 0.5, seed: int = 0, layer=None):
        if model.config.task != "identity":
            raise UnsupportedOperationError(f"SER-FIQ needs an identity model; {model.config.name} is {model.config.task}")
        if int(passes) < 2:
            raise ShapeError(f"SER-FIQ needs at least 2 passes; got {passes}")
        if not 0.0 < float(rate) < 1.0:
            raise ShapeError(f"dropout rate must be in (0, 1); got {rate}")
        self.model, self.passes, self.rate, self.seed = model, int(passes), float(rate), int(seed)
        self.layer_name, self.layer = embedding_layer(model, layer)
        self._masks: torch.Tensor | None = None

    def params(self):
        return {"model": self.model.config.name, "weights_sha256": self.model.config.weights_sha256,
                "passes": self.passes, "rate": self.rate, "seed": self.seed, "layer": self.layer_name}

    def masks(self, features: int) -> torch.Tensor:
        """(passes, features) inverted-dropout multipliers (0 or 1/(1−p)), fixed by the seed."""
        if self._masks is None or self._masks.shape[1] != features:
            g = torch.Generator(device="cpu").manual_seed(self.seed)
            keep = torch.rand(self.passes, features, generator=g) >= self.rate
            self._masks = keep.float() / (1.0 - self.rate)
        return self._masks

    @torch.no_grad()
    def stochastic_embeddings(self, chips: torch.Tensor) -> torch.Tensor:
        """(B, passes, D) embeddings of chips (B, 3, h, w) under the fixed dropout masks."""
        m = self.passes
        state: dict = {}

        def pre_hook(module, args):
            (x, *rest) = args
            if x.ndim != 2:
                raise UnsupportedOperationError(f"SER-FIQ: the input of {self.layer_name} is {tuple(x.shape)}, "
                                                "not (B, features)")
            mask = self.masks(x.shape[1]).to(x.device, x.dtype)
            state["features"] = x.shape[1]
            x = (x[:, None, :] * mask[None]).reshape(-1, x.shape[1])
            return (x, *rest)

        handle = self.layer.register_forward_pre_hook(pre_hook)
        try:
            out = self.model.forward_chips(chips).float()
        finally:
            handle.remove()
        return out.reshape(chips.shape[0], m, -1)

    def __call__(self, batch: FaceBatch):
        chips = batch.chips_for(self.model)
        features = self._features()
        per = max(1, MAX_HEAD_ELEMENTS // (self.passes * features))
        q = [serfiq_quality(self.stochastic_embeddings(chips[i:i + per])) for i in range(0, len(chips), per)]
        return {"ser_fiq": torch.cat(q).cpu().numpy()}

    def _features(self) -> int:
        return int(getattr(self.layer, "in_features", 0) or 512)
