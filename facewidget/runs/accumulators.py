"""Mergeable accumulators: what a data-set run folds its per-item results into.

Every accumulator follows one protocol:

* ``update(value)`` folds one item's result; ``merge(other)`` folds another accumulator of the
  same kind (another partition, another worker); ``result()`` gives the statistics;
* ``empty()`` a fresh accumulator with the same settings (one per partition);
* ``to_arrays()`` / :func:`from_arrays`: a flat ``{name: ndarray}`` (numbers and fixed-width
  strings only) that round-trips exactly, so checkpoints are npz files, never pickle.

Merging is exact up to float64 rounding whatever the partitioning:

* :class:`MeanVar`: per-element count, mean and M2 by Chan, Golub & LeVeque's (1979) pairwise
  update; NaN marks a value that was not observed (each element keeps its own count).
* :class:`Histogram`: per-element fixed-bin histograms (counts add), for median and robust std
  within one bin width.
* :class:`MapStats`: both of the above for maps of one shape.
* :class:`Table`: one row per item (scores, region means, ids), concatenated, then sorted by the
  ``index`` column, so the order in which partitions finish never shows.
* :class:`Keyed`: one child accumulator per key (subgroup, FIQA set), created on first use.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError, ShapeError

IQR_TO_STD = 1.3489795003921634  # 2·Φ⁻¹(0.75)

_CLASSES: dict[str, type["Accumulator"]] = {}


def _register(cls):
    _CLASSES[cls.__name__] = cls
    return cls


def from_arrays(arrays: dict) -> "Accumulator":
    """Rebuild any accumulator from its :meth:`Accumulator.to_arrays` output."""
    name = str(np.asarray(arrays["__class__"]).item())
    if name not in _CLASSES:
        raise ShapeError(f"unknown accumulator class {name!r} in stored arrays")
    return _CLASSES[name]._from_arrays({k: np.asarray(v) for k, v in arrays.items()})


def _sub(arrays: dict, prefix: str) -> dict:
    n = len(prefix)
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix)}


class Accumulator:
    """Base class; see the module docstring for the protocol."""

    def update(self, value) -> "Accumulator":  # pragma: no cover - abstract
        raise NotImplementedError

    def merge(self, other) -> "Accumulator":  # pragma: no cover - abstract
        raise NotImplementedError

    def result(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def empty(self) -> "Accumulator":  # pragma: no cover - abstract
        raise NotImplementedError

    def _arrays(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_arrays(self) -> dict:
        return {"__class__": np.array(type(self).__name__), **self._arrays()}

    @classmethod
    def _from_arrays(cls, arrays: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_same(self, other):
        if type(other) is not type(self):
            raise ShapeError(f"cannot merge a {type(other).__name__} into a {type(self).__name__}")


@_register
class MeanVar(Accumulator):
    """NaN-aware per-element count, mean and M2 (sum of squared deviations) of arrays of one shape.

    ``update(x)`` adds one array of ``shape`` (NaN = not observed; infinity is an error).
    Attributes ``count`` (int64), ``mean`` and ``m2`` (float64) are per element. ``shape=None``
    takes the shape of the first array (for maps whose size is known only once one is made).
    """

    def __init__(self, shape=None):
        self.shape = None
        self.count = self.mean = self.m2 = None
        if shape is not None:
            self._allocate(shape)

    def _allocate(self, shape) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.count = np.zeros(self.shape, dtype=np.int64)
        self.mean = np.zeros(self.shape, dtype=np.float64)
        self.m2 = np.zeros(self.shape, dtype=np.float64)

    def empty(self) -> "MeanVar":
        return MeanVar(self.shape)

    def update(self, value) -> "MeanVar":
        x = np.asarray(value, dtype=np.float64)
        if self.shape is None:
            self._allocate(x.shape)
        if x.shape != self.shape:
            raise ShapeError(f"array of shape {x.shape} does not match the accumulator's {self.shape}")
        if np.isinf(x).any():
            raise ShapeError("values must be finite (NaN marks an unobserved value; infinity is an error)")
        seen = ~np.isnan(x)
        self._combine(seen.astype(np.int64), np.where(seen, x, 0.0), np.zeros(self.shape))
        return self

    def add(self, value) -> "MeanVar":
        """Alias of :meth:`update` (the name the canonical model map used)."""
        return self.update(value)

    def _combine(self, n_b, mean_b, m2_b) -> None:
        """Chan et al.'s pairwise update, per element (each element has its own count)."""
        n = self.count + n_b
        delta = mean_b - self.mean
        frac = np.divide(n_b, n, out=np.zeros(self.shape), where=n > 0)
        cross = np.divide(self.count * n_b, n, out=np.zeros(self.shape), where=n > 0)
        self.mean = self.mean + delta * frac
        self.m2 = self.m2 + m2_b + delta ** 2 * cross
        self.count = n

    def merge(self, other: "MeanVar") -> "MeanVar":
        self._check_same(other)
        if other.shape is None:
            return self
        if self.shape is None:
            self._allocate(other.shape)
        if other.shape != self.shape:
            raise ShapeError(f"cannot merge shape {other.shape} into {self.shape}")
        self._combine(other.count, other.mean, other.m2)
        return self

    def mean_or_nan(self) -> np.ndarray:
        return np.where(self.count > 0, self.mean, np.nan)

    def var(self, ddof: int = 0) -> np.ndarray:
        n = self.count - ddof
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, np.maximum(self.m2, 0) / np.maximum(n, 1), np.nan)

    def std(self, ddof: int = 1) -> np.ndarray:
        """Per-element standard deviation (NaN where count <= ddof)."""
        return np.sqrt(self.var(ddof))

    def result(self) -> dict:
        return {"count": self.count.copy(), "mean": self.mean_or_nan(), "var": self.var(0), "std": self.std(0)}

    def _arrays(self) -> dict:
        if self.shape is None:
            return {"unset": np.asarray(1)}
        return {"count": self.count, "mean": self.mean, "m2": self.m2}

    @classmethod
    def _from_arrays(cls, a):
        if "unset" in a:
            return cls(None)
        out = cls(a["count"].shape)
        out.count, out.mean, out.m2 = a["count"].astype(np.int64), a["mean"].astype(np.float64), a["m2"].astype(np.float64)
        return out


