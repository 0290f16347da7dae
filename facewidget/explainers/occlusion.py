"""Sliding-window occlusion (Zeiler & Fergus 2014; x-face used windows of 7/14/28 px, stride 5).

Every ``window``×``window`` square (at ``stride``) is occluded once; map(u) = mean over the windows
covering u of (clean score − occluded score). Positive = hiding the region lowers the target (the
region supports it); negative = hiding it raises the target. Deterministic (no seed needed);
black box; streamed by the engine.

Defaults: window = 14 px and stride = 5 px at 112×112 (scaled to the chip: 19 / 7 at 150×150),
occluded pixels black (fill = 0).

Uncertainty: ``p_value`` per pixel from a one-sample t test of the drops of the windows covering
it (standard error from the running sums; see :mod:`facewidget.explainers.uncertainty`),
``significant`` = Benjamini–Hochberg at ``fdr=0.05``.
"""

from __future__ import annotations

import torch

from .base import MethodMaps, method_params, register, resolve_fill, scale_px
from .engine import ExplanationCancelled, Stream, autocast_context, run_masks
from .masks import SlidingWindows
from .uncertainty import DEFAULT_FDR, check_fdr, live_maps, occlusion_p_values, significance_maps

DEFAULTS = dict(window=None, stride=None, fill=0.0, fdr=DEFAULT_FDR, batch_size=None)


@register("occlusion", black_box=True)
def compute(model, chips: torch.Tensor, targets, *, seed: int = 0, progress=None, cancel=None,
            progress_interval: float = 0.25, **params) -> MethodMaps:
    """Signed occlusion maps (K, h, w) in target units for ``chips`` (K, 3, h, w)."""
    p = method_params("occlusion", DEFAULTS, params)
    fdr = check_fdr(p["fdr"])
    size = tuple(chips.shape[-2:])
    window = int(p["window"]) if p["window"] is not None else scale_px(14, size)
    stride = int(p["stride"]) if p["stride"] is not None else scale_px(5, size)
    source = SlidingWindows(size, window=window, stride=stride)
    streams = [Stream(chip, tgt, resolve_fill(p["fill"], chip)) for chip, tgt in zip(chips, targets)]
    with torch.no_grad(), autocast_context(model.device, None):
        out = model.forward_chips(chips).float()
    clean = torch.stack([tgt(out[i:i + 1])[0] for i, tgt in enumerate(targets)]).to(torch.float64)
    used = {**p, "window": window, "stride": stride, "mask_source": source.describe()}

    def drop_of(m):
        return m.occlusion_drop(clean.to(m.sum_m.device))

    def result(run):
        drop = drop_of(run.moments)
        return MethodMaps(saliency=drop.float().cpu().numpy(), params=used, timings=run.timings.as_dict(),
                          done=run.n, total=source.count,
                          extra=significance_maps(occlusion_p_values(run.moments, drop), fdr))

    def live(m):
        drop = drop_of(m)
        return live_maps(drop, occlusion_p_values(m, drop), fdr)

    try:
        run = run_masks(model, streams, source, seed=seed, batch_size=p["batch_size"], progress=progress,
                        cancel=cancel, progress_interval=progress_interval, maps_fn=live, score_squares=True)
    except ExplanationCancelled as stop:
        if stop.partial is not None:
            stop.partial = result(stop.partial)
        raise
    return result(run)
