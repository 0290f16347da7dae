"""Small networks whose attention is known by construction, to test saliency methods against.

``WindowModel`` is a real ``nn.Module``: a linear read-out of the chip's mean brightness inside a
fixed window (e.g. where the template puts the mouth). An explainer that works must find that
window; one that does not, will not.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facewidget.models.base import FaceModel


class WindowModel(nn.Module):
    """logits = (+b, -b), b = mean over a fixed chip window of the channel-mean input."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.register_buffer("weight", weight / weight.sum())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = (x.mean(1) * self.weight).sum(dim=(1, 2))
        return torch.stack([b, -b], 1)


def window_model(chip_points: np.ndarray, size=(150, 150), margin: float = 6.0) -> FaceModel:
    """A classifier attending to the box around ``chip_points`` (K, 2) x, y in chip pixels."""
    h, w = size
    weight = torch.zeros(h, w)
    x0, y0 = np.floor(chip_points.min(0) - margin).astype(int)
    x1, y1 = np.ceil(chip_points.max(0) + margin).astype(int)
    weight[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] = 1.0
    config = {"name": "window-test", "task": "classification", "input_size": size, "template": "dlib-5",
              "mean": (0.0, 0.0, 0.0), "std": (255.0, 255.0, 255.0), "classes": ("bright", "dark")}
    return FaceModel.from_module(WindowModel(weight), config, device="cpu")


def mouth_model(face, image) -> FaceModel:
    """:func:`window_model` on the mouth of ``face`` as the dlib-5 chip shows it."""
    from facewidget import DLIB_5, align_faces

    aligned = align_faces(image, [face], DLIB_5, device="cpu")
    m = aligned.transforms[0].numpy()
    mouth = face.landmarks[[61, 291, 0, 17], :2].astype(np.float64)
    chip_pts = mouth @ m[:, :2].T + m[:, 2]
    return window_model(chip_pts)


class WindowEmbedding(nn.Module):
    """An identity-style network: the embedding is the 4×4 average-pooled, channel-mean window."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.register_buffer("weight", weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(x.mean(1, keepdim=True) * self.weight, 4)
        return pooled.flatten(1) + 1.0  # offset keeps cosine well defined on dark chips


def mouth_embedding_model(face, image) -> FaceModel:
    """Identity model (cosine) whose embedding only sees the mouth box of the dlib-5 chip."""
    cls = mouth_model(face, image)
    weight = (cls.network.weight > 0).float()
    config = {"name": "window-embedding-test", "task": "identity", "input_size": (150, 150), "template": "dlib-5",
              "mean": (0.0, 0.0, 0.0), "std": (255.0, 255.0, 255.0), "embedding_size": 16, "similarity": "cosine",
              "threshold": 0.5}
    return FaceModel.from_module(WindowEmbedding(weight), config, device="cpu")