@_register
class Histogram(Accumulator):
    """Per-element histograms with ``bins`` equal bins over ``value_range`` (values outside are
    clipped into the end bins; NaN is not counted). Allocated on first use (h·w·bins int32)."""

    def __init__(self, shape, bins: int = 100, value_range=(0.0, 1.0)):
        self.shape = None if shape is None else tuple(int(s) for s in shape)
        self.bins = int(bins)
        if self.bins < 2:
            raise ParameterError("bins", bins, "an integer >= 2")
        self.lo, self.hi = float(value_range[0]), float(value_range[1])
        if not self.hi > self.lo:
            raise ParameterError("value_range", value_range, "an increasing (lo, hi) pair")
        self.hist: np.ndarray | None = None

    @property
    def bin_width(self) -> float:
        return (self.hi - self.lo) / self.bins

    def empty(self) -> "Histogram":
        return Histogram(self.shape, self.bins, (self.lo, self.hi))

    def _alloc(self) -> np.ndarray:
        if self.hist is None:
            self.hist = np.zeros((int(np.prod(self.shape)), self.bins), dtype=np.int32)
        return self.hist

    def update(self, value) -> "Histogram":
        """Add one array of ``shape`` or a stack (k, *shape)."""
        x = np.asarray(value, dtype=np.float64)
        if self.shape is None:
            self.shape = x.shape
        if x.shape == self.shape:
            x = x[None]
        if x.shape[1:] != self.shape:
            raise ShapeError(f"maps of shape {x.shape[1:]} do not match the accumulator's {self.shape}")
        k = x.shape[0]
        if k == 0:
            return self
        seen = ~np.isnan(x)
        xz = np.where(seen, x, 0.0)
        idx = np.clip(((xz - self.lo) / self.bin_width).astype(np.int64), 0, self.bins - 1).reshape(k, -1)
        flat = (np.arange(idx.shape[1])[None] * self.bins + idx).ravel()
        hist = self._alloc()
        hist += np.bincount(flat, weights=seen.reshape(k, -1).ravel().astype(np.float64),
                            minlength=hist.size).reshape(hist.shape).astype(np.int32)
        return self

    def merge(self, other: "Histogram") -> "Histogram":
        self._check_same(other)
        if other.shape is None:
            return self
        if self.shape is None:
            self.shape = other.shape
        if (other.shape, other.bins, other.lo, other.hi) != (self.shape, self.bins, self.lo, self.hi):
            raise ShapeError("can only merge histograms with the same shape, bins and range")
        if other.hist is not None:
            self._alloc()
            self.hist += other.hist
        return self

    def quantile(self, q: float, observed: np.ndarray | None = None) -> np.ndarray:
        """Per-element q-quantile (rank q·n, linear inside the bin where the cumulative count
        crosses it); NaN where nothing was observed."""
        if not 0.0 <= q <= 1.0:
            raise ParameterError("quantile", q, "a number in [0, 1]")
        hist = self._alloc()
        cum = np.cumsum(hist, axis=1)
        n = cum[:, -1].astype(np.float64)
        rank = q * n
        k = np.minimum((cum < rank[:, None]).sum(axis=1), self.bins - 1)  # first bin with cum >= rank
        rows = np.arange(cum.shape[0])
        before = np.where(k > 0, cum[rows, np.maximum(k - 1, 0)], 0)
        in_bin = hist[rows, k]
        frac = np.where(in_bin > 0, (rank - before) / np.maximum(in_bin, 1), 0.5)
        out = self.lo + (k + np.clip(frac, 0.0, 1.0)) * self.bin_width
        return np.where(n > 0, out, np.nan).reshape(self.shape)

    def result(self) -> dict:
        q25, q50, q75 = (self.quantile(q) for q in (0.25, 0.5, 0.75))
        return {"median": q50, "robust_std": (q75 - q25) / IQR_TO_STD}

    def _arrays(self) -> dict:
        out = {"shape": np.asarray(self.shape if self.shape is not None else (-1,), dtype=np.int64),
               "bins": np.asarray(self.bins),
               "range": np.asarray([self.lo, self.hi])}
        if self.hist is not None:
            out["hist"] = self.hist
        return out

    @classmethod
    def _from_arrays(cls, a):
        shape = tuple(a["shape"].tolist())
        out = cls(None if shape == (-1,) else shape, int(a["bins"]), tuple(a["range"].tolist()))
        if "hist" in a:
            out.hist = a["hist"].astype(np.int32)
        return out


