"""The streaming engine: exact statistics, reproducibility, progress, cancel, memory independent of N."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr

import facewidget as fw
from .explain_helpers import one_thread, CountingModel, pair_streams, photometric_copy, tiny_model
from facewidget.explainers.engine import (MASK_BLOCK, ExplanationCancelled, MaskMoments, masks_for_range,
                                       rank_pass, run_masks)
from facewidget.explainers.masks import GridMasks, PatchMasks, SlidingWindows


_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)

@pytest.fixture(scope="module")
def pair(sample_images, sample_faces):
    img = sample_images["obama"]
    face = sample_faces["obama"][0]
    return img, photometric_copy(img), face


def test_running_sums_equal_per_pixel_pearson_and_spearman():
    """The O(h·w) running sums give exactly scipy's per-pixel Pearson and (binary masks) Spearman."""
    size, n, seed = 16, 96, 3
    model = tiny_model(size=size)
    streams = pair_streams(model, size)
    source = PatchMasks((size, size), patches=3, patch=30)
    run = run_masks(model, streams, source, n, seed=seed, keep_scores=True)
    masks = masks_for_range(source, seed, 0, n, "cpu").reshape(n, -1).numpy()
    scores = run.scores.numpy()
    pear = run.moments.pearson().numpy().reshape(2, -1)
    spear = rank_pass(run, source, seed=seed).numpy().reshape(2, -1)
    for k in range(2):
        for u in range(0, size * size, 7):
            if masks[:, u].std() == 0:
                continue
            assert pear[k, u] == pytest.approx(pearsonr(masks[:, u], scores[k]).statistic, abs=1e-9)
            assert spear[k, u] == pytest.approx(spearmanr(masks[:, u], scores[k]).statistic, abs=1e-9)


def test_rise_and_occlusion_moments_match_direct_formulas():
    size, n = 12, 40
    model = tiny_model(size=size)
    streams = pair_streams(model, size)
    source = GridMasks((size, size), cells=3)
    run = run_masks(model, streams, source, n, seed=0, keep_scores=True)
    m = masks_for_range(source, 0, 0, n, "cpu").double()
    s = run.scores
    direct = torch.einsum("kb,bhw->khw", s, m) / m.sum(0) - s.mean(1)[:, None, None]
    assert torch.allclose(run.moments.rise(), direct, atol=1e-9)

    windows = SlidingWindows((size, size), window=4, stride=4)
    run = run_masks(model, streams, windows, keep_scores=True)
    occ = 1 - masks_for_range(windows, 0, 0, windows.count, "cpu").double()
    clean = torch.stack([st.score(model.embed(st.chip)) [0] for st in streams]).double()
    drop = torch.einsum("kb,bhw->khw", clean[:, None] - run.scores, occ) / occ.sum(0)
    assert torch.allclose(run.moments.occlusion_drop(clean), drop, atol=1e-9)


def test_masks_are_reproducible_and_independent_of_batch_size():
    source = PatchMasks((20, 20))
    a = masks_for_range(source, 7, 0, 40, "cpu")
    b = torch.cat([masks_for_range(source, 7, 0, 16, "cpu"), masks_for_range(source, 7, 16, 40, "cpu")])
    assert torch.equal(a, b)
    assert not torch.equal(a, masks_for_range(source, 8, 0, 40, "cpu"))
    # every pixel is occluded about equally often (corners too)
    cover = 1 - masks_for_range(source, 0, 0, 4000, "cpu").mean(0)
    assert cover.min() > 0.6 * cover.max()


def test_same_seed_gives_identical_maps(pair):
    img_a, img_b, face = pair
    model = fw.evaluate.synthetic_model("grid", size=48)
    run = lambda seed, bs: fw.explain_pair(img_a, img_b, model, faces=(face, face), n=160, seed=seed, batch_size=bs)
    first, again, other_batch, other_seed = run(0, 16), run(0, 16), run(0, 48), run(1, 16)
    for key in ("a", "b"):
        for name in ("similar", "dissimilar"):
            x = getattr(first, key).maps[name]
            assert np.array_equal(x, getattr(again, key).maps[name])
            np.testing.assert_allclose(x, getattr(other_batch, key).maps[name], atol=1e-5)
            assert not np.allclose(x, getattr(other_seed, key).maps[name], atol=1e-3)
    assert first.manifest["seed"] == 0 and other_seed.manifest["seed"] == 1


