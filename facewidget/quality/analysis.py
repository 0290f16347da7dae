"""Activation-map variation analysis of FIQA methods (Fu, Damer et al., WACV-W 2022): :func:`analyze`.

For every FIQA method the images are split by its overall score into a **high-quality set H** (the
top ``quantile`` share) and a **low-quality set L** (the bottom share); exactly n = floor(quantile·N)
images each, never overlapping (asserted), ties broken by image order. Activation maps
(``ActivationMaps``: Score-CAM of the embedding by default, as in the paper's follow-up work, or
Grad-CAM; in [0, 1]) are computed image by image and folded into streaming per-pixel accumulators
(:class:`~facewidget.quality.streaming.StreamingMapStats`), never kept. Both passes (scores, then
maps) are runs on :func:`facewidget.runs.run`: in-process or on a Dask cluster (``client=``),
resumable (``checkpoint=``), live (``progress=``) and cancellable (``cancel=``). Per set:
mean (MAM), median, std (AM-V) and robust std. Derived, per method (intra-FIQA):

* ``d_am_v`` = |AM-V_H − AM-V_L| / max (in [0, 1]);
* ``symmetric_deviation`` = 0.5·(D + mirror(D)) of D = ``d_am_v`` (left-right symmetrised);
* ``kde``: ``scipy.stats.gaussian_kde`` (Scott's bandwidth) of the flattened AM-V maps of H and L on
  one common grid;
* ``profiles``: AM-V summed over columns (``rows``, one value per row) and over rows (``cols``);
* ``region``: mean AM-V / MAM inside and outside the central face region (:mod:`.regions`);
* :meth:`QualityAnalysis.deviation`: one image's |MAM_H − A_img| / max.

Inter-FIQA (several methods on the same images): Spearman correlation of their scores, Jaccard
overlap of their H sets and of their L sets, Pearson correlation of their AM-V_L and MAM_H maps.
With ``canonical=`` (a projector, see :mod:`.canonical`) every statistic is also computed on the
canonical face. Images go through two passes: scores first (the split needs all of them), then maps.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ParameterError, CancelledError, NoFaceError, ShapeError
from ..runs import Composite, Keyed, MeanVar, ModelHandle, Skip, Table, run
from ..runs.face_index import face_from_row
from .activation import ActivationMaps
from .batch import FaceBatch, as_face_batch
from .canonical import CanonicalSpace, as_canonical_space
from .fiqa import describe_method, method_name, normalise_scores, resolve_fiqa
from .regions import face_region_mask, template_region_mask
from .streaming import StreamingMapStats

KDE_POINTS = 256


@dataclass
class SetStats:
    """Per-pixel statistics of one quality set (``label`` "high" or "low")."""

    label: str
    indices: np.ndarray
    threshold: float
    mean: np.ndarray
    median: np.ndarray
    std: np.ndarray
    robust_std: np.ndarray

    @property
    def count(self) -> int:
        return int(len(self.indices))


@dataclass
class FIQAAnalysis:
    """One FIQA method's H/L analysis in one space (chip or canonical); see the module docstring."""

    method: str
    score_name: str
    scores: np.ndarray
    high: SetStats
    low: SetStats
    d_am_v: np.ndarray
    symmetric_deviation: np.ndarray | None
    kde: dict[str, np.ndarray] | None
    profiles: dict[str, dict[str, np.ndarray]] | None
    region: dict[str, dict[str, float]] | None
    summary: dict[str, float] = field(default_factory=dict)

    def set(self, label: str) -> SetStats:
        return self.high if label == "high" else self.low