@_register
class MapStats(Accumulator):
    """Per-element mean/variance (:class:`MeanVar`) and, with ``bins``, a :class:`Histogram` for
    median and robust std, of maps of one shape. ``update`` takes one map or a stack (k, *shape)."""

    def __init__(self, shape, bins: int | None = 100, value_range=(0.0, 1.0)):
        self.moments = MeanVar(shape)
        self.histogram = Histogram(shape, bins, value_range) if bins else None
        self.n_maps = 0

    @property
    def shape(self):
        return self.moments.shape

    def empty(self) -> "MapStats":
        out = MapStats(self.shape, None)
        out.histogram = None if self.histogram is None else self.histogram.empty()
        return out

    def update(self, value) -> "MapStats":
        x = np.asarray(value, dtype=np.float64)
        stack = x[None] if (x.shape == self.shape or self.shape is None) else x
        if self.shape is not None and stack.shape[1:] != self.shape:
            raise ShapeError(f"maps of shape {stack.shape[1:]} do not match the accumulator's {self.shape}")
        if np.isinf(stack).any():
            raise ShapeError("maps must be finite (NaN marks an unobserved value; infinity is an error)")
        if self.histogram is not None and self.histogram.shape is None:
            self.histogram.shape = stack.shape[1:]
        for m in stack:
            self.moments.update(m)
        if self.histogram is not None:
            self.histogram.update(stack)
        self.n_maps += len(stack)
        return self

    def merge(self, other: "MapStats") -> "MapStats":
        self._check_same(other)
        self.moments.merge(other.moments)
        if (self.histogram is None) != (other.histogram is None):
            raise ShapeError("cannot merge map statistics with and without histograms")
        if self.histogram is not None:
            self.histogram.merge(other.histogram)
        self.n_maps += other.n_maps
        return self

    def result(self) -> dict:
        out = self.moments.result()
        if self.histogram is not None:
            out.update(self.histogram.result())
            out = {k: (np.where(self.moments.count > 0, v, np.nan) if k in ("median", "robust_std") else v)
                   for k, v in out.items()}
        return out

    def _arrays(self) -> dict:
        out = {"n_maps": np.asarray(self.n_maps, dtype=np.int64)}
        out.update({f"moments/{k}": v for k, v in self.moments.to_arrays().items()})
        if self.histogram is not None:
            out.update({f"histogram/{k}": v for k, v in self.histogram.to_arrays().items()})
        return out

    @classmethod
    def _from_arrays(cls, a):
        out = cls.__new__(cls)
        out.moments = from_arrays(_sub(a, "moments/"))
        hist = _sub(a, "histogram/")
        out.histogram = from_arrays(hist) if hist else None
        out.n_maps = int(a["n_maps"])
        return out


