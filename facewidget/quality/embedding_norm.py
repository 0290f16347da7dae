"""Embedding norm as quality (MagFace, Meng et al., CVPR 2021): quality = ‖f(x)‖₂.

Meaningful only for **magnitude-aware** models — those trained so the embedding's length grows
with recognisability (MagFace, and to a degree AdaFace's feature norm). For models trained with a
normalised loss (ArcFace, CosFace) or a metric loss on raw features (dlib's ResNet, whose norms sit
around 1.3–1.4 whatever the image) the norm is a by-product, not a calibrated quality: use it there
only as a diagnostic and prefer SER-FIQ. Measured on dlib-resnet: the norm of a heavily noised /
occluded / down-scaled copy is below the clean photo's in only 43-71 % of pairs.
"""

from __future__ import annotations

import torch

from ..errors import UnsupportedOperationError
from .batch import FaceBatch
from .fiqa import FIQAMethod


class EmbeddingNorm(FIQAMethod):
    """``{"embedding_norm": ‖embedding‖₂}`` (B,) on the model's raw (un-normalised) output."""

    name = "embedding-norm"

    def __init__(self, model):
        if model.config.task != "identity":
            raise UnsupportedOperationError(f"embedding norm needs an identity model; {model.config.name} is "
                                            f"{model.config.task}")
        self.model = model

    def params(self):
        return {"model": self.model.config.name, "weights_sha256": self.model.config.weights_sha256}

    def __call__(self, batch: FaceBatch):
        emb = self.model.embed(batch.chips_for(self.model)).float()
        return {"embedding_norm": torch.linalg.vector_norm(emb, dim=1).cpu().numpy()}
