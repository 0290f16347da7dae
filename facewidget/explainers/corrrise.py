"""CorrRISE (Lu, Xu, Ebrahimi, WACV 2024): per-pixel correlation between random masks and scores.

For a pair (A, B): N masks M_i over A, s_i = similarity(f(A·M_i), f(B)); the signed map is
corr_i(M_i(u), s_i) per pixel u; ``similar = max(corr, 0)``, ``dissimilar = max(-corr, 0)``; the
same for B against f(A). A and B are perturbed with the same masks in the same forward batch.
For a single face, s_i is any target (class logit, expected age, similarity to a reference).

Computed by :mod:`facewidget.explainers.engine` as running sums (O(h·w) memory whatever N), so the
maps can be shown live. Black box: only the model's outputs are used.

Defaults (ours; the paper leaves them open within these ranges):
    ``n="auto"``: masks stream until the split-half reliability of the signed maps (two interleaved
    halves of the masks, Spearman–Brown corrected; see :class:`~facewidget.explainers.engine.AutoStop`)
    reaches ``reliability=0.95``, checked every 64 masks from 128 on, at most ``n_max=8000``;
    an int gives a fixed count (500..8000+). Masks = "patches" with a Poisson number (mean 5) of
    squares of 30 px at 112×112 (40 px at dlib's 150×150) per mask (``patch_count="fixed"`` for
    exactly 5: see :class:`~facewidget.explainers.masks.PatchMasks` for why not by default), occluded pixels black (``fill=0``), Pearson correlation.
    ``masks="grid"`` uses RISE masks (``cells`` = 7, ``keep`` = 0.5) instead;
    ``correlation="spearman"`` correlates with the scores' ranks (see the engine's module doc).
    ``controls=6``: the Pearson map is estimated with control variates — the occluded fractions of
    a 6×6 grid of cells, with their exact covariances — which keeps the estimand and removes most
    of the variance (about 8× fewer masks for the same map on a dlib pair; see
    :mod:`facewidget.explainers.controls`). Poisson squares at random places and grid masks have
    the closed form; other placements, a fixed count and Spearman use the plain estimate
    (``controls=0`` asks for it), and ``params["control_variates"]`` records which ran.

Uncertainty: per pixel, ``p_value`` of the correlation test with the n masks (plain estimate:
t = r·sqrt((n − 2) / (1 − r²)), two-sided; for Spearman the same test on the ranks, as scipy's
``spearmanr``; with control variates the t test of the module :mod:`~facewidget.explainers.controls`) and
``significant`` = Benjamini–Hochberg at ``fdr=0.05`` over the chip's pixels (extra maps, also in
the live progress maps).
"""

from __future__ import annotations

import torch

from ..errors import ParameterError
from .base import MethodMaps, method_params, register, resolve_fill
from .engine import AutoStop, ExplanationCancelled, MaskRun, Stream, rank_pass, run_masks
from .masks import GridMasks, PatchMasks
from .controls import DEFAULT_CELLS, control_design, control_record, controlled_correlation
from .uncertainty import DEFAULT_FDR, check_fdr, live_maps, pearson_p_values, resolve_n, significance_maps

DEFAULTS = dict(n="auto", reliability=0.95, n_max=8000, masks="patches", patches=5, patch=30.0, cells=7, keep=0.5,
                correlation="pearson", fill=0.0, fdr=DEFAULT_FDR, placement="random", patch_count="poisson",
                controls=DEFAULT_CELLS, batch_size=None)


def mask_source(size, masks: str, patches: int, patch: float, cells: int, keep: float, placement: str = "random",
                seed: int = 0, patch_count: str = "poisson"):
    if masks == "patches":
        return PatchMasks(size, patches=patches, patch=patch, placement=placement, seed=seed, count=patch_count)
    if masks == "grid":
        return GridMasks(size, cells=cells, keep=keep)
    raise ParameterError("masks", masks, "'patches' or 'grid'")


@register("corrrise", black_box=True)
def compute(model, chips: torch.Tensor, targets, *, seed: int = 0, progress=None, cancel=None,
            progress_interval: float = 0.25, **params) -> MethodMaps:
    """Signed CorrRISE maps (K, h, w) in [-1, 1] for ``chips`` (K, 3, h, w) and their targets, with
    ``p_value`` and ``significant`` extra maps per chip."""
    p = method_params("corrrise", DEFAULTS, params)
    if p["correlation"] not in ("pearson", "spearman"):
        raise ParameterError("correlation", p["correlation"], "'pearson' or 'spearman'")
    n = resolve_n(p["n"], p["reliability"], p["n_max"])
    fdr = check_fdr(p["fdr"])
    size = tuple(chips.shape[-2:])
    source = mask_source(size, p["masks"], int(p["patches"]), float(p["patch"]), int(p["cells"]), float(p["keep"]),
                         p["placement"], seed, p["patch_count"])
    streams = [Stream(chip, tgt, resolve_fill(p["fill"], chip)) for chip, tgt in zip(chips, targets)]
    design = control_design(source, p["controls"], p["correlation"])
    used = {**p, "mask_source": source.describe()}

    def signed(moments) -> torch.Tensor:
        """The signed maps: control-variate estimate where the design has one."""
        return moments.pearson() if design is None else controlled_correlation(moments, p_values=False)[0]

    def correlation(moments) -> tuple[torch.Tensor, torch.Tensor]:
        """The signed maps and their p-values."""
        corr, p_values = (moments.pearson(), None) if design is None else controlled_correlation(moments)
        return corr, pearson_p_values(corr, moments.n) if p_values is None else p_values

    auto = None if n is not None else AutoStop(signed, target=float(p["reliability"]), n_max=int(p["n_max"]))
    total = n if n is not None else int(p["n_max"])

    def maps_of(moments):
        return live_maps(*correlation(moments), fdr)

    def result(run: MaskRun, corr, p_values) -> MethodMaps:
        params = {**used, "control_variates": control_record(design, run.moments)}
        return MethodMaps(saliency=corr.float().cpu().numpy(), params=params, timings=run.timings.as_dict(),
                          done=run.n, total=total, extra=significance_maps(p_values, fdr),
                          reliability=run.reliability)

    try:
        run = run_masks(model, streams, source, n, seed=seed, batch_size=p["batch_size"], progress=progress,
                        cancel=cancel, progress_interval=progress_interval,
                        keep_scores=p["correlation"] == "spearman", maps_fn=maps_of, auto=auto, controls=design)
    except ExplanationCancelled as stop:
        if stop.partial is not None:  # a cancelled run returns the Pearson maps of the masks seen so far
            stop.partial = result(stop.partial, *correlation(stop.partial.moments))
        raise
    if p["correlation"] == "spearman":
        corr = rank_pass(run, source, seed=seed, cancel=cancel)
        return result(run, corr, pearson_p_values(corr, run.n))
    return result(run, *correlation(run.moments))
