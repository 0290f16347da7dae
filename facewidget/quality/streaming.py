"""Streaming per-pixel statistics of map sets: :class:`StreamingMapStats`.

The run layer's :class:`facewidget.runs.MapStats` (one accumulator for the whole package) with the
names the quality analysis uses. Maps arrive in batches and are never kept. Per pixel:

* **mean** and **std** (population, ddof = 0) from running float64 moments merged with Chan et
  al.'s parallel update (count, mean, M2): equal to ``numpy.mean`` / ``numpy.std`` of the stacked
  maps up to float64 rounding (~1e-12), whatever the batching.
* **median** and **robust std** from a fixed-bin histogram per pixel: ``bins`` equal bins over the
  known value range (activation maps are normalised to [0, 1], so the range is fixed in advance).
  Why a histogram and not P²: the counts are exact, order-independent (so results do not depend on
  batching or image order — P²'s markers do), mergeable across workers, and the error bound is
  simple. Quantiles interpolate linearly inside the bin where the cumulative count crosses the rank.
  Guarantee: the median estimate lies within one bin width (``(hi − lo) / bins``, 0.01 by default)
  of the interval between the two middle order statistics [x₍⌈n/2⌉₎, x₍⌊n/2⌋+1₎] — for odd n that
  is within one bin of the exact median. Robust std = IQR / 1.349 (normal-consistent), each quartile
  within one bin of its order statistics. Memory: h·w·bins int32 (150×150×100: 9 MB).

Missing values: NaN marks a value that was not observed (a canonical-face texel the face turned
away from the camera). Each pixel keeps its own count, so a missing value is left out of that
pixel's statistics, never counted as zero; a pixel never observed reports NaN. Infinities are errors.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError, ShapeError
from ..runs.accumulators import IQR_TO_STD, MapStats, _register  # noqa: F401 - IQR_TO_STD re-exported


@_register
class StreamingMapStats(MapStats):
    """Running per-pixel statistics of maps of one shape.

    Args:
        shape: the map shape (e.g. (h, w), or (V,) for per-vertex textures).
        bins: histogram bins for the median / robust std; value_range: (lo, hi) of the values
            (values outside are clipped into the end bins for the histogram only).
    """

    def __init__(self, shape, bins: int = 100, value_range=(0.0, 1.0)):
        if int(bins) < 2:
            raise ParameterError("bins", bins, "an integer >= 2")
        if not float(value_range[1]) > float(value_range[0]):
            raise ParameterError("value_range", value_range, "an increasing (low, high) pair")
        super().__init__(shape, bins, value_range)

    def empty(self) -> "StreamingMapStats":
        h = self.histogram
        return StreamingMapStats(self.shape, h.bins, (h.lo, h.hi))

    @property
    def count(self) -> int:
        """Maps added."""
        return self.n_maps

    @property
    def bins(self) -> int:
        return self.histogram.bins

    @property
    def bin_width(self) -> float:
        return self.histogram.bin_width

    def _require(self):
        if self.n_maps == 0:
            raise ShapeError("no maps were added to this accumulator")

    @property
    def observed(self) -> np.ndarray:
        """How many values each pixel received (maps minus the ones where it was NaN)."""
        return self.moments.count.astype(np.float64)

    def _unseen_nan(self, values: np.ndarray) -> np.ndarray:
        return np.where(self.moments.count > 0, values, np.nan)

    @property
    def mean(self) -> np.ndarray:
        self._require()
        return self.moments.mean_or_nan()

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (ddof = 0)."""
        self._require()
        return self._unseen_nan(self.moments.std(0))

    def quantile(self, q: float) -> np.ndarray:
        """Per-pixel q-quantile from the histogram (rank q·n, linear inside the bin)."""
        self._require()
        return self._unseen_nan(self.histogram.quantile(q))

    @property
    def median(self) -> np.ndarray:
        return self.quantile(0.5)

    @property
    def robust_std(self) -> np.ndarray:
        """IQR / 1.349 from the histogram quartiles."""
        return (self.quantile(0.75) - self.quantile(0.25)) / IQR_TO_STD
