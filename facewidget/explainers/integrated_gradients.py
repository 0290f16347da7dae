"""Integrated gradients (Sundararajan, Taly, Yan, ICML 2017) for any target, signed.

IG(x) = (x − x₀) · mean_α ∂target/∂x at x₀ + α(x − x₀), α at the midpoints of ``steps`` equal
intervals; the map is IG summed over RGB (signed: positive pixels raise the target). The steps go
through the engine's batch loop (progress, cancel). Needs gradients.

Defaults: steps = 32, baseline = "black" (x₀ = 0); "blur" uses a Gaussian-blurred chip, a number
a grey level in [0, 1].
"""

from __future__ import annotations

import torch

from .base import MethodMaps, method_params, register, require_gradients, resolve_fill
from .engine import BatchLoop, Timings
from ..errors import ParameterError

DEFAULTS = dict(steps=32, baseline="black", batch_size=16)


@register("integrated_gradients", black_box=False)
def compute(model, chips: torch.Tensor, targets, *, seed: int = 0, progress=None, cancel=None,
            progress_interval: float = 0.25, **params) -> MethodMaps:
    """Signed IG maps (K, h, w) in target units for ``chips`` (K, 3, h, w)."""
    p = method_params("integrated_gradients", DEFAULTS, params)
    require_gradients(model, "integrated_gradients")
    steps = int(p["steps"])
    if steps < 1:
        raise ParameterError("steps", steps, "an integer >= 1")
    k = len(chips)
    baselines = []
    for chip in chips:
        b = resolve_fill(0.0 if p["baseline"] == "black" else p["baseline"], chip)
        baselines.append(b.expand_as(chip) if isinstance(b, torch.Tensor) else torch.full_like(chip, b))
    alphas = (torch.arange(steps, dtype=torch.float32, device=chips.device) + 0.5) / steps
    grad_sum = torch.zeros_like(chips)
    timings = Timings()

    steps_done = [0] * k

    def current():
        counts = torch.tensor([max(c, 1) for c in steps_done], dtype=chips.dtype, device=chips.device)
        ig = (chips - torch.stack(baselines)) * grad_sum / counts.view(-1, 1, 1, 1)
        return ig.sum(1).detach().cpu().numpy()

    # work items: (image, step) pairs in image-major order
    def step(start, stop):
        for img in range(k):
            lo, hi = max(start, img * steps), min(stop, (img + 1) * steps)
            if lo >= hi:
                continue
            a = alphas[lo - img * steps:hi - img * steps].view(-1, 1, 1, 1)
            with timings.phase("forward_backward", model.device), torch.enable_grad():
                x = (baselines[img] + a * (chips[img] - baselines[img])).detach().requires_grad_(True)
                t = targets[img](model.forward_chips(x).float()).sum()
                (g,) = torch.autograd.grad(t, x)
            grad_sum[img] += g.sum(0)
            steps_done[img] += hi - lo

    loop = BatchLoop(k * steps, int(p["batch_size"]), progress=progress, cancel=cancel,
                     progress_interval=progress_interval, timings=timings, maps_fn=current)
    loop.run(step)
    ig = (chips - torch.stack(baselines)) * grad_sum / steps
    return MethodMaps(saliency=ig.sum(1).detach().float().cpu().numpy(), params=p, timings=timings.as_dict(),
                      done=k * steps, total=k * steps)