@dataclass
class QualityAnalysis:
    """The result of :func:`analyze`.

    Attributes:
        ids: image ids (in order). scores: method → {score name → (N,)} (all named scores).
        chip: method → :class:`FIQAAnalysis` on the model's chip (maps at its input size).
        canonical: the same on the canonical face (None without ``canonical=``).
        inter_fiqa: comparisons across methods (see the module docstring); empty for one method.
        region_mask: (h, w) central face region of the chip (1 inside).
        manifest: parameters, seed, model id + weights hash, versions, timings.
    """

    ids: list
    scores: dict[str, dict[str, np.ndarray]]
    chip: dict[str, FIQAAnalysis]
    canonical: dict[str, FIQAAnalysis] | None
    inter_fiqa: dict[str, Any]
    region_mask: np.ndarray
    manifest: dict[str, Any]
    _maps: ActivationMaps | None = field(default=None, repr=False)
    _batch: FaceBatch | None = field(default=None, repr=False)
    _canonical_space: CanonicalSpace | None = field(default=None, repr=False)
    _map_cache: dict = field(default_factory=dict, repr=False)

    @property
    def methods(self) -> list[str]:
        return list(self.chip)

    def image_map(self, index: int, space: str = "chip") -> np.ndarray:
        """The activation map of image ``index`` (recomputed: maps are not stored), in chip or canonical space."""
        if self._maps is None or self._batch is None:
            raise ShapeError("this analysis no longer holds its images and model")
        if not 0 <= int(index) < len(self.ids):
            raise ShapeError(f"image index {index} is out of range for {len(self.ids)} images")
        key = (int(index), space)
        if key not in self._map_cache:
            sub = self._batch.subset([int(index)])
            m = self._maps(sub)
            if space == "chip":
                out = m[0]
            elif self._canonical_space is None:
                raise ShapeError("this analysis has no canonical space")
            else:
                out = self._canonical_space.project(m, sub.aligned(self._maps.model.config.alignment_template()),
                                                    sub.faces)[0]
            if len(self._map_cache) >= 64:  # a few recent maps, for viewers that flip between images
                self._map_cache.pop(next(iter(self._map_cache)))
            self._map_cache[key] = out
        return self._map_cache[key]

    def deviation(self, index: int, method: str | None = None, space: str = "chip", image_map=None) -> np.ndarray:
        """|MAM_H − A_img| / max for image ``index`` (or a given ``image_map``), in [0, 1]."""
        method = method or self.methods[0]
        table = self.chip if space == "chip" else self.canonical
        if table is None or method not in table:
            raise ShapeError(f"no {space} analysis for method {method!r}")
        a = self.image_map(index, space) if image_map is None else np.asarray(image_map, dtype=np.float64)
        return normalised(np.abs(table[method].high.mean - a))


def normalised(x: np.ndarray) -> np.ndarray:
    """Divide by the maximum (all zeros stay zeros; NaN, i.e. unobserved, stays NaN)."""
    x = np.asarray(x, dtype=np.float64)
    finite = x[np.isfinite(x)]
    top = float(finite.max()) if finite.size else 0.0
    return x / top if top > 0 else np.where(np.isnan(x), np.nan, 0.0)


def split_by_quantile(scores: np.ndarray, quantile: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(high indices, low indices, high threshold, low threshold): the top / bottom floor(q·N) scores.

    One stable ascending order gives both sets (L its first k, H its last k), so with q ≤ 0.5 they
    never overlap, whatever the ties (equal scores: earlier images go to L, later ones to H)."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    k = int(np.floor(quantile * n + 1e-9))
    if k < 2:
        raise ShapeError(f"quantile {quantile} of {n} images leaves {k} per set; each set needs at least 2 images")
    if 2 * k > n:
        raise ShapeError(f"quantile {quantile} of {n} images: the high and low sets ({k} each) would overlap")
    order = np.argsort(scores, kind="stable")
    low = np.sort(order[:k])
    high = np.sort(order[n - k:])
    assert np.intersect1d(high, low).size == 0, "the high and low quality sets overlap"
    return high, low, float(scores[high].min()), float(scores[low].max())


def kde_of(std_high: np.ndarray, std_low: np.ndarray) -> dict[str, np.ndarray] | None:
    """Gaussian KDEs (Scott's bandwidth) of the flattened AM-V maps of H and L on one grid.

    The grid spans both samples plus three bandwidths on either side, so each density integrates
    to ~1 over it. None when a set's AM-V is constant (a singular KDE)."""
    from scipy import stats as sstats

    a, b = std_high.ravel(), std_low.ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]  # unobserved canonical texels are left out
    try:
        kdes = {"high": sstats.gaussian_kde(a), "low": sstats.gaussian_kde(b)}
    except (np.linalg.LinAlgError, ValueError):
        return None
    pad = 3.0 * max(float(np.sqrt(k.covariance[0, 0])) for k in kdes.values())
    grid = np.linspace(min(a.min(), b.min()) - pad, max(a.max(), b.max()) + pad, KDE_POINTS)
    return {"grid": grid, **{key: k(grid) for key, k in kdes.items()}}


