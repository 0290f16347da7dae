"""Uncertainty maps (p_value, significant) and n="auto": checked against scipy by brute force, and
against synthetic models whose evidence is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

import facewidget as fw
from .explain_helpers import one_thread, pair_streams, photometric_copy, tiny_model
from facewidget.errors import ParameterError
from facewidget.explainers.base import get_method
from facewidget.explainers.engine import (MASK_BLOCK, AutoStop, MaskMoments, masks_for_range, run_masks,
                                       split_half_reliability)
from facewidget.explainers.masks import GridMasks, PatchMasks, SlidingWindows
from facewidget.explainers.targets import SimilarityTarget
from facewidget.explainers.uncertainty import (benjamini_hochberg, occlusion_p_values, occlusion_standard_error,
                                            pearson_p_values, rise_p_values, rise_standard_error)
from facewidget.evaluate.synthetic import region_mask, synthetic_model

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


def test_corrrise_p_values_equal_scipy_pearsonr_per_pixel():
    size, n, seed = 16, 120, 5
    model = tiny_model(size=size)
    source = PatchMasks((size, size), patches=3, patch=30)
    run = run_masks(model, pair_streams(model, size), source, n, seed=seed, keep_scores=True)
    p = pearson_p_values(run.moments.pearson(), run.n).numpy().reshape(2, -1)
    masks = masks_for_range(source, seed, 0, n, "cpu").reshape(n, -1).numpy()
    checked = 0
    for k in range(2):
        for u in range(0, size * size, 11):
            if masks[:, u].std() == 0:
                continue
            assert p[k, u] == pytest.approx(stats.pearsonr(masks[:, u], run.scores[k].numpy()).pvalue, rel=1e-6, abs=1e-12)
            checked += 1
    assert checked > 20
    assert 0 <= p.min() and p.max() <= 1


def test_rise_standard_error_is_the_slope_test_of_scipy_linregress():
    """RISE = cov(M, s) / mean(M): a rescaled slope of s on M(u); its t test is linregress's."""
    size, n = 12, 200
    model = tiny_model(size=size)
    source = GridMasks((size, size), cells=3)
    run = run_masks(model, pair_streams(model, size), source, n, seed=2, keep_scores=True)
    masks = masks_for_range(source, 2, 0, n, "cpu").double().reshape(n, -1).numpy()
    value = run.moments.rise().numpy().reshape(2, -1)
    se = rise_standard_error(run.moments).numpy().reshape(2, -1)
    p = rise_p_values(run.moments).numpy().reshape(2, -1)
    for k in range(2):
        s = run.scores[k].numpy()
        for u in range(0, size * size, 13):
            fit = stats.linregress(masks[:, u], s)
            scale = masks[:, u].var() / masks[:, u].mean()  # RISE = slope · var(M) / mean(M)
            assert value[k, u] == pytest.approx(fit.slope * scale, rel=1e-6, abs=1e-12)
            assert se[k, u] == pytest.approx(fit.stderr * scale, rel=1e-6)
            assert p[k, u] == pytest.approx(fit.pvalue, rel=1e-5, abs=1e-12)


def test_occlusion_p_values_are_one_sample_t_tests_of_the_covering_windows():
    size = 12
    model = tiny_model(size=size)
    streams = pair_streams(model, size)
    windows = SlidingWindows((size, size), window=5, stride=2)
    run = run_masks(model, streams, windows, keep_scores=True, score_squares=True)
    clean = torch.stack([st.score(model.embed(st.chip))[0] for st in streams]).double()
    drop = run.moments.occlusion_drop(clean)
    p = occlusion_p_values(run.moments, drop).numpy().reshape(2, -1)
    occ = (1 - masks_for_range(windows, 0, 0, windows.count, "cpu")).reshape(windows.count, -1).numpy() > 0.5
    for k in range(2):
        drops = clean[k].item() - run.scores[k].numpy()
        for u in range(0, size * size, 5):
            d = drops[occ[:, u]]
            if d.size < 2:  # a corner pixel under one window: nothing to test, p = 1
                assert p[k, u] == 1.0
                continue
            assert p[k, u] == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, rel=1e-5, abs=1e-12)
    se, k = occlusion_standard_error(run.moments)
    assert torch.all(k >= 1)


def test_benjamini_hochberg_matches_scipy_false_discovery_control():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=300), rng.uniform(0, 1e-3, size=60)]).reshape(2, 18, 10)
    ours = benjamini_hochberg(p, 0.05)
    for i in range(2):
        adjusted = stats.false_discovery_control(p[i].ravel(), method="bh")
        assert np.array_equal(ours[i].ravel(), adjusted <= 0.05)
    assert ours.sum() >= 60 * 0.9
    with pytest.raises(ParameterError):
        benjamini_hochberg(p, 1.5)


def test_split_half_reliability_is_spearman_brown():
    rng = np.random.default_rng(1)
    a = torch.as_tensor(rng.normal(size=(1, 20, 20)))
    b = a + torch.as_tensor(rng.normal(size=(1, 20, 20)))
    r = np.corrcoef(a.numpy().ravel(), b.numpy().ravel())[0, 1]
    assert split_half_reliability(a, b) == pytest.approx(2 * r / (1 + r))


def _quadrant_run(quadrant, size=48, **params):
    """CorrRISE for a single face on the synthetic region model: similarity of the perturbed chip to
    the clean chip's own embedding (evidence = the quadrant only)."""
    model = synthetic_model("region", quadrant=quadrant, size=size, seed=0)
    torch.manual_seed(3)
    chip = torch.rand(1, 3, size, size)
    with torch.no_grad():
        ref = model.embed(chip)[0]
    fn = get_method("corrrise")
    return fn(model, chip, [SimilarityTarget(model, ref)], seed=0, **params), size


