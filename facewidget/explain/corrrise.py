"""CorrRISE (Lu, Xu, Ebrahimi, WACV 2024): per-pixel correlation between random masks and scores.

For a pair (A, B): N masks M_i over A, s_i = similarity(f(A·M_i), f(B)); the signed map is
corr_i(M_i(u), s_i) per pixel u; ``similar = max(corr, 0)``, ``dissimilar = max(-corr, 0)``; the
same for B against f(A). A and B are perturbed with the same masks in the same forward batch.
For a single face, s_i is any target (class logit, expected age, similarity to a reference).

Computed by :mod:`facewidget.explain.engine` as running sums (O(h·w) memory whatever N), so the
maps can be shown live. Black box: only the model's outputs are used.

Defaults (ours; the paper leaves them open within these ranges):
    n = 2000 masks (500..8000+ supported), masks = "patches" with 5 squares of 30 px at 112×112
    (40 px at dlib's 150×150) per mask, occluded pixels black (``fill=0``), Pearson correlation.
    ``masks="grid"`` uses RISE masks (``cells`` = 7, ``keep`` = 0.5) instead;
    ``correlation="spearman"`` correlates with the scores' ranks (see the engine's module doc).
"""

from __future__ import annotations

import torch

from .base import MethodMaps, method_params, register, resolve_fill
from .engine import ExplanationCancelled, MaskRun, Stream, rank_pass, run_masks
from .masks import GridMasks, PatchMasks
from ..errors import ParameterError

DEFAULTS = dict(n=2000, masks="patches", patches=5, patch=30.0, cells=7, keep=0.5, correlation="pearson",
                fill=0.0, batch_size=None)


def mask_source(size, masks: str, patches: int, patch: float, cells: int, keep: float):
    if masks == "patches":
        return PatchMasks(size, patches=patches, patch=patch)
    if masks == "grid":
        return GridMasks(size, cells=cells, keep=keep)
    raise ParameterError("masks", masks, "'patches' or 'grid'")


@register("corrrise", black_box=True)
def compute(model, chips: torch.Tensor, targets, *, seed: int = 0, progress=None, cancel=None,
            progress_interval: float = 0.25, **params) -> MethodMaps:
    """Signed CorrRISE maps (K, h, w) in [-1, 1] for ``chips`` (K, 3, h, w) and their targets."""
    p = method_params("corrrise", DEFAULTS, params)
    if p["correlation"] not in ("pearson", "spearman"):
        raise ParameterError("correlation", p["correlation"], "'pearson' or 'spearman'")
    n = int(p["n"])
    if n < 2:
        raise ParameterError("n", n, "an integer >= 2 (masks)")
    size = tuple(chips.shape[-2:])
    source = mask_source(size, p["masks"], int(p["patches"]), float(p["patch"]), int(p["cells"]), float(p["keep"]))
    streams = [Stream(chip, tgt, resolve_fill(p["fill"], chip)) for chip, tgt in zip(chips, targets)]
    used = {**p, "mask_source": source.describe()}

    def maps_of(moments):
        return moments.pearson().float().cpu().numpy()

    def result(run: MaskRun, corr) -> MethodMaps:
        return MethodMaps(saliency=corr.float().cpu().numpy(), params=used, timings=run.timings.as_dict(),
                          done=run.n, total=n)

    try:
        run = run_masks(model, streams, source, n, seed=seed, batch_size=p["batch_size"], progress=progress,
                        cancel=cancel, progress_interval=progress_interval,
                        keep_scores=p["correlation"] == "spearman", maps_fn=maps_of)
    except ExplanationCancelled as stop:
        if stop.partial is not None:  # a cancelled run returns the Pearson maps of the masks seen so far
            stop.partial = result(stop.partial, stop.partial.moments.pearson())
        raise
    if p["correlation"] == "spearman":
        corr = rank_pass(run, source, seed=seed, cancel=cancel)
    else:
        corr = run.moments.pearson()
    return result(run, corr)
