"""Streaming per-pixel statistics equal the batch numpy ones (mean/std exactly, median within one bin)."""

from __future__ import annotations

import numpy as np
import pytest

from facewidget.errors import ShapeError
from facewidget.quality import StreamingMapStats, split_by_quantile


def _maps(n, seed=0, shape=(12, 17)):
    rng = np.random.default_rng(seed)
    x = rng.beta(2.0, 5.0, (n, *shape))
    x[:, 0, 0] = 1.0  # the closed upper end of the range lands in the last bin
    x[:, 1, 1] = 0.0
    return x


@pytest.mark.parametrize("n, chunk", [(57, 10), (40, 7), (5, 1)])
def test_streaming_mean_std_equal_numpy_whatever_the_batching(n, chunk):
    x = _maps(n)
    acc = StreamingMapStats(x.shape[1:], bins=100)
    for i in range(0, n, chunk):
        acc.update(x[i:i + chunk])
    assert acc.count == n
    np.testing.assert_allclose(acc.mean, x.mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(acc.std, x.std(0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [57, 40])
def test_streaming_median_within_one_bin_of_the_middle_order_statistics(n):
    x = _maps(n, seed=3)
    acc = StreamingMapStats(x.shape[1:], bins=100)
    for i in range(0, n, 9):
        acc.update(x[i:i + 9])
    s = np.sort(x, axis=0)
    lo, hi = s[(n + 1) // 2 - 1], s[n // 2]
    w = acc.bin_width
    med = acc.median
    assert np.all(med >= lo - w - 1e-12) and np.all(med <= hi + w + 1e-12)
    if n % 2:  # odd: within one bin of numpy's median
        assert np.abs(med - np.median(x, axis=0)).max() <= w + 1e-12
    q25, q75 = np.quantile(x, [0.25, 0.75], axis=0, method="inverted_cdf")
    robust = (q75 - q25) / 1.3489795003921634
    assert np.abs(acc.robust_std - robust).max() <= 2 * w / 1.3489795003921634 + 1e-9


def test_histogram_is_order_independent_and_mergeable():
    x = _maps(30, seed=5)
    a = StreamingMapStats(x.shape[1:]).update(x)
    b = StreamingMapStats(x.shape[1:]).update(x[::-1][:11])
    b.merge(StreamingMapStats(x.shape[1:]).update(x[::-1][11:]))
    np.testing.assert_array_equal(a.median, b.median)
    np.testing.assert_array_equal(a.robust_std, b.robust_std)
    np.testing.assert_allclose(a.std, b.std, atol=1e-12)


def test_bad_inputs_raise_named_errors():
    acc = StreamingMapStats((4, 4))
    with pytest.raises(ShapeError):
        acc.mean  # noqa: B018 - nothing added yet
    with pytest.raises(ShapeError):
        acc.update(np.zeros((2, 4, 5)))
    with pytest.raises(ShapeError):
        acc.update(np.full((1, 4, 4), np.inf))  # NaN means "not observed"; infinity is an error


def test_quantile_split_sizes_and_order():
    s = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0])
    high, low, t_high, t_low = split_by_quantile(s, 0.3)
    assert sorted(s[high]) == [0.7, 0.8, 0.9] and sorted(s[low]) == [0.0, 0.1, 0.2]
    assert t_high == 0.7 and t_low == 0.2
    with pytest.raises(ShapeError):
        split_by_quantile(s[:4], 0.3)


def test_nan_marks_unobserved_values_per_pixel():
    """Canonical textures have unseen texels (NaN): they are left out, never counted as zero."""
    rng = np.random.default_rng(3)
    maps = rng.uniform(0, 1, size=(40, 6, 5))
    maps[rng.uniform(size=maps.shape) < 0.3] = np.nan
    maps[:, 0, 0] = np.nan  # a pixel no map observes
    acc = StreamingMapStats((6, 5), bins=200)
    for chunk in np.array_split(maps, 7):
        acc.update(chunk)
    with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        expected_mean, expected_std = np.nanmean(maps, 0), np.nanstd(maps, 0)
    assert np.isnan(acc.mean[0, 0]) and np.isnan(acc.std[0, 0]) and np.isnan(acc.median[0, 0])
    seen = ~np.isnan(expected_mean)
    assert np.allclose(acc.mean[seen], expected_mean[seen], atol=1e-12)
    assert np.allclose(acc.std[seen], expected_std[seen], atol=1e-12)
    assert acc.observed[1, 1] == np.sum(~np.isnan(maps[:, 1, 1]))
    for y, x in zip(*np.nonzero(seen)):  # the documented bound: one bin around the two middle order statistics
        v = np.sort(maps[:, y, x][~np.isnan(maps[:, y, x])])
        n = len(v)
        lo, hi = v[int(np.ceil(n / 2)) - 1], v[n // 2]
        assert lo - acc.bin_width - 1e-12 <= acc.median[y, x] <= hi + acc.bin_width + 1e-12
    merged = StreamingMapStats((6, 5), bins=200).update(maps[:20]).merge(StreamingMapStats((6, 5), bins=200).update(maps[20:]))
    assert np.allclose(merged.mean[seen], expected_mean[seen], atol=1e-12)
    with pytest.raises(ShapeError):
        acc.update(np.full((1, 6, 5), np.inf))