def test_quadrant_evidence_is_flagged_and_the_ignored_region_is_not():
    """Evidence in one quadrant: >= 80 % of it significant; the region the model ignores
    (beyond a patch's reach of the quadrant, where the masks of both are independent): <= 5 %."""
    res, size = _quadrant_run("top-left", n=1500, patch=16)
    sig = res.extra[0]["significant"].astype(bool)
    quadrant = region_mask((size, size), "top-left").numpy().astype(bool)
    side = res.params["mask_source"]["patch_px"]
    ys, xs = np.mgrid[:size, :size]
    far = (ys >= size // 2 + side) | (xs >= size // 2 + side)  # every patch over these misses the quadrant
    assert sig[quadrant].mean() >= 0.8
    assert sig[far].mean() <= 0.05
    assert res.params["fdr"] == 0.05
    p = res.extra[0]["p_value"]
    assert p.dtype == np.float32 and p.shape == (size, size) and 0 <= p.min() and p.max() <= 1


def test_n_auto_stops_on_reliability_and_is_reproducible():
    res, _ = _quadrant_run("bottom-right")
    again, _ = _quadrant_run("bottom-right")
    assert res.params["n"] == "auto"
    assert res.reliability >= 0.95 and res.done < res.total == 8000
    assert res.done % 64 == 0
    assert again.done == res.done and np.array_equal(again.saliency, res.saliency)
    small_batches, _ = _quadrant_run("bottom-right", batch_size=8)
    assert small_batches.done == res.done
    np.testing.assert_allclose(small_batches.saliency, res.saliency, atol=1e-5)


def test_n_auto_reports_reliability_live_and_in_the_manifest(sample_images, sample_faces):
    img = sample_images["obama"]
    face = sample_faces["obama"][0]
    model = synthetic_model("grid", size=48)
    updates = []
    res = fw.explain_pair(img, photometric_copy(img), model, faces=(face, face), progress=updates.append,
                          progress_interval=0.0, n_max=640)
    rel = [u.reliability for u in updates if u.reliability is not None]
    assert rel and rel[-1] == pytest.approx(res.manifest["reliability"], abs=1e-6)
    assert res.manifest["n_used"] == updates[-1].done <= 640
    assert set(updates[-1].maps["a"]) >= {"similar", "dissimilar", "p_value", "significant"}
    for side in (res.a, res.b):
        assert set(side.maps) >= {"p_value", "significant"}
        assert set(np.unique(side.maps["significant"])) <= {0.0, 1.0}
    assert res.manifest["params"]["fdr"] == 0.05


def test_auto_parameters_are_checked():
    model = tiny_model(size=16)
    fn = get_method("corrrise")
    chips = torch.rand(1, 3, 16, 16)
    tgt = [SimilarityTarget(model, model.embed(chips)[0])]
    for bad in (dict(n="many"), dict(n=1), dict(reliability=1.5), dict(n_max=4), dict(fdr=0.0)):
        with pytest.raises(ParameterError):
            fn(model, chips, tgt, **bad)


@pytest.mark.slow
def test_n_auto_on_a_real_genuine_pair_is_stable_and_cheap(sample_images, sample_faces):
    """obama / obama2 with dlib: n="auto" stops below 1000 masks at reliability >= 0.95, and its maps
    correlate >= 0.97 with an n = 8000 map of another seed made with the *plain* estimator
    (``controls=0``): the control variates change the variance, not what is estimated.

    Measured: stop at 256 masks, correlation 0.989 with that map (plain estimate at n = 768: 0.963)."""
    model = fw.load_model("dlib-resnet", device="cpu")
    a, b = sample_images["obama"], sample_images["obama2"]
    faces = (sample_faces["obama"][0], sample_faces["obama2"][0])
    auto = fw.explain_pair(a, b, model, faces=faces, seed=0)
    assert auto.manifest["n_used"] < 1000 and auto.manifest["reliability"] >= 0.95
    assert auto.manifest["params"]["n"] == "auto"
    assert auto.manifest["params"]["control_variates"]["count"] == 36
    ref = fw.explain_pair(a, b, model, faces=faces, seed=1, n=8000, controls=0)
    for side in ("a", "b"):
        x, y = getattr(auto, side).maps["signed"], getattr(ref, side).maps["signed"]
        assert np.corrcoef(x.ravel(), y.ravel())[0, 1] >= 0.97, side


def test_precision_is_float32_by_default_opt_in_lower_and_on_record(sample_images, sample_faces):
    from .explain_helpers import tiny_model

    img = sample_images["obama"]
    face = sample_faces["obama"][0]
    model = tiny_model(size=64)
    pair = dict(faces=(face, face), n=256, seed=0)
    fp32 = fw.explain_pair(img, photometric_copy(img), model, **pair)
    assert fp32.manifest["precision"] == "fp32"
    assert fp32.manifest["model"]["runtime"] == model.runtime_in_use  # black box at fp32: the fastest runtime
    bf16 = fw.explain_pair(img, photometric_copy(img), model, precision="bf16", **pair)
    assert bf16.manifest["precision"] == "bf16" and bf16.manifest["model"]["runtime"].startswith("torch")
    x, y = fp32.a.maps["signed"], bf16.a.maps["signed"]
    assert not np.array_equal(x, y)  # bf16 did run (its rounding shows) ...
    assert np.corrcoef(x.ravel(), y.ravel())[0, 1] > 0.9  # ... and gives the same map
    grad = fw.explain_pair(img, photometric_copy(img), model, method="gradcam", faces=(face, face))
    assert grad.manifest["model"]["runtime"].startswith("torch") and grad.manifest["precision"] == "fp32"
    with pytest.raises(ParameterError):
        fw.explain_pair(img, img, model, faces=(face, face), n=16, precision="fp8")
