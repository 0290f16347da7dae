"""Face models with *known* evidence, to check explainers against ground truth.

They are real ``nn.Module`` networks with fixed random weights (seeded), wrapped as
:class:`~facewidget.models.FaceModel`. Their outputs depend on the input only in a known way:

* :class:`RegionEmbedder` — the input is multiplied by a fixed 0/1 region mask (e.g. one quadrant of
  the chip) before a small conv net, so the embedding depends on the pixels inside the region only.
  Every faithful explainer must put its evidence there.
* :class:`GridEmbedder` — linear conv features average-pooled over a 4×4 grid; grey (0.5) occlusion
  is neutral and a colour-inverted patch contradicts the original (used to check that a dissimilar
  map finds an altered patch).

Built with :func:`synthetic_model`.
"""

from __future__ import annotations

import torch
from torch import nn
from ..errors import ParameterError

QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")


def region_mask(size, quadrant: str) -> torch.Tensor:
    """(h, w) float 0/1 mask of a chip quadrant (e.g. ``"top-left"``: rows < h/2, cols < w/2)."""
    if quadrant not in QUADRANTS:
        raise ParameterError("quadrant", quadrant, f"one of {QUADRANTS}")
    h, w = size
    m = torch.zeros(h, w)
    rows = slice(0, h // 2) if quadrant.startswith("top") else slice(h // 2, h)
    cols = slice(0, w // 2) if quadrant.endswith("left") else slice(w // 2, w)
    m[rows, cols] = 1.0
    return m


def _features(width: int) -> nn.Sequential:
    # bias-free convs: zero input stays exactly zero, so a gated-out region has zero activations
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1, bias=False), nn.ReLU(),
    )


class RegionEmbedder(nn.Module):
    """Embedding = linear(4×4-pooled conv features of (input · region)); depends on the region only."""

    def __init__(self, region: torch.Tensor, dim: int = 64, width: int = 16):
        super().__init__()
        self.register_buffer("region", region[None, None].float())
        self.features = _features(width)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Linear(2 * width * 16, dim, bias=False)

    def forward(self, x):
        return self.head(self.pool(self.features(x * self.region)).flatten(1))


class GridEmbedder(nn.Module):
    """Embedding = 4×4 average-pooled features of two bias-free linear convolutions, flattened.

    Linear and bias-free on the normalised input ((pixel − 127.5) / 127.5), so a mid-grey region
    (chip value 0.5) contributes exactly zero: occlusion with ``fill=0.5`` is neutral, as for a
    model that treats missing pixels as missing evidence, and a colour-inverted patch contributes
    the negative of the original: the model sees it as contradicting the other image."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 5, stride=2, padding=2, bias=False),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False),
        )
        self.pool = nn.AdaptiveAvgPool2d(4)

    def forward(self, x):
        return self.pool(self.features(x)).flatten(1)


def synthetic_model(kind: str = "grid", *, quadrant: str = "top-left", size: int = 112, seed: int = 0,
                    similarity: str = "cosine", threshold: float | None = None, device=None):
    """A :class:`~facewidget.models.FaceModel` around a synthetic embedder.

    Args:
        kind: ``"region"`` (evidence only in ``quadrant`` of the chip) or ``"grid"``.
        size: chip side (ArcFace 112×112 alignment, scaled).
        seed: weights are drawn from ``torch.manual_seed(seed)`` (deterministic).
        similarity, threshold: the config's similarity and native threshold.
    """
    from ..models import FaceModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        norm: dict = {}
        if kind == "region":
            net = RegionEmbedder(region_mask((size, size), quadrant))
        elif kind == "grid":
            net = GridEmbedder()
        else:
            raise ParameterError("kind", kind, "'region' or 'grid'")
    name = f"synthetic-{kind}" + (f"-{quadrant}" if kind == "region" else "")
    config = dict(name=name, task="identity", input_size=(size, size), template="arcface-112",
                  embedding_size=64 if kind == "region" else 512, similarity=similarity, threshold=threshold, **norm)
    return FaceModel.from_module(net, config, device=device)
