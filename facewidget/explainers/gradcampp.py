"""Grad-CAM++ (Chattopadhyay et al., WACV 2018) on any conv layer, for any target, kept **signed**.

Per channel k the weight is Σ_ij α_kij · relu(∂t/∂A_kij) with
α_kij = g² / (2g² + Σ_ab A_kab · g³) (g = ∂t/∂A_kij; the closed form for an exponential of the
target, as in the paper and its public implementations). map = Σ_k w_k · A_k upsampled to the chip,
without the final ReLU. Needs gradients (UnsupportedOperationError on black-box models).

Defaults: layer as for Grad-CAM (the last conv/activation output of at least 7×7).
"""

from __future__ import annotations

import torch

from .base import MethodMaps, register
from .gradcam import cam_maps
_EPS = 1e-7


def gradcampp_weights(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """(B, C, 1, 1) Grad-CAM++ channel weights from activations and gradients (B, C, h, w)."""
    g2, g3 = gradients ** 2, gradients ** 3
    denom = 2 * g2 + activations.sum(dim=(2, 3), keepdim=True) * g3
    alpha = torch.where(gradients != 0, g2 / torch.where(denom.abs() > _EPS, denom, torch.full_like(denom, _EPS)),
                        torch.zeros_like(g2))
    return (alpha * gradients.clamp(min=0)).sum(dim=(2, 3), keepdim=True)


@register("gradcam++", black_box=False)
def compute(model, chips: torch.Tensor, targets, *, seed: int = 0, progress=None, cancel=None,
            progress_interval: float = 0.25, **params) -> MethodMaps:
    """Signed Grad-CAM++ maps (K, h, w) for ``chips`` (K, 3, h, w)."""
    return cam_maps("gradcam++", gradcampp_weights, model, chips, targets, progress=progress, cancel=cancel,
                    progress_interval=progress_interval, **params)
