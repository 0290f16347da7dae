"""Compare two canonical model maps: difference map and per-region permutation tests."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from .canonical_map import CanonicalMap
from .model_map import GroupMap
from .regions import REGION_NAMES


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes:
        difference: :class:`CanonicalMap` of mean(a) − mean(b) (valid where both saw the texel).
        regions: one record per region: ``region``, ``mean_a``, ``mean_b``, ``difference``,
            ``p_value`` (two-sided permutation test of the difference of the per-image region
            means), ``n_a``, ``n_b`` (images that saw the region); sorted by p-value.
        metadata: ``n_permutations``, ``seed``, group keys.
    """

    difference: CanonicalMap
    regions: list
    metadata: dict


def permutation_p_values(x: np.ndarray, y: np.ndarray, n_permutations: int = 2000, seed: int = 0) -> np.ndarray:
    """Two-sided permutation p-values of mean(x) − mean(y), column by column.

    x: (n_x, k), y: (n_y, k); NaN entries (region unseen in that image) are left out of that
    column. p = (1 + #{|perm stat| >= |observed|}) / (1 + n_permutations). NaN when a side has
    no data in a column.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ShapeError(f"permutation test needs (n, k) arrays with equal k; got {x.shape} and {y.shape}")
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([x, y])
    n_x = len(x)
    ok = np.isfinite(pooled)
    vals = np.where(ok, pooled, 0.0)

    def stat(in_x: np.ndarray) -> np.ndarray:
        """in_x: (P, n) bool membership → (P, k) difference of NaN-aware means."""
        wx = in_x[:, :, None] & ok[None]
        wy = ~in_x[:, :, None] & ok[None]
        with np.errstate(invalid="ignore", divide="ignore"):
            mx = (wx * vals[None]).sum(1) / wx.sum(1)
            my = (wy * vals[None]).sum(1) / wy.sum(1)
        return mx - my

    membership = np.zeros(len(pooled), dtype=bool)
    membership[:n_x] = True
    observed = stat(membership[None])[0]
    exceed = np.zeros(x.shape[1])
    done = 0
    chunk = max(1, min(n_permutations, 2_000_000 // max(pooled.size, 1)))
    while done < n_permutations:
        p = min(chunk, n_permutations - done)
        perms = np.argsort(rng.random((p, len(pooled))), axis=1) < n_x
        exceed += (np.abs(stat(perms)) >= np.abs(observed) - 1e-12).sum(0)
        done += p
    pv = (1.0 + exceed) / (1.0 + n_permutations)
    return np.where(np.isfinite(observed), pv, np.nan)


def compare(a: GroupMap, b: GroupMap, *, n_permutations: int = 2000, seed: int = 0) -> Comparison:
    """Difference map of two groups (``model_map(...)[key]``) and per-region permutation p-values."""
    if not isinstance(a, GroupMap) or not isinstance(b, GroupMap):
        raise ShapeError("compare needs two GroupMap (e.g. model_map(...)['female'] and ['male'])")
    if a.resolution != b.resolution:
        raise ShapeError(f"resolutions differ: {a.resolution} vs {b.resolution}")
    if a.n_images == 0 or b.n_images == 0:
        raise ShapeError("compare needs at least one image in each group")
    diff = a.mean - b.mean
    valid = (a.count > 0) & (b.count > 0)
    va, vb = a.vertices.mean_or_nan(), b.vertices.mean_or_nan()
    difference = CanonicalMap(texture=diff.astype(np.float32), valid=valid, vertex_values=va - vb,
                              triangle_visible=np.ones(898, bool),
                              metadata={"method": "difference", "a": str(a.key), "b": str(b.key)})
    ta, tb = a.region_table(), b.region_table()
    p = permutation_p_values(ta, tb, n_permutations=n_permutations, seed=seed)
    with warnings.catch_warnings():  # a region no image of a group saw: NaN mean, said by n_a/n_b = 0
        warnings.simplefilter("ignore", RuntimeWarning)
        ma, mb = np.nanmean(ta, 0), np.nanmean(tb, 0)
    recs = [{"region": name, "mean_a": float(ma[i]), "mean_b": float(mb[i]), "difference": float(ma[i] - mb[i]),
             "p_value": float(p[i]), "n_a": int(np.isfinite(ta[:, i]).sum()), "n_b": int(np.isfinite(tb[:, i]).sum())}
            for i, name in enumerate(REGION_NAMES)]
    recs.sort(key=lambda r: (np.nan_to_num(r["p_value"], nan=2.0), -abs(np.nan_to_num(r["difference"]))))
    return Comparison(difference=difference, regions=recs,
                      metadata={"n_permutations": int(n_permutations), "seed": int(seed), "a": str(a.key),
                                "b": str(b.key), "n_a": a.n_images, "n_b": b.n_images})
