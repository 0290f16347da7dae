"""Face data sets: an image folder, an LFW-style tree with ``pairs.txt``, a CSV of paths and labels.

Iterating a :class:`FaceDataset` yields :class:`FaceSample` records (photo, largest face, labels).
Faces come from the face index (:func:`face_index`): iterating first detects, as one run on
:func:`facewidget.runs.run`, only the files the index does not hold yet (so a second iteration
over the same files detects nothing), then loads each usable photo as it is yielded. A file that
cannot be read or has no detectable face is **reported, never dropped silently**: it is appended
to ``dataset.skipped`` as a :class:`Skipped` record (position, path and the index's reason, the
words of a run's skip list) and a :class:`SkippedImageWarning` is issued for it.

LFW's ``pairs.txt``: a header line (``N`` or ``folds N``: each fold holds N matched pairs then N
mismatched ones, as in ``pairsDevTrain.txt`` and the 10-fold ``pairs.txt``), then one pair per line, either
``name n1 n2`` (two photos of one person: ``name/name_{n1:04d}.jpg`` and ``name/name_{n2:04d}.jpg``)
or ``name1 n1 name2 n2`` (two people). Fields are separated by tabs or spaces.
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import FacewidgetError, ImageError, ParameterError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class DatasetError(FacewidgetError, ValueError):
    """A data set's layout or index file is malformed (missing folder, bad pairs/CSV line)."""


class SkippedImageWarning(UserWarning):
    """An image of a data set was skipped (unreadable, or no face found)."""


@dataclass
class FaceSample:
    """One usable image of a data set.

    Attributes:
        path: the file. image: RGB uint8 (H, W, 3). face: the largest detected
        :class:`~facewidget.faces.Face`. labels: the entry's labels (CSV columns, ``identity``).
    """

    path: Path
    image: np.ndarray
    face: object
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """An image that was not used, and why (``index``: its position in the data set's entries,
    as in a run's :class:`~facewidget.runs.Skip`; None when unknown)."""

    path: Path
    reason: str
    index: int | None = None


@dataclass(frozen=True)
class Pair:
    """A verification pair of an LFW-style tree."""

    a: Path
    b: Path
    same: bool


