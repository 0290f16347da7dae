"""xSSAB (Huber et al., 2023): gradients of the similarity split into agreeing and disagreeing
embedding dimensions.

The similarity is a sum of per-dimension contributions c_j between the explained face's embedding e
and the reference r:

* cosine models: c_j = ê_j·r̂_j (unit vectors); a dimension *agrees* ("positive argument") when
  c_j >= t/d, t = the model's cosine threshold (0 when the model has none);
* Euclidean models (dlib): c_j = −(e_j − r_j)² (the oriented squared distance, our extension);
  a dimension agrees when c_j >= −t²/d, t = the distance threshold (when the model has none, the
  pair's own mean contribution is used).

The split is fixed on the unperturbed embeddings. positive = mean over RGB of |∂Σ_{agree} c_j / ∂x|,
negative = the same over the disagreeing dimensions, combined = positive − negative (signed). The
``saliency`` map is ``combined``; for pairs ``similar`` = positive, ``dissimilar`` = negative.
Needs gradients and a similarity target.
"""

from __future__ import annotations

import torch

from ..errors import UnsupportedOperationError
from .base import MethodMaps, method_params, register, require_gradients
from .engine import BatchLoop, Timings
from .targets import SimilarityTarget

DEFAULTS = dict(threshold=None)


def contributions(model, e: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Per-dimension similarity contributions (B, d) whose sum is the similarity (cosine) or the
    negative squared distance (Euclidean)."""
    if model.config.similarity == "euclidean":
        return -(e - r) ** 2
    return torch.nn.functional.normalize(e, dim=-1) * torch.nn.functional.normalize(r, dim=-1)


def agreement_threshold(model, c: torch.Tensor, threshold) -> tuple[float, str]:
    """Per-dimension threshold t/d (or −t²/d) in contribution units, and where t came from."""
    d = c.shape[-1]
    euclid = model.config.similarity == "euclidean"
    t = threshold if threshold is not None else model.config.threshold
    if t is None:
        if euclid:
            return float(c.mean()), "pair mean"
        return 0.0, "zero"
    return (-(float(t) ** 2) / d if euclid else float(t) / d), ("given" if threshold is not None else "model")


@register("xssab", black_box=False)
def compute(model, chips: torch.Tensor, targets, *, seed: int = 0, progress=None, cancel=None,
            progress_interval: float = 0.25, **params) -> MethodMaps:
    """Combined xSSAB maps (K, h, w) and per chip ``positive`` / ``negative`` / ``combined`` extras.

    ``threshold``: the verification threshold in the model's native unit (default: the model's).
    """
    p = method_params("xssab", DEFAULTS, params)
    require_gradients(model, "xssab")
    for t in targets:
        if not isinstance(t, SimilarityTarget):
            raise UnsupportedOperationError("xssab explains a similarity: use explain_pair or target='similarity'")
    size = tuple(chips.shape[-2:])
    pos_maps = torch.zeros(len(chips), *size)
    neg_maps = torch.zeros(len(chips), *size)
    timings = Timings()
    info = []

    def step(start, stop):
        for i in range(start, stop):
            ref = targets[i].reference.to(chips.device)[None]
            with timings.phase("forward_backward", model.device), torch.enable_grad():
                x = chips[i:i + 1].detach().requires_grad_(True)
                e = model.forward_chips(x).float()
                c = contributions(model, e, ref.float())[0]
                thr, source = agreement_threshold(model, c.detach(), p["threshold"])
                agree = c.detach() >= thr
                (g_pos,) = torch.autograd.grad(c[agree].sum(), x, retain_graph=True, allow_unused=True)
                (g_neg,) = torch.autograd.grad(c[~agree].sum(), x, allow_unused=True)
            g_pos = torch.zeros_like(x) if g_pos is None else g_pos
            g_neg = torch.zeros_like(x) if g_neg is None else g_neg
            pos_maps[i] = g_pos.abs().mean(1)[0].detach().cpu()
            neg_maps[i] = g_neg.abs().mean(1)[0].detach().cpu()
            info.append({"agreeing_dims": int(agree.sum()), "dims": int(c.shape[0]),
                         "per_dim_threshold": thr, "threshold_from": source})

    BatchLoop(len(chips), 1, progress=progress, cancel=cancel, progress_interval=progress_interval,
              timings=timings, maps_fn=lambda: (pos_maps - neg_maps).numpy().copy()).run(step)
    combined = pos_maps - neg_maps
    extra = [{"positive": pos_maps[i].numpy(), "negative": neg_maps[i].numpy(), "combined": combined[i].numpy()}
             for i in range(len(chips))]
    return MethodMaps(saliency=combined.numpy(), extra=extra, params={**p, "split": info},
                      timings=timings.as_dict(), done=len(chips), total=len(chips))