def test_progress_counts_increase_and_carry_live_maps(pair):
    img_a, img_b, face = pair
    base = fw.evaluate.synthetic_model("grid", size=48)
    model = CountingModel(base.network, base.config, device="cpu")
    updates, chips_run_at_update = [], []

    def progress(update):
        updates.append(update)
        chips_run_at_update.append(model.chips_seen)

    res = fw.explain_pair(img_a, img_b, model, faces=(face, face), n=200, batch_size=32, progress=progress,
                          progress_interval=0)
    done = [u.done for u in updates]
    assert done[0] == MASK_BLOCK and done[-1] == 200 and all(x < y for x, y in zip(done, done[1:]))
    assert all(u.total == 200 for u in updates)
    last = updates[-1].maps
    assert set(last) == {"a", "b"} and set(last["a"]) == {"similar", "dissimilar", "p_value", "significant"}
    for name in ("similar", "p_value", "significant"):
        np.testing.assert_allclose(last["a"][name], res.a.maps[name], atol=1e-6)
    # order, not speed: the first update comes after the first block of masks, long before the work
    # is done; and the moment it came is recorded in the manifest
    assert 0 < chips_run_at_update[0] < chips_run_at_update[-1] <= model.chips_seen
    assert chips_run_at_update[0] <= 2 * MASK_BLOCK + 2  # one block per face (+ the clean chips)
    assert "first_progress_s" in res.manifest["timings"]["method"]


def test_progress_is_throttled(pair):
    img_a, img_b, face = pair
    model = fw.evaluate.synthetic_model("grid", size=48)
    updates = []
    fw.explain_pair(img_a, img_b, model, faces=(face, face), n=400, batch_size=8, progress=updates.append,
                    progress_interval=3600)
    assert [u.done for u in updates] == [MASK_BLOCK, 400]  # the first batch and the end only


def test_cancel_stops_within_one_batch_and_returns_partial(pair):
    img_a, img_b, face = pair
    base = fw.evaluate.synthetic_model("grid", size=48)
    model = CountingModel(base.network, base.config, device="cpu")
    stop = threading.Event()
    seen = []

    def progress(update):
        seen.append(update.done)
        if update.done >= 40:
            stop.set()

    with pytest.raises(fw.CancelledError) as info:
        fw.explain_pair(img_a, img_b, model, faces=(face, face), n=4000, batch_size=32, progress=progress,
                        cancel=stop, progress_interval=0)
    err = info.value
    assert isinstance(err, ExplanationCancelled)
    assert err.done == seen[-1] and seen[-1] < 40 + 32  # stopped right after the batch that set the event
    # forwards: 2 embeddings for the pair + 2 chips per mask actually run
    assert model.chips_seen == 2 + 2 * err.done
    partial = err.partial
    assert isinstance(partial, fw.PairExplanation) and partial.manifest["cancelled"]
    assert partial.manifest["done"] == err.done and partial.manifest["total"] == 4000
    assert np.isfinite(partial.a.maps["similar"]).all()


def test_cancel_callable_before_start_gives_no_partial(pair):
    img_a, img_b, face = pair
    model = fw.evaluate.synthetic_model("grid", size=48)
    with pytest.raises(ExplanationCancelled) as info:
        fw.explain_pair(img_a, img_b, model, faces=(face, face), n=100, cancel=lambda: True)
    assert info.value.partial is None and info.value.done == 0


_MEMORY_SCRIPT = """
import json, sys
sys.path.insert(0, "tests")
import torch
from explain_helpers import rss_bytes, tiny_model
from facewidget.explainers.engine import Stream, run_masks
from facewidget.explainers.masks import PatchMasks
from facewidget.explainers.targets import SimilarityTarget
size = 112
model = tiny_model(size=size)
torch.manual_seed(1)
chips = torch.rand(2, 3, size, size)
emb = model.embed(chips)
streams = [Stream(chips[0], SimilarityTarget(model, emb[1])), Stream(chips[1], SimilarityTarget(model, emb[0]))]
source = PatchMasks((size, size))
out = {}
for spearman in (False, True):
    for n in (400, 400, 4000):
        base = rss_bytes()
        peak = [base]
        run_masks(model, streams, source, n, seed=0, batch_size=64, keep_scores=spearman,
                  progress=lambda u: peak.append(rss_bytes()), progress_interval=0)
        out[f"{spearman}-{n}"] = max(peak) - base
print(json.dumps(out))
"""


def test_memory_does_not_grow_with_n():
    """Peak RSS growth during a run at N=4000 vs N=400 (Pearson and Spearman). Keeping the masks
    (4000 × 112 × 112 float32 = 200 MB) or per-mask maps could not stay within 30 MB.

    Runs in a fresh interpreter with glibc's mmap threshold fixed, so freed batch buffers go back to
    the OS and RSS measures live memory instead of allocator fragmentation."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536",
           "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=300, check=True)
    growth = json.loads(done.stdout.strip().splitlines()[-1])
    for mode in ("False", "True"):
        small, large = growth[f"{mode}-400"], growth[f"{mode}-4000"]
        assert large - small < 30 * 2**20, growth


def test_moments_shapes_do_not_depend_on_n():
    mom = MaskMoments(2, (10, 10), "cpu")
    for _ in range(5):
        mom.add(torch.rand(8, 10, 10), torch.rand(2, 8))
    assert mom.n == 40 and mom.sum_ms.shape == (2, 10, 10) and mom.sum_s.shape == (2,)