@_register
class Table(Accumulator):
    """One row per item: ``update({"index": i, column: value, ...})``. Values are numbers, strings
    or fixed-shape arrays. ``result()`` gives ``{column: array}`` sorted by ``index`` (ties keep
    arrival order)."""

    def __init__(self):
        self.rows: list[dict] = []
        self._stored: dict | None = None  # columns loaded from arrays, not yet expanded

    def empty(self) -> "Table":
        return Table()

    def update(self, row: dict) -> "Table":
        if "index" not in row:
            raise ShapeError("a table row needs an 'index' (the item's position in the data set)")
        self.rows.append(dict(row))
        return self

    def merge(self, other: "Table") -> "Table":
        self._check_same(other)
        self.rows.extend(other._all_rows())
        return self

    def _all_rows(self) -> list[dict]:
        if self._stored is not None:
            cols = self._stored
            n = len(cols["index"])
            self.rows = [{k: (v[i].item() if v[i].ndim == 0 else v[i]) for k, v in cols.items()} for i in range(n)] \
                + self.rows
            self._stored = None
        return self.rows

    def __len__(self) -> int:
        return len(self._all_rows())

    def result(self) -> dict:
        rows = self._all_rows()
        if not rows:
            return {}
        order = sorted(range(len(rows)), key=lambda i: rows[i]["index"])
        columns = list(rows[0])
        return {c: np.asarray([rows[i].get(c) for i in order]) for c in columns}

    def _arrays(self) -> dict:
        res = self.result()
        for k, v in res.items():
            if v.dtype == object:
                raise ShapeError(f"table column {k!r} holds mixed or non-numeric values; cannot store it")
        return {f"col/{k}": v for k, v in res.items()}

    @classmethod
    def _from_arrays(cls, a):
        out = cls()
        cols = _sub(a, "col/")
        out._stored = cols if cols else None
        return out


def _key_to_str(key) -> str:
    if isinstance(key, bool) or key is None:
        return f"r:{key!r}"
    if isinstance(key, (int, np.integer)):
        return f"i:{int(key)}"
    if isinstance(key, (float, np.floating)):
        return f"f:{float(key)!r}"
    return f"s:{key}"


def _key_from_str(s: str):
    tag, val = s[:2], s[2:]
    if tag == "i:":
        return int(val)
    if tag == "f:":
        return float(val)
    if tag == "r:":
        return {"True": True, "False": False, "None": None}[val]
    return val


