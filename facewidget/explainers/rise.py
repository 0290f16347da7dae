"""RISE (Petsiuk, Das, Saenko, BMVC 2018) with any target, e.g. similarity to the other face.

N random grid masks (``cells``×``cells``, cell kept with probability ``keep``, bilinear upsampling,
random shift). RISE's importance is Σ s_i·M_i(u) / (N·E[M]); we compute
Σ s_i·M_i(u) / Σ_i M_i(u) − mean(s) = E[s | u kept] − E[s]: the per-pixel normalisation removes
coverage noise that otherwise swamps similarity targets (see :meth:`MaskMoments.rise`), and the
offset makes the map signed (positive = keeping the pixel raises the target above its average).
Black box; streamed by the engine (O(h·w) memory).

Defaults: ``n="auto"`` (masks stream until the split-half reliability of the maps reaches
``reliability=0.95``, at most ``n_max=8000``; see :class:`~facewidget.explainers.engine.AutoStop`),
cells = 7, keep = 0.5, occluded pixels black (fill = 0).

``controls=6`` (default): the map is estimated with control variates — the occluded fractions of a
6×6 grid of cells, whose exact covariances with every pixel follow from the mask design — which
keeps the estimand (E[s | u kept] − E[s] = cov(M(u), s) / E[M(u)]) and removes most of its
variance; ``controls=0`` gives the plain estimate. See :mod:`facewidget.explainers.controls`.

Uncertainty: ``p_value`` per pixel from the map's standard error (plain: the map is a rescaled
least-squares slope of s on M(u), see :mod:`facewidget.explainers.uncertainty`; with control
variates: the t test of cov*), ``significant`` = Benjamini–Hochberg at ``fdr=0.05``.
"""

from __future__ import annotations

import torch

from .base import MethodMaps, method_params, register, resolve_fill
from .engine import AutoStop, ExplanationCancelled, Stream, run_masks
from .controls import DEFAULT_CELLS, control_design, control_record, controlled_rise
from .masks import GridMasks
from .uncertainty import DEFAULT_FDR, check_fdr, live_maps, resolve_n, rise_p_values, significance_maps

DEFAULTS = dict(n="auto", reliability=0.95, n_max=8000, cells=7, keep=0.5, fill=0.0, fdr=DEFAULT_FDR,
                controls=DEFAULT_CELLS, batch_size=None)


@register("rise", black_box=True)
def compute(model, chips: torch.Tensor, targets, *, seed: int = 0, progress=None, cancel=None,
            progress_interval: float = 0.25, **params) -> MethodMaps:
    """Signed RISE maps (K, h, w) in target units for ``chips`` (K, 3, h, w), with ``p_value`` and
    ``significant`` extra maps per chip."""
    p = method_params("rise", DEFAULTS, params)
    n = resolve_n(p["n"], p["reliability"], p["n_max"])
    fdr = check_fdr(p["fdr"])
    source = GridMasks(tuple(chips.shape[-2:]), cells=int(p["cells"]), keep=float(p["keep"]))
    streams = [Stream(chip, tgt, resolve_fill(p["fill"], chip)) for chip, tgt in zip(chips, targets)]
    design = control_design(source, p["controls"])
    used = {**p, "mask_source": source.describe()}

    def signed(moments) -> torch.Tensor:
        return moments.rise() if design is None else controlled_rise(moments, p_values=False)[0]

    def with_p(moments) -> tuple[torch.Tensor, torch.Tensor]:
        value, p_values = (moments.rise(), None) if design is None else controlled_rise(moments)
        return value, rise_p_values(moments) if p_values is None else p_values

    auto = None if n is not None else AutoStop(signed, target=float(p["reliability"]), n_max=int(p["n_max"]))
    total = n if n is not None else int(p["n_max"])

    def result(run):
        value, p_values = with_p(run.moments)
        params = {**used, "control_variates": control_record(design, run.moments)}
        return MethodMaps(saliency=value.float().cpu().numpy(), params=params,
                          timings=run.timings.as_dict(), done=run.n, total=total,
                          extra=significance_maps(p_values, fdr), reliability=run.reliability)

    try:
        run = run_masks(model, streams, source, n, seed=seed, batch_size=p["batch_size"], progress=progress,
                        cancel=cancel, progress_interval=progress_interval, auto=auto, controls=design,
                        maps_fn=lambda m: live_maps(*with_p(m), fdr))
    except ExplanationCancelled as stop:
        if stop.partial is not None:
            stop.partial = result(stop.partial)
        raise
    return result(run)
