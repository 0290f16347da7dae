"""Grad-CAM (Selvaraju et al., ICCV 2017) on any conv layer, for any target, kept **signed**.

α_k = spatial mean of ∂target/∂A_k; map = Σ_k α_k·A_k upsampled (bilinear) to the chip, *without*
the final ReLU: negative regions are evidence against the target (for a pair: dissimilar).
Needs gradients (UnsupportedOperationError on black-box models).

Defaults: layer = the last Conv2d with an output of at least 7×7.
"""

from __future__ import annotations


import torch

from .base import (ActivationRecorder, MethodMaps, method_params, register, require_gradients, resolve_layer,
                   to_chip_size)
from .engine import BatchLoop, Timings

DEFAULTS = dict(layer=None)


def gradcam_weights(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """(B, C, 1, 1) Grad-CAM channel weights: the spatial mean of the gradients."""
    return gradients.mean(dim=(2, 3), keepdim=True)


def cam_maps(method: str, weights_fn, model, chips: torch.Tensor, targets, *, progress=None, cancel=None,
             progress_interval: float = 0.25, **params) -> MethodMaps:
    """The CAM loop shared by Grad-CAM and Grad-CAM++: one forward/backward per chip, signed map
    Σ_k w_k·A_k upsampled to the chip, with ``w = weights_fn(activations, gradients)``."""
    p = method_params(method, DEFAULTS, params)
    require_gradients(model, method)
    name, module = resolve_layer(model, p["layer"])
    size = tuple(chips.shape[-2:])
    maps = torch.zeros(len(chips), *size)
    timings = Timings()

    def step(start, stop):
        for i in range(start, stop):
            with timings.phase("forward_backward", model.device), torch.enable_grad(), ActivationRecorder(module, model) as rec:
                out = model.forward_chips(chips[i:i + 1])
                act = rec.output
                if act is None:
                    raise RuntimeError(f"layer {name!r} did not run in the forward pass")
                t = targets[i](out.float()).sum()
                (grad,) = torch.autograd.grad(t, act)
            a = act.detach().float()
            cam = (weights_fn(a, grad.float()) * a).sum(1, keepdim=True)
            maps[i] = to_chip_size(cam, size)[0, 0].cpu()

    BatchLoop(len(chips), 1, progress=progress, cancel=cancel, progress_interval=progress_interval,
              timings=timings, maps_fn=lambda: maps.numpy().copy()).run(step)
    return MethodMaps(saliency=maps.numpy(), params={"layer": name}, timings=timings.as_dict(),
                      done=len(chips), total=len(chips))


@register("gradcam", black_box=False)
def compute(model, chips: torch.Tensor, targets, *, seed: int = 0, progress=None, cancel=None,
            progress_interval: float = 0.25, **params) -> MethodMaps:
    """Signed Grad-CAM maps (K, h, w) in target units for ``chips`` (K, 3, h, w)."""
    return cam_maps("gradcam", gradcam_weights, model, chips, targets, progress=progress, cancel=cancel,
                    progress_interval=progress_interval, **params)