@_register
class Keyed(Accumulator):
    """One child accumulator per key, made from ``prototype.empty()`` on first use.

    ``update((key, value))`` folds ``value`` into the key's child. Keys keep the order of first
    appearance in the data set (by item index, whatever the partitioning) when ``update`` gets
    ``(key, value, index)``; otherwise insertion order."""

    def __init__(self, prototype: Accumulator):
        self.prototype = prototype
        self.children: dict = {}
        self.first: dict = {}

    def empty(self) -> "Keyed":
        return Keyed(self.prototype.empty())

    def child(self, key) -> Accumulator:
        if key not in self.children:
            self.children[key] = self.prototype.empty()
        return self.children[key]

    def update(self, item) -> "Keyed":
        if isinstance(item, list):  # several (key, value[, index]) entries of one item
            for entry in item:
                self.update(entry)
            return self
        key, value = item[0], item[1]
        index = item[2] if len(item) > 2 else len(self.first)
        self.child(key).update(value)
        self.first[key] = min(self.first.get(key, index), index)
        return self

    def merge(self, other: "Keyed") -> "Keyed":
        self._check_same(other)
        for key, acc in other.children.items():
            self.child(key).merge(acc)
            self.first[key] = min(self.first.get(key, other.first.get(key, 0)), other.first.get(key, 0))
        return self

    def keys(self) -> list:
        return sorted(self.children, key=lambda k: self.first.get(k, 0))

    def result(self) -> dict:
        return {k: self.children[k].result() for k in self.keys()}

    def _arrays(self) -> dict:
        keys = self.keys()
        out = {"keys": np.asarray([_key_to_str(k) for k in keys], dtype=str),
               "first": np.asarray([self.first.get(k, 0) for k in keys], dtype=np.int64)}
        out.update({f"proto/{k}": v for k, v in self.prototype.to_arrays().items()})
        for i, k in enumerate(keys):
            out.update({f"child{i}/{name}": v for name, v in self.children[k].to_arrays().items()})
        return out

    @classmethod
    def _from_arrays(cls, a):
        out = cls(from_arrays(_sub(a, "proto/")))
        for i, s in enumerate(a["keys"].tolist()):
            key = _key_from_str(str(s))
            out.children[key] = from_arrays(_sub(a, f"child{i}/"))
            out.first[key] = int(a["first"][i])
        return out


@_register
class Composite(Accumulator):
    """Named accumulators side by side: ``update({name: value, ...})`` folds each present name."""

    def __init__(self, parts: dict):
        self.parts = dict(parts)

    def __getitem__(self, name) -> Accumulator:
        return self.parts[name]

    def empty(self) -> "Composite":
        return Composite({k: v.empty() for k, v in self.parts.items()})

    def update(self, value: dict) -> "Composite":
        for name, v in value.items():
            if name not in self.parts:
                raise ShapeError(f"no accumulator named {name!r} (have {sorted(self.parts)})")
            self.parts[name].update(v)
        return self

    def merge(self, other: "Composite") -> "Composite":
        self._check_same(other)
        for name, acc in other.parts.items():
            self.parts[name].merge(acc)
        return self

    def result(self) -> dict:
        return {k: v.result() for k, v in self.parts.items()}

    def _arrays(self) -> dict:
        out = {"names": np.asarray(list(self.parts), dtype=str)}
        for i, (name, acc) in enumerate(self.parts.items()):
            out.update({f"part{i}/{k}": v for k, v in acc.to_arrays().items()})
        return out

    @classmethod
    def _from_arrays(cls, a):
        return cls({str(name): from_arrays(_sub(a, f"part{i}/")) for i, name in enumerate(a["names"].tolist())})


def arrays_equal(a: dict, b: dict, rtol: float = 0.0) -> bool:
    """Whether two ``to_arrays()`` outputs hold the same names and values (floats within ``rtol``,
    NaN equal to NaN; everything else exactly)."""
    if set(a) != set(b):
        return False
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.shape != y.shape or x.dtype.kind != y.dtype.kind:
            return False
        if x.dtype.kind == "f":
            if not np.allclose(x, y, rtol=rtol, atol=0.0, equal_nan=True):
                return False
        elif not np.array_equal(x, y):
            return False
    return True