def _set_stats(label, indices, threshold, acc: StreamingMapStats) -> SetStats:
    return SetStats(label, indices, threshold, acc.mean, acc.median, acc.std, acc.robust_std)


def _finish(method, score_name, scores, high, low, mirror, region_mask) -> FIQAAnalysis:
    d = normalised(np.abs(high.std - low.std))
    sym = 0.5 * (d + mirror(d)) if mirror is not None else None
    profiles = None
    if high.std.ndim == 2:
        profiles = {s.label: {"rows": np.nansum(s.std, 1), "cols": np.nansum(s.std, 0)} for s in (high, low)}
    region = None
    if region_mask is not None and region_mask.shape == high.std.shape:
        inside = region_mask > 0.5
        region = {s.label: {"am_v_inside": float(s.std[inside].mean()), "am_v_outside": float(s.std[~inside].mean()),
                            "mam_inside": float(s.mean[inside].mean()), "mam_outside": float(s.mean[~inside].mean())}
                  for s in (high, low)}
    kde = kde_of(high.std, low.std)
    summary = {"am_v_high": float(np.nanmean(high.std)), "am_v_low": float(np.nanmean(low.std)),
               "am_v_shift": float(np.nanmean(low.std) - np.nanmean(high.std)),
               "mean_score_high": float(scores[high.indices].mean()), "mean_score_low": float(scores[low.indices].mean())}
    if region is not None:
        summary["outside_am_v_ratio"] = region["low"]["am_v_outside"] / max(region["high"]["am_v_outside"], 1e-12)
    return FIQAAnalysis(method, score_name, scores, high, low, d, sym, kde, profiles, region, summary)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    both = np.isfinite(a) & np.isfinite(b)  # pixels observed in both maps
    a, b = a[both] - a[both].mean(), b[both] - b[both].mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def inter_fiqa(results: dict[str, FIQAAnalysis]) -> dict[str, Any]:
    """Comparisons across methods: score Spearman, H/L Jaccard, AM-V_L and MAM_H map correlations."""
    from scipy import stats as sstats

    names = list(results)
    if len(names) < 2:
        return {}
    k = len(names)
    out = {"methods": names}
    mats = {key: np.eye(k) for key in ("score_spearman", "high_jaccard", "low_jaccard", "am_v_low_correlation",
                                        "mam_high_correlation")}
    for i in range(k):
        for j in range(i + 1, k):
            a, b = results[names[i]], results[names[j]]
            rho = sstats.spearmanr(a.scores, b.scores).statistic
            vals = {
                "score_spearman": float(rho) if np.isfinite(rho) else 0.0,
                "high_jaccard": _jaccard(a.high.indices, b.high.indices),
                "low_jaccard": _jaccard(a.low.indices, b.low.indices),
                "am_v_low_correlation": _pearson(a.low.std, b.low.std),
                "mam_high_correlation": _pearson(a.high.mean, b.high.mean),
            }
            for key, v in vals.items():
                mats[key][i, j] = mats[key][j, i] = v
    out.update(mats)
    return out


def _jaccard(a, b) -> float:
    sa, sb = set(np.asarray(a).tolist()), set(np.asarray(b).tolist())
    return len(sa & sb) / max(1, len(sa | sb))


# -- the runs: per-image work of the two passes -------------------------------------------------


class _LazyBatch:
    """Photos of a data set read on demand (``subset`` as a :class:`FaceBatch` does)."""

    def __init__(self, records: list):
        self.records = records  # (id, path, face)

    def __len__(self) -> int:
        return len(self.records)

    def subset(self, indices) -> FaceBatch:
        from ..io import load_image

        recs = [self.records[int(i)] for i in indices]
        return FaceBatch(images=[load_image(p) for _, p, _ in recs], faces=[f for _, _, f in recs],
                         ids=[i for i, _, _ in recs])


