"""Canonical model saliency (CMS): streaming per-texel statistics of canonical maps over a data set.

Every image's map is projected onto the canonical face and folded into running statistics
(count, mean and sum of squared deviations per texel and per vertex, merged by Chan et al.'s
pairwise update: :class:`facewidget.runs.MeanVar`), one accumulator per subgroup. It is a run on
:func:`facewidget.runs.run`: in-process or on a Dask cluster, resumable, live and cancellable. Only the accumulators and each image's per-region means (images ×
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

from ..errors import ParameterError, FacewidgetError, ShapeError
from ..runs import Composite, Keyed, MeanVar, ModelHandle, SkipItem, Table, fingerprint, run
from ..runs.progress import progress_callback
from .atlas import N_VERTICES
from .canonical_map import CanonicalMap
from .regions import REGION_NAMES, region_label_texture

ALL = "all"


class GroupError(FacewidgetError, KeyError):
    """A sample has no value for the label column used to group it."""


RunningStats = MeanVar
"""Per-element NaN-aware count / mean / M2 (the run layer's :class:`~facewidget.runs.MeanVar`)."""


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
        every image left out. metadata: method, parameters, model id + weights hash, versions, and
        the run's manifest (``metadata["run"]``; ``metadata["cancelled"]`` when stopped early).
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

    @property
    def vertex_values(self):
        """Per-vertex mean of the first group (what a CanonicalFaceView shows); None when empty."""
        if not self.groups:
            return None
        return next(iter(self.groups.values())).vertices.mean_or_nan()

    def region_scores(self):
        """Region scores of the first group's mean map (empty when no image was used)."""
        if not self.groups:
            return []
        return self.canonical_map(next(iter(self.groups))).region_scores()


def _jsonable(key):
    return key if isinstance(key, (str, int, float, bool)) or key is None else str(key)


class predicted_class:  # noqa: N801 - used like a function: groups=predicted_class(model)
    """A ``groups`` callable: the class the model predicts for a sample (e.g. predicted gender).

    Holds the model as a :class:`~facewidget.runs.ModelHandle`, so it travels to workers as a spec."""

    def __init__(self, model):
        self.handle = ModelHandle(model)
        self.__name__ = f"predicted_class[{model.config.name}]"

    def __call__(self, sample) -> str:
        model = self.handle.model
        with torch.no_grad():
            out = model.embed(model.align(sample.image, [sample.face]))
        c = int(out[0].argmax())
        classes = model.config.classes
        return classes[c] if classes and c < len(classes) else c


@dataclass
class _Item:
    path: object
    image: np.ndarray
    face: object
    labels: dict


def _plan(images: Iterable, *, client=None, progress=None, cancel=None) -> tuple[list, list]:
    """(items, skipped): light per-image records for the run, and the images already known unusable.

    Data sets and lists of paths go through the face index (each file detected once, ever);
    in-memory photos and ``(image, face[, labels])`` tuples travel as they are."""
    from ..datasets import FaceDataset, FaceSample, face_index

    if isinstance(images, FaceDataset) or (isinstance(images, (list, tuple)) and images
                                           and all(isinstance(p, (str, Path)) for p in images)):
        labels = [lab for _, lab in images.entries] if isinstance(images, FaceDataset) else [{}] * len(images)
        index = face_index(images, client=client, progress=progress, cancel=cancel)
        items, skipped = [], []
        for k, row in enumerate(index.rows):
            if row["status"] != "ok":
                skipped.append((row["path"], row["reason"]))
            else:
                items.append(("indexed", k, row["path"], row, labels[k]))
        return items, skipped
    items = []
    for k, item in enumerate(images):
        if isinstance(item, FaceSample):
            items.append(("sample", k, str(item.path), (item.image, item.face), item.labels))
            continue
        if isinstance(item, tuple):
            if len(item) not in (2, 3):
                raise ShapeError(f"item {k}: expected (image, face) or (image, face, labels); got {len(item)} values")
            image, face = item[0], item[1]
            labels = dict(item[2]) if len(item) == 3 else {}
        else:
            image, face, labels = item, None, {}
        path = str(image) if isinstance(image, (str, Path)) else k
        items.append(("raw", k, path, (image, face), labels))
    return items, []


def _load(record) -> _Item:
    """The image and face of a planned record (raises SkipItem when unusable)."""
    from ..faces import detect_faces
    from ..io import load_image
    from ..runs.face_index import face_from_row

    kind, _, path, payload, labels = record
    if kind == "indexed":
        try:
            img = load_image(path)
        except FacewidgetError as exc:
            raise SkipItem(f"unreadable image: {exc}") from None
        return _Item(path, img, face_from_row(payload), labels)
    image, face = payload
    try:
        img = load_image(image)
    except FacewidgetError as exc:
        raise SkipItem(f"unreadable image: {exc}") from None
    if face is None:
        faces = detect_faces(img)
        if not faces:
            raise SkipItem("no face detected")
        face = faces[0]
    return _Item(path, img, face, labels)


def _group_key(groups, item: _Item):
    if groups is None:
        return ALL
    if isinstance(groups, str):
        if groups not in item.labels:
            raise GroupError(f"{item.path}: no label {groups!r} (labels: {sorted(item.labels)})")
        return item.labels[groups]
    if callable(groups):
        return groups(item)
    raise ParameterError("groups", groups, "None, a label column name or a callable")


def image_map(item_image, face, model, target, method, resolution: int, **method_kwargs) -> CanonicalMap:
    """One image's canonical map by ``method`` ("cis" or a callable, see :func:`model_map`)."""
    from .cis import canonical_image_saliency
    from .project import project

    if method == "cis":
        return canonical_image_saliency(item_image, model, target, face, resolution=resolution, **method_kwargs)
    if not callable(method):
        raise ParameterError("method", method, "'cis' or a callable (image, face, model, target) -> photo map")
    out = method(item_image, face, model, target, **method_kwargs)
    if isinstance(out, CanonicalMap):
        if out.resolution != resolution:
            raise ShapeError(f"method returned a {out.resolution}² canonical map; the model map is {resolution}²")
        return out
    if hasattr(out, "photo_map") and hasattr(out, "maps"):  # an ExplainedFace
        out = out.photo_map(next(iter(out.maps)))
    return project(out, face, resolution=resolution)


class ModelMapWork:
    """Per-image work of :func:`model_map`: load, face, map, project (picklable: the model is a spec)."""

    def __init__(self, model, target, method, resolution: int, groups, method_kwargs: dict):
        self.handle = ModelHandle(model)
        self.target, self.method, self.resolution = target, method, int(resolution)
        self.groups, self.method_kwargs = groups, method_kwargs

    def __call__(self, record):
        item = _load(record)
        key = _group_key(self.groups, item)
        cmap = image_map(item.image, item.face, self.handle.model, self.target, self.method, self.resolution,
                         **self.method_kwargs)
        if cmap.resolution != self.resolution:
            raise ShapeError(f"map resolution {cmap.resolution} differs from the model map's {self.resolution}")
        index = record[1]
        return key, {"texels": cmap.texture, "vertices": cmap.vertex_values,
                     "regions": {"index": index, "path": str(item.path), "means": region_means(cmap)}}, index


def group_accumulator(resolution: int) -> Keyed:
    """The model map's accumulator: per group, texel and vertex moments and the region table."""
    return Keyed(Composite({"texels": MeanVar((resolution, resolution)), "vertices": MeanVar((N_VERTICES,)),
                            "regions": Table()}))


def _group_maps(acc: Keyed, resolution: int) -> dict:
    out = {}
    for key in acc.keys():
        comp = acc.children[key]
        table = comp["regions"].result()
        gm = GroupMap(key=key, resolution=resolution, texels=comp["texels"], vertices=comp["vertices"])
        if table:
            gm.region_means = [np.asarray(r, dtype=np.float64) for r in table["means"]]
            gm.paths = [_path_value(p) for p in table["path"].tolist()]
        out[key] = gm
    return out


def _path_value(p: str):
    return int(p) if p.isdigit() else p


def _live_maps(acc: Keyed) -> dict:
    keys = acc.keys()
    if not keys:
        return {}
    comp = acc.children[keys[0]]
    return {"values": comp["vertices"].mean_or_nan().astype(np.float32),
            "mean": comp["texels"].mean_or_nan().astype(np.float32)}


def model_map(images: Iterable, model=None, target=None, *, method="cis", groups=None, resolution: int = 256,
              client=None, partition_size: int = 8, checkpoint=None, progress=None, cancel=None,
              **method_kwargs) -> ModelMap:
    """Canonical model saliency over ``images``, per subgroup, streaming.

    Args:
        images: a :class:`~facewidget.datasets.FaceDataset` or a list of image paths (faces come
            from the face index: each file is detected once, ever), or an iterable of
            :class:`~facewidget.datasets.FaceSample`, ``(image, face)`` or ``(image, face, labels)``
            tuples or photos (faces are detected).
        model: :class:`~facewidget.models.base.FaceModel` (passed on to ``method``).
        target: callable network output → (B,) (None: the task's default, see
            :func:`~facewidget.canonical.cis.occlusion_drops`).
        method: ``"cis"`` or a callable ``method(image, face, model, target, **method_kwargs)``
            returning a photo-space (H, W) map, an ``ExplainedFace`` (its first map is used) or a
            :class:`CanonicalMap`.
        groups: None (one group ``"all"``), a label name (e.g. ``"gender"``) or a callable
            sample → key (e.g. :func:`predicted_class`).
        resolution: texture side.
        client, partition_size, checkpoint, cancel: see :func:`facewidget.runs.run` (None: in-process).
        progress: a callable getting :class:`~facewidget.explainers.engine.ProgressUpdate` after each
            partition; its ``maps`` hold ``values`` (per-vertex mean) and ``mean`` (texel mean) of
            the first group. ``True`` shows a tqdm bar.
    Returns:
        :class:`ModelMap`. Maps are folded into running statistics as they come; none is kept.
        Cancelled: the images of the finished partitions, ``metadata["cancelled"] = True``.
    """
    if isinstance(method, str) and method != "cis":
        raise ParameterError("method", method, "'cis' or a callable (image, face, model, target) -> photo map")
    if groups is not None and not isinstance(groups, str) and not callable(groups):
        raise ParameterError("groups", groups, "None, a label column name or a callable")
    callback, bar = progress_callback(progress, "model map")
    try:
        items, skipped = _plan(images, client=client, cancel=cancel)
        inner = getattr(images, "skipped", None)  # a FaceDataset iterated before reports its own skips
        work = ModelMapWork(model, target, method, resolution, groups, method_kwargs)
        cfg = getattr(model, "config", None)
        key = fingerprint([(r[1], str(r[2])) for r in items], _name(method), method_kwargs, resolution, _name(groups),
                          _name(target), getattr(cfg, "name", None), getattr(cfg, "weights_sha256", None))
        result = run(items, work, group_accumulator(resolution), client=client, partition_size=partition_size,
                     checkpoint=checkpoint, progress=callback, cancel=cancel, live_maps=_live_maps, name="model map",
                     key=key)
    finally:
        if bar is not None:
            bar.close()
    for s in result.skipped:
        skipped.append((_path_value(s.id), s.reason))
    if inner and not isinstance(images, FaceDatasetType()):
        skipped.extend((s.path, s.reason) for s in inner)
    for path, reason in skipped:
        warnings.warn(f"skipped {path}: {reason}", _skipped_warning(), stacklevel=2)
    out = _group_maps(result.accumulator, resolution)
    cfg = getattr(model, "config", None)
    meta = {"method": method if isinstance(method, str) else getattr(method, "__name__", repr(method)),
            "method_kwargs": {k: _jsonable(v) for k, v in method_kwargs.items()}, "resolution": resolution,
            "groups": groups if groups is None or isinstance(groups, str) else getattr(groups, "__name__", repr(groups)),
            "target": None if target is None else getattr(target, "__name__", repr(target)),
            "model": getattr(cfg, "name", None), "weights_sha256": getattr(cfg, "weights_sha256", None),
            "n_images": sum(g.n_images for g in out.values()), "n_skipped": len(skipped),
            "cancelled": result.cancelled, "run": result.manifest,
            "numpy": np.__version__, "torch": torch.__version__}
    return ModelMap(groups=out, skipped=skipped, metadata=meta)


def _name(x):
    return x if x is None or isinstance(x, str) else getattr(x, "__name__", type(x).__name__)


def FaceDatasetType():  # noqa: N802 - a lazy import of the class
    from ..datasets import FaceDataset

    return FaceDataset


def _skipped_warning():
    from ..datasets import SkippedImageWarning

    return SkippedImageWarning


