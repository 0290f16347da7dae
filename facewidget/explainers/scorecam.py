"""Score-CAM (Wang et al., CVPR-W 2020) on any conv layer, for any target, kept **signed**.

Each channel k of the layer's activation A (for the unperturbed chip) is upsampled to the chip and
normalised to [0, 1] (H_k); the chip is multiplied by H_k and scored: w_k = target(chip·H_k) −
target(baseline chip). The map is Σ_k w_k·H_k — no softmax over channels and no ReLU, so regions
whose features *lower* the target come out negative. Channels that are constant are skipped.

Black box with respect to gradients: only forward passes and the layer's activations are used
(through a forward hook on a torch network, or an ``activations=`` callable chips → (B, C, h', w')
for models without one). Masked forwards stream through the engine.

Defaults: layer = the last Conv2d with an output of at least 7×7; fill = 0 (black baseline).
"""

from __future__ import annotations

import torch

from .base import ActivationRecorder, MethodMaps, method_params, register, resolve_fill, resolve_layer, to_chip_size
from .engine import ExplanationCancelled, Stream, autocast_context, run_masks
from .masks import TensorMasks

DEFAULTS = dict(layer=None, activations=None, fill=0.0, batch_size=None)


def layer_activations(model, chip: torch.Tensor, layer, activations) -> tuple[torch.Tensor, str]:
    """(C, h', w') activations of one chip, and the layer's name."""
    if activations is not None:
        with torch.no_grad():
            act = activations(chip[None])
        return act[0].float(), getattr(activations, "__name__", "activations")
    name, module = resolve_layer(model, layer)
    with torch.no_grad(), ActivationRecorder(module, model) as rec:
        model.forward_chips(chip[None])
    return rec.output[0].float(), name


@register("scorecam", black_box=True)
def compute(model, chips: torch.Tensor, targets, *, seed: int = 0, progress=None, cancel=None,
            progress_interval: float = 0.25, **params) -> MethodMaps:
    """Signed Score-CAM maps (K, h, w) in target units (per unit mask) for ``chips`` (K, 3, h, w)."""
    p = method_params("scorecam", DEFAULTS, params)
    size = tuple(chips.shape[-2:])
    maps, layer_name, channels = [], None, []
    timings: dict = {}
    total = done = 0
    for i, (chip, tgt) in enumerate(zip(chips, targets)):
        act, layer_name = layer_activations(model, chip, p["layer"], p["activations"])
        up = to_chip_size(act[None], size)[0]  # (C, h, w)
        lo = up.flatten(1).min(1).values[:, None, None]
        hi = up.flatten(1).max(1).values[:, None, None]
        keep = (hi - lo).flatten() > 1e-8
        norm = ((up - lo) / (hi - lo).clamp_min(1e-8))[keep]
        channels.append(int(keep.sum()))
        fill = resolve_fill(p["fill"], chip)
        with torch.no_grad(), autocast_context(model.device, None):
            base_chip = (fill if isinstance(fill, torch.Tensor) else torch.full_like(chip, fill))
            baseline = tgt(model.forward_chips(base_chip[None]).float()).to(torch.float64)
        if norm.shape[0] < 2:
            maps.append(torch.zeros(size))
            continue
        source = TensorMasks(norm, kind="activations")

        def maps_of(m, _i=i, _b=baseline):
            current = m.weighted_sum(_b.to(m.sum_m.device))[0].float().cpu()
            return torch.stack(maps + [current] + [torch.zeros(size)] * (len(chips) - _i - 1)).numpy()

        try:
            run = run_masks(model, [Stream(chip, tgt, fill)], source, seed=seed, batch_size=p["batch_size"],
                            progress=progress, cancel=cancel, progress_interval=progress_interval, maps_fn=maps_of)
        except ExplanationCancelled as stop:
            if stop.partial is not None:
                part = stop.partial
                stop.partial = MethodMaps(saliency=maps_of(part.moments), params=p, timings=part.timings.as_dict(),
                                          done=done + part.n, total=total + source.count)
            raise
        maps.append(run.moments.weighted_sum(baseline.to(run.moments.sum_m.device))[0].float().cpu())
        for k, v in run.timings.as_dict().items():
            timings[k] = timings.get(k, 0.0) + v
        done += run.n
        total += source.count
    used = {"layer": layer_name, "fill": p["fill"], "batch_size": p["batch_size"], "channels": channels,
            "activations": None if p["activations"] is None else layer_name}
    return MethodMaps(saliency=torch.stack(maps).numpy(), params=used, timings=timings, done=done, total=total)