class FaceDataset:
    """Entries (path + labels); faces come from the face index, photos are loaded lazily while iterating.

    Args:
        entries: list of (path, labels dict).
        detector: callable photo → list of faces, largest first (default: MediaPipe's, as
            :func:`facewidget.detect_faces`). A custom detector is part of the index's detector
            configuration (its module-qualified name and its ``config`` attribute): changing it
            detects again. One that has no stable name — a lambda, a closure, a
            ``functools.partial``, an object without ``config`` — is never stored on disk (another
            of its kind would look the same); its detections live in memory, in this data set
            object, so its second iteration still detects nothing (``index=`` a file path raises
            :class:`~facewidget.errors.ParameterError`; give such a detector a ``config`` attribute).
        progress: the detection run's progress: True (a tqdm bar), None/False, or a callable
            getting :class:`~facewidget.explainers.engine.ProgressUpdate` after each partition.
        name: shown on the progress bar.
        index: where detections are stored: None (the face index in the cache, shared with
            :func:`face_index` and every data-set run on these files), a Parquet file path, or a
            :class:`~facewidget.runs.face_index.MemoryIndex` (this process only).
    Attributes:
        skipped: :class:`Skipped` records of the last iteration (reset at each new iteration).
        cancelled: whether the last iteration's detection was cancelled (it then yielded only
            the images detected before the cancel).
        run_manifest: the last detection run's manifest (None when everything was in the index).
    """

    def __init__(self, entries: list[tuple[Path, dict]], *, detector: Callable | None = None, progress=True,
                 name: str = "images", index=None):
        from .runs.face_index import MemoryIndex, is_named_detector
        from .runs.progress import progress_callback

        progress_callback(progress, name)  # checks the argument now, not at the first iteration
        if detector is not None and not callable(detector):
            raise ParameterError("detector", detector, "None or a callable photo -> list of faces")
        if index is not None and not isinstance(index, (str, os.PathLike, MemoryIndex)):
            raise ParameterError("index", index, "None, a Parquet file path or a MemoryIndex")
        self.entries = [(Path(p), dict(labels)) for p, labels in entries]
        self.detector = detector
        self.progress = progress
        self.name = name
        if not is_named_detector(detector):
            if index is not None and not isinstance(index, MemoryIndex):
                from .runs.face_index import _UNNAMED

                raise ParameterError("index", index, _UNNAMED)
            index = index if index is not None else MemoryIndex()
        self.index_store = Path(index) if isinstance(index, (str, os.PathLike)) else index
        self.skipped: list[Skipped] = []
        self.cancelled = False
        self.run_manifest: dict | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} {self.name})"

    @property
    def paths(self) -> list[Path]:
        return [p for p, _ in self.entries]

    def load(self, path: Path, labels: dict | None = None) -> FaceSample | Skipped:
        """One entry as a :class:`FaceSample`, or a :class:`Skipped` saying why not (detected now,
        with the index's per-image work; not stored)."""
        from .runs.face_index import DetectWork

        image, faces, reason = DetectWork(detector=self.detector).detect_file(path)
        if reason:
            return Skipped(Path(path), reason)
        return FaceSample(Path(path), image, faces[0], dict(labels or {}))

    def detect(self, *, client=None, partition_size: int = 16, progress=None, cancel=None,
               checkpoint=None) -> "FaceIndex":
        """Bring the face index of these files up to date (see :func:`face_index`; the arguments
        are :func:`facewidget.runs.run`'s) and return it."""
        return face_index(self, client=client, partition_size=partition_size, progress=progress, cancel=cancel,
                          checkpoint=checkpoint)

    def samples(self, *, client=None, partition_size: int = 16, progress=None, cancel=None,
                checkpoint=None) -> Iterator[FaceSample]:
        """Iterate with run settings: detection (of the files not in the index yet) runs with
        ``client``, ``partition_size``, ``checkpoint``, ``progress`` (default: the data set's) and
        ``cancel`` as in :func:`facewidget.runs.run`; then every usable image is loaded and yielded."""
        from .io import load_image
        from .runs.face_index import face_from_row, index_name
        from .runs.progress import progress_callback

        self.skipped, self.cancelled, self.run_manifest = [], False, None
        callback, bar = progress_callback(self.progress if progress is None else progress, self.name)
        try:
            index = self.detect(client=client, partition_size=partition_size, progress=callback, cancel=cancel,
                                checkpoint=checkpoint)
        finally:
            if bar is not None:
                bar.close()
        self.run_manifest = index.manifest
        self.cancelled = bool(index.manifest and index.manifest.get("cancelled"))
        rows = {r["path"]: r for r in index.rows}
        for k, (path, labels) in enumerate(self.entries):
            row = rows.get(index_name(path))
            if row is None:  # cancelled before this image was detected
                continue
            reason = row["reason"]
            if row["status"] == "ok":
                try:
                    image = load_image(path)
                except (ImageError, OSError) as exc:  # changed or removed since it was indexed
                    reason = f"unreadable image: {exc}"
                else:
                    yield FaceSample(path, image, face_from_row(row), dict(labels))
                    continue
            item = Skipped(path, reason, k)
            self.skipped.append(item)
            warnings.warn(f"skipped {item.path}: {item.reason}", SkippedImageWarning, stacklevel=2)

    def __iter__(self) -> Iterator[FaceSample]:
        return self.samples()


class LFWDataset(FaceDataset):
    """An LFW-style tree: ``root/name/name_0001.jpg`` (+ ``pairs``, parsed from ``pairs.txt``)."""

    def __init__(self, entries, pairs: list[Pair], **kwargs):
        super().__init__(entries, **kwargs)
        self.pairs = pairs