def _plan(images, missing: str, client, cancel):
    """(items, skipped, batch): per-image run items ``(index, id, payload)``, the images known unusable,
    and the batch :class:`QualityAnalysis` keeps for recomputing single maps."""
    from ..datasets import FaceDataset, face_index

    if isinstance(images, FaceDataset) or (isinstance(images, (list, tuple)) and images
                                           and all(isinstance(p, (str, os.PathLike)) for p in images)):
        index = face_index(images, client=client, cancel=cancel)
        items, skipped, records = [], [], []
        for k, row in enumerate(index.rows):
            if row["status"] != "ok":
                if missing == "raise":
                    raise NoFaceError(f"{row['path']}: {row['reason']} (missing='skip' leaves such images out)")
                skipped.append(Skip(k, row["path"], row["reason"]))
                records.append(None)
                continue
            items.append((k, row["path"], ("indexed", row["path"], row)))
            records.append((row["path"], row["path"], face_from_row(row)))
        return items, skipped, _LazyBatch(records)
    batch = as_face_batch(images, missing=missing)
    items = [(k, batch.ids[k] if batch.ids else k, ("batch", batch.subset([k]))) for k in range(len(batch))]
    return items, [], batch


def _item_batch(payload) -> FaceBatch:
    if payload[0] == "batch":
        return payload[1]
    from ..io import load_image

    _, path, row = payload
    return FaceBatch(images=[load_image(path)], faces=[face_from_row(row)], ids=[path])


class ScoreWork:
    """Pass 1: every FIQA method's scores of one image (a row of the score table)."""

    def __init__(self, fiqa, model, seed: int):
        self.fiqa, self.handle, self.seed = list(fiqa), ModelHandle(model), int(seed)
        self._methods = None

    def __getstate__(self):
        return {"fiqa": self.fiqa, "handle": self.handle, "seed": self.seed, "_methods": None}

    def methods(self) -> list:
        if self._methods is None:
            out = []
            for spec in self.fiqa:
                if spec == "ser-fiq":
                    spec = ("ser-fiq", {"seed": self.seed})
                out.append(resolve_fiqa(spec, self.handle.model))
            self._methods = out
        return self._methods

    def __call__(self, item) -> dict:
        index, ident, payload = item
        sub = _item_batch(payload)
        row = {"index": index, "id": str(ident)}
        for m in self.methods():
            name = method_name(m)
            for key, value in normalise_scores(m(sub), m, 1).items():
                row[f"{name}\t{key}"] = float(value[0])
        return row


class MapWork:
    """Pass 2: one image's activation map, folded into the H / L sets it belongs to."""

    def __init__(self, model, map_params: dict, members: dict, canonical):
        self.handle, self.map_params, self.members, self.canonical = ModelHandle(model), map_params, members, canonical
        self._mapper = None

    def __getstate__(self):
        return {**self.__dict__, "_mapper": None}

    def mapper(self) -> ActivationMaps:
        if self._mapper is None:
            self._mapper = ActivationMaps(self.handle.model, **self.map_params)
        return self._mapper

    def __call__(self, item):
        index, _, payload = item
        sub = _item_batch(payload)
        mapper = self.mapper()
        template = mapper.model.config.alignment_template()
        aligned = sub.aligned(template)
        out = {}
        if sub.faces is not None:
            out["region"] = face_region_mask(sub.faces[0], aligned.transforms[0].numpy(), mapper.size)
        member = self.members.get(index, [])
        if member:
            m = mapper(sub)
            out["chip"] = [(key, m[0], index) for key in member]
            if self.canonical is not None:
                tex = as_canonical_space(self.canonical).project(m, aligned, sub.faces)[0]
                out["canonical"] = [(key, tex, index) for key in member]
        return out


def _set_key(name: str, label: str) -> str:
    return f"{name}\t{label}"


def _live_maps(first: str):
    def maps(acc: Composite) -> dict:
        out = {}
        sets = acc["chip"]
        assert isinstance(sets, Keyed)
        for label in ("high", "low"):
            child = sets.children.get(_set_key(first, label))
            if child is not None and child.count:
                out[f"mean_{label}"] = child.mean.astype(np.float32)
                out[f"std_{label}"] = child.std.astype(np.float32)
        return out
    return maps


