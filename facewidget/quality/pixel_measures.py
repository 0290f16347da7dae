"""ISO/IEC 29794-5-style component measures from pixels (after OFIQ's definitions, simplified).

All are computed on the measurement chip (:data:`~facewidget.quality.batch.MEASUREMENT_TEMPLATE`,
dlib's 5-point alignment at 150×150, padding 0.25, so the face fills most of the chip and every
face is measured at one scale) — or on the given chips for chip-only batches. Luminance is
Y = 0.299 R + 0.587 G + 0.114 B in grey levels 0–255 (ITU-R BT.601).

* **sharpness**: variance of the 4-neighbour Laplacian of Y over the chip interior (grey levels²).
  Blur, down-scaling (a small face up-sampled into the chip) and JPEG blocking lower it; noise
  *raises* it, so it is not a noise measure.
* **exposure**: 1 − (share of pixels with Y ≤ 25) − (share with Y ≥ 247) (OFIQ's under-/over-exposure
  ranges); components ``under_exposure_prevention`` = 1 − share(Y ≤ 25) and
  ``over_exposure_prevention`` = 1 − share(Y ≥ 247). Sees low light and blown highlights.
* **dynamic range**: Shannon entropy (bits, 0–8) of the 256-bin histogram of Y (OFIQ's dynamic
  range). Low light and contrast loss lower it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .batch import FaceBatch
from .fiqa import FIQAMethod

UNDER_EXPOSED_MAX = 25.0
OVER_EXPOSED_MIN = 247.0
LUMA = (0.299, 0.587, 0.114)


def luminance(chips: torch.Tensor) -> torch.Tensor:
    """(B, 3, h, w) RGB in [0, 1] → (B, h, w) float64 luminance in grey levels 0–255."""
    w = torch.tensor(LUMA, dtype=torch.float64).view(1, 3, 1, 1)
    return (chips.double().cpu() * 255.0 * w).sum(1)


def laplacian_variance(y: torch.Tensor) -> torch.Tensor:
    """(B, h, w) → (B,) variance of the 4-neighbour Laplacian (valid pixels only)."""
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=y.dtype).view(1, 1, 3, 3)
    lap = F.conv2d(y[:, None], k)
    return lap.flatten(1).var(dim=1, unbiased=False)


def histogram_entropy(y: torch.Tensor) -> torch.Tensor:
    """(B, h, w) grey levels → (B,) entropy in bits of the 256-bin histogram."""
    levels = y.round().clamp(0, 255).long().flatten(1)
    counts = torch.zeros(levels.shape[0], 256, dtype=torch.float64).scatter_add_(
        1, levels, torch.ones_like(levels, dtype=torch.float64))
    p = counts / counts.sum(1, keepdim=True)
    return -(torch.where(p > 0, p * torch.log2(p), torch.zeros_like(p))).sum(1)


class Sharpness(FIQAMethod):
    """``{"sharpness": var(Laplacian(Y))}`` on the measurement chip (grey levels²)."""

    name = "sharpness"

    def __call__(self, batch: FaceBatch):
        return {"sharpness": laplacian_variance(luminance(batch.measurement_chips())).numpy()}


class Exposure(FIQAMethod):
    """``{"exposure", "under_exposure_prevention", "over_exposure_prevention"}`` in [0, 1]."""

    name = "exposure"

    def __call__(self, batch: FaceBatch):
        y = luminance(batch.measurement_chips()).flatten(1)
        under = (y <= UNDER_EXPOSED_MAX).double().mean(1)
        over = (y >= OVER_EXPOSED_MIN).double().mean(1)
        return {"exposure": (1.0 - under - over).numpy(), "under_exposure_prevention": (1.0 - under).numpy(),
                "over_exposure_prevention": (1.0 - over).numpy()}


class DynamicRange(FIQAMethod):
    """``{"dynamic_range": entropy of the luminance histogram}`` in bits (0–8)."""

    name = "dynamic-range"

    def __call__(self, batch: FaceBatch):
        return {"dynamic_range": histogram_entropy(luminance(batch.measurement_chips())).numpy()}


