"""analyze(): the paper's finding on real photos, streaming = batch statistics, determinism, canonical variant.

Activation maps here are Grad-CAM of dlib-resnet's embedding projection (one forward + backward per
face; Score-CAM would need 128 forward passes per face at the default layer).
"""

from __future__ import annotations

import numpy as np
import pytest

import facewidget as fw
from facewidget.errors import ParameterError, ShapeError
from facewidget.quality import DegradationGenerator, activation_maps, analyze, as_face_batch

PHOTOS = ["obama", "obama2", "obama3", "biden", "astronaut", "obama_partial_face"]


@pytest.fixture(scope="module")
def model():
    return fw.load_model("dlib-resnet", device="cpu")


@pytest.fixture(scope="module")
def quality_set(sample_images, sample_faces):
    gen = DegradationGenerator(seed=0, kinds=["blur", "noise", "jpeg", "low_light", "downscale"], severity=(0.8, 1.0))
    return gen.build({n: sample_images[n] for n in PHOTOS}, {n: sample_faces[n][0] for n in PHOTOS})


@pytest.fixture(scope="module")
def analysis(quality_set, model):
    return analyze(quality_set, fiqa=["sharpness", "brisque"], model=model, quantile=0.3, maps="gradcam",
                   canonical="mediapipe", batch_size=12, seed=0)


def test_low_quality_set_varies_more_outside_the_central_face(analysis, quality_set):
    """Fu et al.'s finding: the low-quality set's AM-V outside the central face exceeds the high set's."""
    res = analysis.chip["sharpness"]
    assert res.high.count == res.low.count == int(np.floor(0.3 * len(quality_set)))  # floor(q·N), disjoint
    kinds_low = [quality_set[i].kind for i in res.low.indices]
    assert "clean" not in kinds_low  # the split is a quality split
    outside_high = res.region["high"]["am_v_outside"]
    outside_low = res.region["low"]["am_v_outside"]
    assert outside_low > 1.2 * outside_high, (outside_low, outside_high)
    region = analysis.region_mask > 0.5
    assert 0.2 < region.mean() < 0.8  # the face oval covers the middle of the chip, not all of it
    assert region[75, 75] and not region[0, 0]


def test_analysis_products_have_the_documented_shapes_and_ranges(analysis, quality_set):
    n = len(quality_set)
    assert analysis.ids[0] == f"{quality_set[0].source}/clean"
    assert set(analysis.scores) == {"sharpness", "brisque"}
    assert analysis.scores["brisque"]["brisque"].shape == (n,)
    for res in analysis.chip.values():
        for s in (res.high, res.low):
            for arr in (s.mean, s.median, s.std, s.robust_std):
                assert arr.shape == (150, 150) and np.all(np.isfinite(arr))
            assert 0 <= s.mean.min() and s.mean.max() <= 1
        assert res.d_am_v.max() == pytest.approx(1.0) and res.d_am_v.min() >= 0
        np.testing.assert_allclose(res.symmetric_deviation, np.fliplr(res.symmetric_deviation))
        np.testing.assert_allclose(res.profiles["low"]["rows"].sum(), res.low.std.sum())
        np.testing.assert_allclose(res.profiles["high"]["cols"], res.high.std.sum(0))
        grid = res.kde["grid"]
        for key in ("high", "low"):  # densities integrate to ~1 over the grid
            assert np.trapezoid(res.kde[key], grid) == pytest.approx(1.0, abs=0.02)
        assert res.high.threshold >= res.low.threshold
    inter = analysis.inter_fiqa["chip"]
    assert inter["methods"] == ["sharpness", "brisque"]
    for key in ("score_spearman", "high_jaccard", "low_jaccard", "am_v_low_correlation", "mam_high_correlation"):
        m = inter[key]
        assert m.shape == (2, 2) and np.allclose(m, m.T) and np.allclose(np.diag(m), 1)
    assert inter["score_spearman"][0, 1] > 0.3  # two sharpness-sensitive methods agree
    manifest = analysis.manifest
    assert manifest["maps"]["method"] == "gradcam" and manifest["maps"]["weights_sha256"]
    assert manifest["fiqa"][1]["name"] == "brisque" and manifest["seed"] == 0