def analyze(images, fiqa: Sequence = ("ser-fiq",), model=None, *, quantile: float = 0.3, maps: str = "scorecam",
            layer=None, target="projection", channels: int | None = None, canonical=None, bins: int = 100,
            batch_size: int | None = None, seed: int = 0, missing: str = "raise", progress: Callable | None = None,
            keep_images: bool = True, client=None, partition_size: int = 8, checkpoint=None,
            cancel=None) -> QualityAnalysis:
    """Split images by each FIQA method's score and analyse the activation maps of the sets.

    Args:
        images: photos, (photo, face) pairs, :class:`~facewidget.quality.degradations.DegradedImage`
            items, a :class:`~facewidget.quality.batch.FaceBatch` (see ``as_face_batch``), or a
            :class:`~facewidget.datasets.FaceDataset` / list of image paths (faces from the face index).
        fiqa: FIQA methods: built-in names, ``(name, params)`` pairs or callables (see :mod:`.fiqa`);
            each splits on its first (overall) score.
        model: the identity model whose activation maps are analysed (and used by ser-fiq /
            embedding-norm).
        quantile: share of images in each of H and L (0 < q ≤ 0.5): floor(q·N) images each.
        maps, layer, target, channels: activation maps (see :class:`~facewidget.quality.activation.ActivationMaps`);
            Score-CAM by default (the paper's follow-up work); ``channels=k`` keeps its k strongest channels.
        canonical: None, or a projector ``(photo_map, face) -> texture`` / :class:`CanonicalSpace`.
        bins: histogram bins per pixel for median / robust std (error ≤ 1/bins, see :mod:`.streaming`).
        batch_size: chips per forward pass inside Score-CAM (None: the explainer's default). Scores and
            maps are computed image by image, so results do not depend on the partitioning.
        seed: seed for SER-FIQ's dropout (when given by name) and the explainer.
        missing: photos without a face: ``"raise"`` or ``"skip"`` (listed in ``manifest["skipped"]``).
        progress: gets a :class:`~facewidget.explainers.engine.ProgressUpdate` after each partition of
            each pass (``phase`` "scores" or "maps"; during "maps" its ``maps`` hold ``mean_high``,
            ``std_high``, ``mean_low``, ``std_low`` of the first method, chip space).
        keep_images: keep the photos and model so that :meth:`QualityAnalysis.deviation` can recompute maps.
        client, partition_size, checkpoint, cancel: see :func:`facewidget.runs.run`. Cancelled during
            the scores: :class:`~facewidget.CancelledError`; during the maps: the statistics of the
            finished partitions, ``manifest["cancelled"] = True``.
    """
    t0 = time.perf_counter()
    if model is None:
        raise ShapeError("analyze needs model= (the model whose activation maps are analysed)")
    if not 0.0 < float(quantile) <= 0.5:
        raise ParameterError("quantile", quantile, "a number in (0, 0.5]")
    if not fiqa:
        raise ShapeError("analyze needs at least one FIQA method")
    if missing not in ("raise", "skip"):
        raise ParameterError("missing", missing, "'raise' or 'skip'")
    space = as_canonical_space(canonical)
    score_work = ScoreWork(fiqa, model, seed)
    names = [method_name(m) for m in score_work.methods()]
    if len(set(names)) != len(names):
        raise ShapeError(f"FIQA method names must be unique; got {names}")
    map_params = {"method": maps, "layer": layer, "target": target, "channels": channels, "seed": seed,
                  "batch_size": batch_size}
    mapper = ActivationMaps(model, **map_params)  # checks the settings before any work
    items, skipped, batch = _plan(images, missing, client, cancel)
    ckpt = None if checkpoint is None else Path(checkpoint)
    common = dict(client=client, partition_size=partition_size, progress=progress, cancel=cancel)

    t_scores = time.perf_counter()
    scored = run(items, score_work, Table(), name="scores", key=None,
                 checkpoint=None if ckpt is None else ckpt / "scores", **common)
    if scored.cancelled:
        raise CancelledError("quality analysis cancelled while scoring (the split needs every score)")
    t_scores = time.perf_counter() - t_scores
    table = scored.accumulator.result()
    skipped = sorted(skipped + list(scored.skipped), key=lambda s: s.index)
    if not table:
        raise ShapeError("no usable image to analyse")
    n = len(table["index"])
    positions = table["index"].astype(np.int64)  # data-set position of each analysed image
    all_scores: dict[str, dict[str, np.ndarray]] = {name: {} for name in names}
    for col in table:
        if "\t" in col:
            name, key = col.split("\t", 1)
            all_scores[name][key] = table[col].astype(np.float64)
    splits, members = {}, {}
    for name in names:
        primary = next(iter(all_scores[name]))
        splits[name] = (primary, *split_by_quantile(all_scores[name][primary], float(quantile)))
        _, high, low, _, _ = splits[name]
        for label, idx in (("high", high), ("low", low)):
            for i in idx:
                members.setdefault(int(positions[i]), []).append(_set_key(name, label))
    keep = set(int(p) for p in positions)
    map_items = [it for it in items if it[0] in keep]

    t_maps = time.perf_counter()
    proto = Composite({"region": MeanVar(None), "chip": Keyed(StreamingMapStats(None, bins=bins)),
                       "canonical": Keyed(StreamingMapStats(None, bins=bins))})
    mapped = run(map_items, MapWork(model, map_params, members, canonical), proto, name="maps",
                 live_maps=_live_maps(names[0]), key=None,
                 checkpoint=None if ckpt is None else ckpt / "maps", **common)
    t_maps = time.perf_counter() - t_maps
    skipped = sorted(skipped + list(mapped.skipped), key=lambda s: s.index)
    acc = mapped.accumulator
    template = model.config.alignment_template()
    region = acc["region"]
    # masks are {0, 1}: the true mean is k/n, so a margin of 1e-9 absorbs the merge's rounding exactly
    region_mask = ((region.mean >= 0.5 - 1e-9).astype(np.float32) if region.shape is not None
                   else template_region_mask(template, mapper.size))
    results: dict[str, dict[str, FIQAAnalysis]] = {"chip": {}, "canonical": {}}
    for space_name in (["chip"] + (["canonical"] if space is not None else [])):
        for name in names:
            primary, high, low, t_high, t_low = splits[name]
            sets = {}
            for label, idx, thr in (("high", high, t_high), ("low", low, t_low)):
                child = acc[space_name].children.get(_set_key(name, label))
                if child is None or child.count == 0:
                    raise CancelledError("quality analysis cancelled before every set had a map")
                sets[label] = _set_stats(label, idx, thr, child)
            if space_name == "chip":
                mirror, reg = np.fliplr, region_mask
            else:
                mirror, reg = space.mirror_fn(sets["high"].std.shape), None
            results[space_name][name] = _finish(name, primary, all_scores[name][primary], sets["high"], sets["low"],
                                                mirror, reg)

    from ..explainers.api import package_versions

    methods = score_work.methods()
    manifest = {"fiqa": [describe_method(m) for m in methods], "quantile": float(quantile), "images": n,
                "set_size": int(np.floor(float(quantile) * n + 1e-9)),
                "maps": mapper.params(), "bins": int(bins), "median_error_bound": 1.0 / bins, "seed": int(seed),
                "batch_size": batch_size, "canonical": getattr(space, "name", None),
                "region": "face oval (mesh), covered by >= half the faces" if region.shape is not None else
                "template ellipse", "versions": package_versions(),
                "skipped": [{"index": s.index, "id": s.id, "reason": s.reason} for s in skipped],
                "cancelled": mapped.cancelled, "runs": {"scores": scored.manifest, "maps": mapped.manifest},
                "timings": {"scores_s": round(t_scores, 4), "maps_s": round(t_maps, 4),
                            "total_s": round(time.perf_counter() - t0, 4)}}
    ids = [_id_value(i) for i in table["id"].tolist()]
    if isinstance(batch, FaceBatch) and batch.ids:
        ids = [batch.ids[int(p)] for p in positions]
    if isinstance(batch, _LazyBatch):
        kept_batch = _LazyBatch([batch.records[int(p)] for p in positions])
    else:
        kept_batch = batch if len(positions) == len(batch) else batch.subset(positions.tolist())
    return QualityAnalysis(ids=ids, scores=all_scores, chip=results["chip"],
                           canonical=results["canonical"] if space is not None else None,
                           inter_fiqa={"chip": inter_fiqa(results["chip"]),
                                       **({"canonical": inter_fiqa(results["canonical"])} if space is not None else {})},
                           region_mask=region_mask, manifest=manifest,
                           _maps=mapper if keep_images else None, _batch=kept_batch if keep_images else None,
                           _canonical_space=space)


def _id_value(s: str):
    return int(s) if s.isdigit() else s
