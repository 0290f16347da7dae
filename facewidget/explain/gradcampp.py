"""Grad-CAM++ (Chattopadhyay et al., WACV 2018) on any conv layer, for any target, kept **signed**.

Per channel k the weight is Σ_ij α_kij · relu(∂t/∂A_kij) with
α_kij = g² / (2g² + Σ_ab A_kab · g³) (g = ∂t/∂A_kij; the closed form for an exponential of the
target, as in the paper and its public implementations). map = Σ_k w_k · A_k upsampled to the chip,
without the final ReLU. Needs gradients (UnsupportedOperationError on black-box models).

Defaults: layer as for Grad-CAM (the last conv/activation output of at least 7×7).
"""

from __future__ import annotations

import torch

from .base import ActivationRecorder, MethodMaps, register, require_gradients, resolve_layer, to_chip_size
from .engine import BatchLoop, Timings

DEFAULTS = dict(layer=None)
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
    p = {**DEFAULTS, **params}
    unknown = set(p) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"gradcam++ got unknown parameters {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    require_gradients(model, "gradcam++")
    name, module = resolve_layer(model, p["layer"])
    size = tuple(chips.shape[-2:])
    maps = torch.zeros(len(chips), *size)
    timings = Timings()

    def step(start, stop):
        for i in range(start, stop):
            with timings.phase("forward_backward", model.device), torch.enable_grad(), ActivationRecorder(module) as rec:
                out = model.forward_chips(chips[i:i + 1])
                act = rec.output
                if act is None:
                    raise RuntimeError(f"layer {name!r} did not run in the forward pass")
                t = targets[i](out.float()).sum()
                (grad,) = torch.autograd.grad(t, act)
            a = act.detach().float()
            cam = (gradcampp_weights(a, grad.float()) * a).sum(1, keepdim=True)
            maps[i] = to_chip_size(cam, size)[0, 0].cpu()

    BatchLoop(len(chips), 1, progress=progress, cancel=cancel, progress_interval=progress_interval,
              timings=timings, maps_fn=lambda: maps.numpy().copy()).run(step)
    return MethodMaps(saliency=maps.numpy(), params={"layer": name}, timings=timings.as_dict(),
                      done=len(chips), total=len(chips))