def test_single_image_deviation_and_canonical_variant(analysis, quality_set):
    res = analysis.chip["sharpness"]
    i = int(res.low.indices[0])
    dev = analysis.deviation(i, "sharpness")
    assert dev.shape == (150, 150) and dev.max() == pytest.approx(1.0) and dev.min() >= 0
    can = analysis.canonical["sharpness"]  # MediaPipe's canonical face, 64×64 uv texture
    assert can.high.mean.shape == (64, 64) and can.profiles is not None
    assert can.high.indices.tolist() == res.high.indices.tolist()
    seen = np.isfinite(can.high.mean)
    assert 0.3 < seen.mean() < 1.0  # texels outside the uv atlas are never observed (NaN), not zero
    assert np.isfinite(can.low.std[seen]).all() and np.isfinite(can.high.std[seen]).all()
    sym = can.symmetric_deviation
    assert sym.shape == (64, 64) and np.all(sym[np.isfinite(sym)] >= 0)
    assert np.nanmax(can.d_am_v) == pytest.approx(1.0)
    tex_dev = analysis.deviation(i, "sharpness", space="canonical")
    assert tex_dev.shape == (64, 64) and np.nanmax(tex_dev) == pytest.approx(1.0)
    assert analysis.inter_fiqa["canonical"]["methods"] == ["sharpness", "brisque"]


def test_streaming_analysis_equals_batch_numpy_and_is_deterministic(quality_set, model):
    items = as_face_batch(quality_set[:8])  # one FaceBatch: its chips are aligned once for all three runs
    a = analyze(items, fiqa=["ser-fiq", "sharpness"], model=model, quantile=0.25, batch_size=3, seed=0, maps="gradcam")
    b = analyze(items, fiqa=["ser-fiq", "sharpness"], model=model, quantile=0.25, batch_size=3, seed=0, maps="gradcam")
    maps = activation_maps(items, model, "gradcam")
    for name in ("ser-fiq", "sharpness"):
        ra, rb = a.chip[name], b.chip[name]
        np.testing.assert_array_equal(a.scores[name][next(iter(a.scores[name]))],
                                      b.scores[name][next(iter(b.scores[name]))])
        np.testing.assert_allclose(ra.kde["low"], rb.kde["low"], rtol=1e-4)
        for label in ("high", "low"):
            sa, sb = ra.set(label), rb.set(label)
            np.testing.assert_array_equal(sa.indices, sb.indices)
            # same seed → same split and statistics (Grad-CAM's CPU backward differs by ~1e-9 between runs)
            for key in ("mean", "std"):
                np.testing.assert_allclose(getattr(sa, key), getattr(sb, key), rtol=0, atol=1e-6)
            stack = maps[sa.indices].astype(np.float64)
            np.testing.assert_allclose(sa.mean, stack.mean(0), atol=1e-6)
            np.testing.assert_allclose(sa.std, stack.std(0), atol=1e-6)
            srt = np.sort(stack, 0)
            k = len(stack)
            lo, hi = srt[(k + 1) // 2 - 1], srt[k // 2]
            assert np.all(sa.median >= lo - 0.01 - 1e-6) and np.all(sa.median <= hi + 0.01 + 1e-6)


def test_bad_arguments_raise_named_errors(quality_set, model):
    with pytest.raises(ShapeError):
        analyze(quality_set[:4], fiqa=["sharpness"], model=None)
    with pytest.raises(ParameterError, match="quantile"):
        analyze(quality_set[:4], fiqa=["sharpness"], model=model, quantile=0.8)
    with pytest.raises(ShapeError):
        analyze(quality_set[:4], fiqa=["sharpness"], model=model, quantile=0.3)  # 1 image per set