def _image_files(root: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def image_folder(root, *, recursive: bool = True, **kwargs) -> FaceDataset:
    """Every image file under ``root`` (sorted; label ``folder`` = the parent folder name)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    files = _image_files(root, recursive)
    if not files:
        raise DatasetError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
    kwargs.setdefault("name", root.name)
    return FaceDataset([(p, {"folder": p.parent.name}) for p in files], **kwargs)


def lfw_image_path(root: Path, name: str, number: int) -> Path:
    """``root/name/name_{number:04d}.jpg``, LFW's naming."""
    return Path(root) / name / f"{name}_{int(number):04d}.jpg"


def parse_pairs(path, root=None) -> list[Pair]:
    """Pairs of an LFW ``pairs.txt`` (see the module docstring); paths are under ``root``
    (default: the file's folder). Raises :class:`DatasetError` on a malformed line."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read pairs file {path}: {exc}") from exc
    if not lines:
        raise DatasetError(f"pairs file {path} is empty")
    header = lines[0].split()
    if not header or not all(h.isdigit() for h in header) or len(header) > 2:
        raise DatasetError(f"{path}:1: expected a header of counts ('N' or 'folds N'); got {lines[0]!r}")
    pairs = []
    for no, line in enumerate(lines[1:], start=2):
        f = line.split()
        if not f:
            continue
        try:
            if len(f) == 3:
                pairs.append(Pair(lfw_image_path(root, f[0], int(f[1])), lfw_image_path(root, f[0], int(f[2])), True))
            elif len(f) == 4:
                pairs.append(Pair(lfw_image_path(root, f[0], int(f[1])), lfw_image_path(root, f[2], int(f[3])), False))
            else:
                raise ValueError(f"{len(f)} fields")
        except ValueError as exc:
            raise DatasetError(f"{path}:{no}: expected 'name n1 n2' or 'name1 n1 name2 n2'; got {line!r} ({exc})") from None
    folds, per_fold = (1, int(header[0])) if len(header) == 1 else (int(header[0]), int(header[1]))
    expected = 2 * folds * per_fold  # each fold: per_fold matched, then per_fold mismatched pairs
    if len(pairs) != expected:
        raise DatasetError(f"{path}: header says {folds} fold(s) × {per_fold} matched + {per_fold} mismatched "
                           f"= {expected} pairs, found {len(pairs)}")
    return pairs


def lfw(root, pairs: str | Path | None = "pairs.txt", **kwargs) -> LFWDataset:
    """An LFW-style tree. Entries are all images (label ``identity`` = the person's folder).

    Pairs whose image files are missing raise :class:`DatasetError` (a broken tree would
    silently bias verification results otherwise). ``pairs=None`` skips the pairs file.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"LFW root {root} does not exist or is not a folder")
    files = [p for p in _image_files(root, recursive=True) if p.parent.parent == root]
    if not files:
        raise DatasetError(f"no images in person folders under {root} (expected root/name/name_0001.jpg)")
    pair_list: list[Pair] = []
    if pairs is not None:
        pairs_path = Path(pairs) if Path(pairs).is_absolute() else root / pairs
        pair_list = parse_pairs(pairs_path, root)
        missing = sorted({str(p) for pr in pair_list for p in (pr.a, pr.b) if not p.is_file()})
        if missing:
            raise DatasetError(f"{len(missing)} images named in {pairs_path.name} are missing, e.g. {missing[:3]}")
    kwargs.setdefault("name", root.name)
    return LFWDataset([(p, {"identity": p.parent.name}) for p in files], pair_list, **kwargs)


def csv_dataset(path, *, path_column: str = "path", label_columns: list[str] | None = None, root=None,
                **kwargs) -> FaceDataset:
    """Images listed in a CSV with a header row; relative paths are under ``root`` (default: the
    CSV's folder). Labels: ``label_columns`` (default: every other column), as strings."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or path_column not in reader.fieldnames:
                raise DatasetError(f"{path}: no {path_column!r} column (columns: {reader.fieldnames})")
            cols = label_columns if label_columns is not None else [c for c in reader.fieldnames if c != path_column]
            unknown = [c for c in cols if c not in reader.fieldnames]
            if unknown:
                raise DatasetError(f"{path}: unknown label columns {unknown}")
            entries = []
            for no, row in enumerate(reader, start=2):
                if not row.get(path_column):
                    raise DatasetError(f"{path}:{no}: empty {path_column!r}")
                p = Path(row[path_column])
                entries.append((p if p.is_absolute() else root / p, {c: row[c] for c in cols}))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read CSV {path}: {exc}") from exc
    if not entries:
        raise DatasetError(f"{path}: no rows")
    kwargs.setdefault("name", path.stem)
    return FaceDataset(entries, **kwargs)


from .runs.face_index import FaceIndex, face_index  # noqa: E402  (the index is a run on facewidget.runs)
