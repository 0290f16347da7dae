"""Canonical model saliency (CMS): streaming per-texel statistics of canonical maps over a data set.

Every image's map is projected onto the canonical face and folded into running statistics
(Welford's algorithm: count, mean and sum of squared deviations per texel and per vertex), one
accumulator per subgroup. Only the accumulators and each image's per-region means (images ×
regions numbers, for :func:`compare`'s permutation tests) are kept, never the maps.

Unseen texels (turned away from the camera) are left out of the statistics of that texel, so
``count`` differs between texels; ``mean`` is the mean over the images that showed the texel.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable, Iterable

import numpy as np
import torch

from ..errors import FacewidgetError, ShapeError
from .atlas import N_VERTICES
from .canonical_map import CanonicalMap
from .regions import REGION_NAMES, region_label_texture

ALL = "all"


class GroupError(FacewidgetError, KeyError):
    """A sample has no value for the label column used to group it."""


class RunningStats:
    """Welford accumulator over arrays of one shape that may contain NaN (= missing)."""

    def __init__(self, shape):
        self.count = np.zeros(shape, dtype=np.int64)
        self.mean = np.zeros(shape, dtype=np.float64)
        self.m2 = np.zeros(shape, dtype=np.float64)

    def add(self, values: np.ndarray) -> None:
        x = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(x)
        self.count[ok] += 1
        delta = np.where(ok, x - self.mean, 0.0)
        self.mean += np.where(ok, delta / np.maximum(self.count, 1), 0.0)
        self.m2 += np.where(ok, delta * (x - self.mean), 0.0)

    def mean_or_nan(self) -> np.ndarray:
        return np.where(self.count > 0, self.mean, np.nan)

    def std(self, ddof: int = 1) -> np.ndarray:
        """Per-element standard deviation (NaN where count <= ddof)."""
        n = self.count - ddof
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, np.sqrt(np.maximum(self.m2, 0) / np.maximum(n, 1)), np.nan)


@dataclass
class GroupMap:
    """Statistics of one subgroup's canonical maps.

    Attributes:
        key: the group's value. texels / vertices: :class:`RunningStats` over (R, R) / (468,).
        region_means: one row per image: the mean of its map in each region of
            :data:`~facewidget.canonical.regions.REGION_NAMES` (NaN if unseen).
        paths: the images (path or index) in order.
    """

    key: Hashable
    resolution: int
    texels: RunningStats = None
    vertices: RunningStats = None
    region_means: list = field(default_factory=list)
    paths: list = field(default_factory=list)

    def __post_init__(self):
        if self.texels is None:
            self.texels = RunningStats((self.resolution, self.resolution))
        if self.vertices is None:
            self.vertices = RunningStats((N_VERTICES,))

    @property
    def n_images(self) -> int:
        return len(self.paths)

    @property
    def mean(self) -> np.ndarray:
        """(R, R) per-texel mean (NaN where no image showed the texel)."""
        return self.texels.mean_or_nan()

    @property
    def std(self) -> np.ndarray:
        """(R, R) per-texel sample standard deviation (ddof = 1)."""
        return self.texels.std()

    @property
    def count(self) -> np.ndarray:
        """(R, R) number of images that showed each texel."""
        return self.texels.count

    def region_table(self) -> np.ndarray:
        """(images, regions) per-image region means."""
        return np.asarray(self.region_means, dtype=np.float64).reshape(-1, len(REGION_NAMES))

    def add(self, cmap: CanonicalMap, path=None) -> None:
        if cmap.resolution != self.resolution:
            raise ShapeError(f"map resolution {cmap.resolution} differs from the model map's {self.resolution}")
        self.texels.add(cmap.texture)
        self.vertices.add(cmap.vertex_values)
        self.region_means.append(region_means(cmap))
        self.paths.append(path)

    def canonical_map(self) -> CanonicalMap:
        """The mean map as a :class:`CanonicalMap` (valid where at least one image showed it)."""
        mean = self.mean
        return CanonicalMap(texture=mean.astype(np.float32), valid=self.count > 0,
                            vertex_values=self.vertices.mean_or_nan(), triangle_visible=np.ones(898, bool),
                            metadata={"method": "model_map", "group": _jsonable(self.key), "n_images": self.n_images})


def region_means(cmap: CanonicalMap) -> np.ndarray:
    """(regions,) mean of a map's valid texels in each region (NaN where none is valid)."""
    labels = region_label_texture(cmap.resolution).reshape(-1)
    valid = cmap.valid.reshape(-1) & (labels >= 0)
    lab = labels[valid].astype(np.int64)
    k = len(REGION_NAMES)
    sums = np.bincount(lab, weights=cmap.texture.reshape(-1)[valid].astype(np.float64), minlength=k)
    counts = np.bincount(lab, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@dataclass
class ModelMap:
    """Canonical model saliency of a data set, per subgroup.

    Attributes:
        groups: ``{key: GroupMap}`` in order of first appearance. skipped: ``(path, reason)`` of
        every image left out. metadata: method, parameters, model id + weights hash, versions.
    """

    groups: dict
    skipped: list
    metadata: dict

    def __getitem__(self, key) -> GroupMap:
        return self.groups[key]

    def canonical_map(self, key=None) -> CanonicalMap:
        """The mean map of a group (default: the only group)."""
        if key is None:
            if len(self.groups) != 1:
                raise GroupError(f"several groups {list(self.groups)}; say which one")
            key = next(iter(self.groups))
        return self.groups[key].canonical_map()


def _jsonable(key):
    return key if isinstance(key, (str, int, float, bool)) or key is None else str(key)


def predicted_class(model) -> Callable:
    """A ``groups`` callable: the class the model predicts for a sample (e.g. predicted gender)."""
    def group(sample) -> str:
        with torch.no_grad():
            out = model.embed(model.align(sample.image, [sample.face]))
        c = int(out[0].argmax())
        classes = model.config.classes
        return classes[c] if classes and c < len(classes) else c
    group.__name__ = f"predicted_class[{model.config.name}]"
    return group


@dataclass
class _Item:
    path: object
    image: np.ndarray
    face: object
    labels: dict


def _items(images: Iterable, skipped: list) -> Iterable[_Item]:
    """Normalise data-set items; unusable ones are reported in ``skipped`` and warned about."""
    from ..datasets import FaceSample, SkippedImageWarning
    from ..faces import detect_faces
    from ..io import load_image

    def skip(path, reason):
        skipped.append((path, reason))
        warnings.warn(f"skipped {path}: {reason}", SkippedImageWarning, stacklevel=3)

    for k, item in enumerate(images):
        if isinstance(item, FaceSample):
            yield _Item(item.path, item.image, item.face, item.labels)
            continue
        labels: dict = {}
        face = None
        if isinstance(item, tuple):
            if len(item) not in (2, 3):
                raise ShapeError(f"item {k}: expected (image, face) or (image, face, labels); got {len(item)} values")
            image, face = item[0], item[1]
            labels = dict(item[2]) if len(item) == 3 else {}
        else:
            image = item
        path = str(image) if isinstance(image, (str, Path)) else k
        try:
            img = load_image(image)
        except FacewidgetError as exc:
            skip(path, f"unreadable image: {exc}")
            continue
        if face is None:
            faces = detect_faces(img)
            if not faces:
                skip(path, "no face detected")
                continue
            face = faces[0]
        yield _Item(path, img, face, labels)
    inner = getattr(images, "skipped", None)  # a FaceDataset reports its own skips; pass them on
    if inner:
        skipped.extend((s.path, s.reason) for s in inner)


def _group_key(groups, item: _Item):
    if groups is None:
        return ALL
    if isinstance(groups, str):
        if groups not in item.labels:
            raise GroupError(f"{item.path}: no label {groups!r} (labels: {sorted(item.labels)})")
        return item.labels[groups]
    if callable(groups):
        return groups(item)
    raise ShapeError(f"groups must be None, a label column name or a callable; got {type(groups).__name__}")


def image_map(item_image, face, model, target, method, resolution: int, **method_kwargs) -> CanonicalMap:
    """One image's canonical map by ``method`` ("cis" or a callable, see :func:`model_map`)."""
    from .cis import canonical_image_saliency
    from .project import project

    if method == "cis":
        return canonical_image_saliency(item_image, model, target, face, resolution=resolution, **method_kwargs)
    if not callable(method):
        raise ShapeError(f"method must be 'cis' or a callable; got {method!r}")
    out = method(item_image, face, model, target, **method_kwargs)
    if isinstance(out, CanonicalMap):
        if out.resolution != resolution:
            raise ShapeError(f"method returned a {out.resolution}² canonical map; the model map is {resolution}²")
        return out
    if hasattr(out, "photo_map") and hasattr(out, "maps"):  # an ExplainedFace
        out = out.photo_map(next(iter(out.maps)))
    return project(out, face, resolution=resolution)


def model_map(images: Iterable, model=None, target=None, *, method="cis", groups=None, resolution: int = 256,
              progress: bool = False, **method_kwargs) -> ModelMap:
    """Canonical model saliency over ``images``, per subgroup, streaming.

    Args:
        images: iterable of :class:`~facewidget.datasets.FaceSample` (e.g. a
            :class:`~facewidget.datasets.FaceDataset`), ``(image, face)`` or
            ``(image, face, labels)`` tuples, photos (arrays) or paths (faces are detected).
        model: :class:`~facewidget.models.base.FaceModel` (passed on to ``method``).
        target: callable network output → (B,) (None: the task's default, see
            :func:`~facewidget.canonical.cis.occlusion_drops`).
        method: ``"cis"`` or a callable ``method(image, face, model, target, **method_kwargs)``
            returning a photo-space (H, W) map, an ``ExplainedFace`` (its first map is used) or a
            :class:`CanonicalMap`.
        groups: None (one group ``"all"``), a label name (e.g. ``"gender"``) or a callable
            sample → key (e.g. :func:`predicted_class`).
        resolution: texture side.
        progress: show a tqdm bar.
    Returns:
        :class:`ModelMap`. Maps are folded into running statistics as they come; none is kept.
    """
    from tqdm.auto import tqdm

    skipped: list = []
    out: dict = {}
    cfg = getattr(model, "config", None)
    total = len(images) if hasattr(images, "__len__") else None
    for item in tqdm(_items(images, skipped), total=total, disable=not progress, desc="model map", unit="img"):
        key = _group_key(groups, item)
        cmap = image_map(item.image, item.face, model, target, method, resolution, **method_kwargs)
        group = out.get(key)
        if group is None:
            group = out[key] = GroupMap(key=key, resolution=resolution)
        group.add(cmap, item.path)
    meta = {"method": method if isinstance(method, str) else getattr(method, "__name__", repr(method)),
            "method_kwargs": {k: _jsonable(v) for k, v in method_kwargs.items()}, "resolution": resolution,
            "groups": groups if groups is None or isinstance(groups, str) else getattr(groups, "__name__", repr(groups)),
            "target": None if target is None else getattr(target, "__name__", repr(target)),
            "model": getattr(cfg, "name", None), "weights_sha256": getattr(cfg, "weights_sha256", None),
            "n_images": sum(g.n_images for g in out.values()), "n_skipped": len(skipped),
            "numpy": np.__version__, "torch": torch.__version__}
    return ModelMap(groups=out, skipped=skipped, metadata=meta)
