"""CorrRISE's control variates (facewidget/explainers/controls.py): exact covariances, the same
estimand as the plain estimate, less variance, calibrated p-values, and the manifest."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .explain_helpers import one_thread, pair_streams, tiny_model
from facewidget.errors import ParameterError
from facewidget.explainers.base import get_method
from facewidget.explainers.controls import (control_design, controlled_correlation, controlled_rise, explained_share,
                                           poisson_patch_design)
from facewidget.explainers.engine import MaskMoments, masks_for_range, run_masks
from facewidget.explainers.masks import GridMasks, PatchMasks
from facewidget.explainers.targets import CallableTarget

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)

SIZE = (24, 20)


def _source(seed=0, kind="patches"):
    if kind == "grid":
        return GridMasks(SIZE, cells=4, keep=0.5)  # 6×5-pixel cells, bilinear, shifted
    return PatchMasks(SIZE, patches=3, patch=8 * 112 / 20, seed=seed)  # 8-pixel squares


def _design(src, cells=4):
    return control_design(src, cells)


@pytest.mark.parametrize("kind", ["patches", "grid"])
def test_exact_covariances_equal_a_monte_carlo_of_the_masks(kind):
    src = _source(kind=kind)
    design = _design(src)
    n = 60000
    m = masks_for_range(src, 7, 0, n, "cpu").reshape(n, -1).double()
    x = 1 - m @ design.weights.T
    mc, xc = m - m.mean(0), x - x.mean(0)
    empirical = (xc.T @ mc / n).reshape(design.cov_mx.shape)
    scale = float(design.cov_mx.abs().max())
    # Monte Carlo standard error here is about 0.004 of the scale; a wrong kernel (a missing factor,
    # a shifted window) is off by far more
    assert float((empirical - design.cov_mx).abs().max()) < 0.02 * scale
    assert float(((empirical - design.cov_mx) ** 2).mean().sqrt()) < 0.008 * scale
    assert float(mc.pow(2).mean()) == pytest.approx(float(design.var_m.mean()), rel=0.01)
    assert float((mc.pow(2).mean(0).reshape(SIZE) - design.var_m).abs().max()) < 0.02 * float(design.var_m.max())
    assert float((m.mean(0).reshape(SIZE) - design.mean_m).abs().max()) < 0.02
    # the weights are each cell's occluded fraction: they sum to one over the cell
    assert torch.allclose(design.weights.sum(1), torch.ones(16, dtype=torch.float64))


def _evidence_scores(masks: torch.Tensor, generator) -> torch.Tensor:
    """A nonlinear score that depends only on the top-left 8×8 corner and two pixels on the right."""
    corner = 1 - masks[:, :8, :8].mean((1, 2))
    side = 1 - masks[:, 4, 16] * masks[:, 12, 17]
    noise = 0.05 * torch.randn(masks.shape[0], generator=generator, dtype=torch.float64)
    return (torch.tanh(3 * corner) + 0.4 * side + noise)[None]


def _moments(seed, n, kind="patches", cells=4):
    src = _source(seed, kind)
    mom = MaskMoments(1, SIZE, "cpu", controls=_design(src, cells))
    masks = masks_for_range(src, seed, 0, n, "cpu").double()
    mom.add(masks, _evidence_scores(masks, torch.Generator().manual_seed(seed)))
    return mom


@pytest.mark.parametrize("kind, plain_fn, controlled_fn", [
    ("patches", lambda m: m.pearson(), controlled_correlation),  # CorrRISE
    ("grid", lambda m: m.pearson(), controlled_correlation),     # CorrRISE with RISE masks
    ("grid", lambda m: m.rise(), controlled_rise),               # RISE
])
def test_same_estimand_as_the_plain_estimate_with_less_variance(kind, plain_fn, controlled_fn):
    """Over 40 seeds the controlled and the plain maps have the same mean (the control term has
    expectation zero), and the controlled maps scatter less around it."""
    plain, ctrl = [], []
    for seed in range(40):
        mom = _moments(seed, 240, kind)
        plain.append(plain_fn(mom)[0].numpy())
        ctrl.append(controlled_fn(mom)[0][0].numpy())
    plain, ctrl = np.array(plain), np.array(ctrl)
    se = np.sqrt((plain.var(0) + ctrl.var(0)) / 40)
    z = (plain.mean(0) - ctrl.mean(0)) / se
    assert np.abs(z).mean() < 1.0 and np.abs(z).max() < 5.0
    assert ctrl.var(0).mean() < 0.5 * plain.var(0).mean()
    assert explained_share(mom)[0] > 0.5


def test_p_values_are_uniform_where_the_scores_do_not_depend_on_the_mask():
    """Pixels more than a square away from all evidence are independent of the score: over 300
    seeds their p-values are uniform (5 % below 0.05, binomial bounds at about 4 sigma).
    (Patch masks: a pixel's mask value is independent of every pixel a square away; grid masks
    correlate over the whole bilinear grid, so they have no such null pixel.)"""
    far = [(20, 3), (22, 10)]  # > 8 px from the corner and from the two right-hand pixels
    near = (4, 4)
    hits, near_hits = np.zeros(len(far)), 0
    for seed in range(300):
        mom = _moments(seed, 160)
        _, p = controlled_correlation(mom)
        hits += [float(p[0, y, x] < 0.05) for y, x in far]
        near_hits += float(p[0, near[0], near[1]] < 0.05)
    rate = hits / 300
    assert np.all(rate > 0.01) and np.all(rate < 0.11), rate
    assert near_hits / 300 > 0.9


def test_corrrise_uses_controls_by_default_and_records_them():
    model = tiny_model(size=32)
    chips = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    target = CallableTarget(lambda out: out[:, 0])
    fn = get_method("corrrise")
    res = fn(model, chips, [target], seed=1, n=300)
    cv = res.params["control_variates"]
    assert cv["cells"] == 6 and cv["count"] == 36 and 0 <= cv["explained_variance"][0] <= 1
    plain = fn(model, chips, [target], seed=1, n=300, controls=0)
    assert plain.params["control_variates"] is None
    assert not np.array_equal(plain.saliency, res.saliency)
    grid = fn(model, chips, [target], seed=1, n=300, masks="grid")
    assert grid.params["control_variates"]["count"] == 36
    rise = get_method("rise")(model, chips, [target], seed=1, n=300)
    assert rise.params["control_variates"]["count"] == 36
    assert get_method("rise")(model, chips, [target], seed=1, n=300, controls=0).params["control_variates"] is None
    # designs without exact covariances use the plain estimate, and say so
    for params in (dict(patch_count="fixed"), dict(placement="sobol"), dict(correlation="spearman")):
        assert fn(model, chips, [target], seed=1, n=64, **params).params["control_variates"] is None, params
    for bad in (-1, 1.5, "6", True, 33):
        with pytest.raises(ParameterError) as err:
            fn(model, chips, [target], seed=1, n=64, controls=bad)
        assert err.value.name == "controls"


def test_partitioned_runs_merge_to_the_same_controlled_map():
    """The control sums merge like the other moments: four quarters merged = one run."""
    model = tiny_model(size=24)
    streams = pair_streams(model, 24)
    src = PatchMasks((24, 24), patches=4, patch=30)
    design = poisson_patch_design((24, 24), src.side, src.patches, cells=3)
    whole = run_masks(model, streams, src, 256, seed=4, controls=design)
    parts = [MaskMoments(2, (24, 24), "cpu", shift=whole.moments.shift, controls=design) for _ in range(4)]
    masks = masks_for_range(src, 4, 0, 256, "cpu")
    from facewidget.explainers.engine import forward_scores

    scores = forward_scores(model, streams, masks)
    for i, part in enumerate(parts):
        part.add(masks[i::4], scores[:, i::4])
    merged = MaskMoments.merged(parts)
    a, pa = controlled_correlation(whole.moments)
    b, pb = controlled_correlation(merged)
    assert torch.allclose(a, b, atol=1e-9) and torch.allclose(pa, pb, atol=1e-9)
