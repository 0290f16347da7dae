"""The face index: every image of a data set detected once, stored as Parquet.

Per image one row: ``path``, ``sha256`` (content hash), ``size`` and ``mtime_ns`` (a fast
"unchanged" check before re-hashing), ``detector`` (the detector configuration as JSON), ``status``
(``"ok"`` or ``"skipped"``), ``reason`` (why skipped), ``n_faces``, and for the largest face:
``box`` (4), ``landmarks`` (478·3: x, y in pixels, z), ``pose`` (yaw, pitch, roll in degrees),
``score``, ``transform`` (4·4) and ``image_h``/``image_w``.

A file whose content hash or detector configuration changed is detected again; an unchanged one
never is. Detection itself is a run on :func:`facewidget.runs.run` (so it takes ``client=``,
``progress=``, ``cancel=``, ``checkpoint=``). The index lives at ``path=`` or in the cache
(``$FACEWIDGET_CACHE`` or the platform cache dir) under ``face-index/``, one file per data-set
folder; rows of other files in that file are kept.

Custom detectors: the detector configuration is ``{"detector": name, "config": ...}``. MediaPipe's
(the default) is named by its :class:`~facewidget.faces.detect.DetectorConfig`. A custom
``detector=`` callable is named by its module-qualified name plus its ``config`` attribute, if it
has one. Only a *named* detector is stored on disk: one with a ``config`` attribute, or a function
defined at module level. Anything else (a lambda, a closure, a ``functools.partial``, a bound
method, an object without ``config``) cannot be told apart from another of its kind by name, so storing it could hand
one detector's faces to another: its rows are kept in a :class:`MemoryIndex` (a
:class:`~facewidget.datasets.FaceDataset` holds one per data set, so its second iteration still
detects nothing), never in the Parquet file.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.assets import sha256_file
from ..errors import FacewidgetError, ImageError, ParameterError
from .accumulators import Table
from .core import SkipItem, run

COLUMNS = ("path", "sha256", "size", "mtime_ns", "detector", "status", "reason", "n_faces", "box", "landmarks",
           "pose", "score", "transform", "image_h", "image_w")
N_LANDMARKS = 478


def _plain_detector(detector: Callable | None) -> Callable | None:
    """None for MediaPipe's default detector (``detect_faces`` is the same detector), else ``detector``."""
    from ..faces.detect import detect_faces

    return None if detector is detect_faces else detector


def _detector_name(detector: Callable) -> str:
    own = getattr(detector, "__qualname__", None)
    owner = detector if isinstance(own, str) else type(detector)
    return f"{getattr(owner, '__module__', '?')}.{owner.__qualname__}"


def is_named_detector(detector: Callable | None) -> bool:
    """Whether ``detector``'s configuration key identifies it (see the module docstring): MediaPipe's,
    one with a ``config`` attribute, or a function defined at module level."""
    detector = _plain_detector(detector)
    if detector is None or getattr(detector, "config", None) is not None:
        return True
    if not (inspect.isfunction(detector) or inspect.isbuiltin(detector)):  # a bound method carries its object's state
        return False
    return "<" not in detector.__qualname__  # not a lambda, not a function defined inside another


_UNNAMED = ("None or a MemoryIndex for a detector without a stable name (a lambda, a closure, a partial, "
            "a bound method, an object without `config`): on disk another detector of its kind would reuse its "
            "faces. Give the detector a `config` attribute to store its detections in a Parquet file")


def detector_key(detector_config=None, detector: Callable | None = None) -> str:
    """The detector configuration as a JSON string (what decides whether a stored row is reused)."""
    from ..faces.detect import DetectorConfig

    detector = _plain_detector(detector)
    if detector is not None:
        cfg = getattr(detector, "config", None)
        desc = {"detector": _detector_name(detector),
                "config": asdict(cfg) if cfg is not None and hasattr(cfg, "__dataclass_fields__") else repr(cfg)}
    else:
        cfg = detector_config or DetectorConfig()
        desc = {"detector": "mediapipe", "config": asdict(cfg)}
    return json.dumps(desc, sort_keys=True)


class DetectWork:
    """Per-item work of the index: load one file and detect its largest face (picklable)."""

    def __init__(self, detector_config=None, detector: Callable | None = None):
        self.detector_config, self.detector = detector_config, _plain_detector(detector)
        self.key = detector_key(detector_config, self.detector)

    def _detect(self, image):
        if self.detector is not None:
            return self.detector(image)
        from ..faces.detect import default_detector

        return default_detector(self.detector_config)(image, None)

    def detect_file(self, path) -> tuple:
        """(image or None, faces largest first, reason): the reason is "" for a usable image, else
        why it is skipped (the same words in the index, in run skip lists and in ``dataset.skipped``)."""
        from ..io import load_image

        try:
            image = load_image(path)
        except (ImageError, OSError) as exc:
            return None, [], f"unreadable image: {exc}"
        try:
            faces = self._detect(image)
        except FacewidgetError as exc:
            return image, [], f"face detection failed: {exc}"
        return image, faces, "" if faces else "no face detected"

    def __call__(self, item) -> dict:
        index, path, sha, size, mtime = item
        row = {"index": index, "path": path, "sha256": sha, "size": size, "mtime_ns": mtime, "detector": self.key,
               "status": "ok", "reason": "", "n_faces": 0, "box": np.full(4, np.nan),
               "landmarks": np.full(N_LANDMARKS * 3, np.nan, dtype=np.float32), "pose": np.full(3, np.nan),
               "score": np.nan, "transform": np.full(16, np.nan, dtype=np.float32), "image_h": 0, "image_w": 0}
        image, faces, reason = self.detect_file(path)
        if image is not None:
            row.update(image_h=int(image.shape[0]), image_w=int(image.shape[1]), n_faces=len(faces))
        if reason:
            return {**row, "status": "skipped", "reason": reason}
        f = faces[0]
        row.update(box=np.asarray(f.box, np.float64), landmarks=np.asarray(f.landmarks, np.float32).reshape(-1),
                   pose=np.asarray(f.pose, np.float64), score=float(f.score),
                   transform=np.asarray(f.transform, np.float32).reshape(-1))
        return row


def face_from_row(row: dict):
    """The :class:`~facewidget.faces.Face` stored in an index row (None when skipped)."""
    from ..faces import Face

    if row["status"] != "ok":
        return None
    return Face(box=tuple(float(v) for v in row["box"]),
                landmarks=np.asarray(row["landmarks"], np.float32).reshape(N_LANDMARKS, 3),
                pose=tuple(float(v) for v in row["pose"]), score=float(row["score"]),
                transform=np.asarray(row["transform"], np.float32).reshape(4, 4),
                image_size=(int(row["image_h"]), int(row["image_w"])))


class MemoryIndex:
    """Index rows kept in memory (by path) instead of a Parquet file: where an unnamed custom
    detector's detections live (see the module docstring). Pass it as ``face_index(..., path=)``."""

    def __init__(self):
        self.rows: dict = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"MemoryIndex({len(self)} rows)"


@dataclass
class FaceIndex:
    """The rows of a data set's images (in the data set's order) and where they are stored.

    Attributes:
        rows: one dict per image (see the module docstring). path: the Parquet file (None when
            the rows are kept in a :class:`MemoryIndex`).
        detected: how many images this call detected (0 when everything was reused).
        manifest: the detection run's manifest (None when nothing was detected).
    """

    rows: list
    path: Path | None
    detected: int
    manifest: dict | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def face(self, i: int):
        return face_from_row(self.rows[i])

    @property
    def skipped(self) -> list:
        """(path, reason) of every image without a usable face."""
        return [(r["path"], r["reason"]) for r in self.rows if r["status"] != "ok"]

    def to_pandas(self):
        import pyarrow.parquet as pq

        if self.path is None:
            import pandas as pd

            return pd.DataFrame([{c: _plain(r[c]) for c in COLUMNS} for r in self.rows], columns=list(COLUMNS))
        return pq.read_table(self.path).to_pandas()


def _require_pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        from ..errors import MissingExtraError

        raise MissingExtraError(f'the face index needs pyarrow (a facewidget dependency): pip install pyarrow — {exc}') from None


def default_index_path(paths: list[Path]) -> Path:
    from ..data.assets import cache_dir

    root = Path(os.path.commonpath([str(p.parent.resolve()) for p in paths])) if paths else Path(".")
    name = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return cache_dir() / "face-index" / f"{root.name or 'root'}-{name}.parquet"


def index_name(path) -> str:
    """The ``path`` column of a file's row: its resolved path (as given when it does not exist)."""
    p = Path(path)
    return str(p.resolve()) if p.exists() else str(p)


def _read(path) -> dict:
    import pyarrow.parquet as pq

    if isinstance(path, MemoryIndex):
        return dict(path.rows)
    if not path.exists():
        return {}
    table = pq.read_table(path).to_pylist()
    out = {}
    for r in table:  # numeric lists as compact arrays: a row's mesh is 5.7 kB, not 46 kB of Python floats
        for c, dtype in (("box", np.float64), ("landmarks", np.float32), ("pose", np.float64),
                         ("transform", np.float32)):
            r[c] = np.asarray(r[c], dtype=dtype)
        out[r["path"]] = r
    return out


def _write(path, rows: list) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(path, MemoryIndex):
        path.rows = {r["path"]: r for r in rows}
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = {c: [(_plain(r[c])) for r in rows] for c in COLUMNS}
    table = pa.table(cols)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _plain(v):
    if isinstance(v, np.ndarray):
        return [float(x) for x in v.reshape(-1)]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _dataset_paths(dataset) -> list[Path]:
    from ..datasets import FaceDataset, image_folder

    if isinstance(dataset, FaceDataset):
        return dataset.paths
    if isinstance(dataset, (str, os.PathLike)) and Path(dataset).is_dir():
        return image_folder(dataset, progress=False).paths
    if isinstance(dataset, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in dataset):
        return [Path(p) for p in dataset]
    raise ParameterError("dataset", dataset, "a FaceDataset, an image folder or a list of image paths")


def face_index(dataset, *, path=None, detector_config=None, detector: Callable | None = None, client=None,
               partition_size: int = 16, progress=None, cancel=None, checkpoint=None) -> FaceIndex:
    """Detect every image of ``dataset`` once; reuse stored detections of unchanged files.

    Args:
        dataset: a :class:`~facewidget.datasets.FaceDataset`, an image folder or a list of paths.
        path: the Parquet file, or a :class:`MemoryIndex` (default: a data set's own ``index``
            setting, else in the cache, one file per data-set folder).
        detector_config: :class:`~facewidget.faces.detect.DetectorConfig` (default settings when None).
        detector: a callable photo → faces (largest first) instead of MediaPipe's (default: a data
            set's ``detector``). Its name and ``config`` attribute are part of the stored
            configuration; an unnamed one (a lambda, a closure) is kept in memory only, see the
            module docstring.
        client, partition_size, progress, cancel, checkpoint: see :func:`facewidget.runs.run`.
    Returns:
        :class:`FaceIndex` with one row per image, in the data set's order (cancelled: only the
        rows of the images detected or reused, ``manifest["cancelled"]`` True).
    """
    _require_pyarrow()
    paths = [Path(p) for p in _dataset_paths(dataset)]
    own = getattr(dataset, "detector", None)
    if detector is None and own is not None:
        detector = own
    detector = _plain_detector(detector)
    if path is None and detector is _plain_detector(own):  # the data set's own storage, for its own detector
        path = getattr(dataset, "index_store", None)
    if isinstance(path, MemoryIndex):
        store = path
    elif not is_named_detector(detector):  # never on disk, where another detector of that name would reuse it
        if path is not None:
            raise ParameterError("path", path, _UNNAMED)
        store = MemoryIndex()
    else:
        store = Path(path) if path is not None else default_index_path(paths)
    stored = _read(store)
    key = detector_key(detector_config, detector)
    rows: list = [None] * len(paths)
    todo = []
    for i, p in enumerate(paths):
        name = index_name(p)
        try:
            st = p.stat()
            size, mtime = int(st.st_size), int(st.st_mtime_ns)
        except OSError:
            size, mtime = -1, -1
        old = stored.get(name)
        if old is not None and old["detector"] == key and size >= 0:
            if (old["size"], old["mtime_ns"]) == (size, mtime):
                rows[i] = old
                continue
            sha = sha256_file(p)
            if sha == old["sha256"]:
                rows[i] = {**old, "size": size, "mtime_ns": mtime}
                continue
        else:
            sha = sha256_file(p) if size >= 0 else ""
        todo.append((i, name, sha, size, mtime))
    manifest = None
    if todo:
        result = run(todo, DetectWork(detector_config, detector), Table(), client=client,
                     partition_size=partition_size, progress=progress, cancel=cancel, checkpoint=checkpoint,
                     name="face index")
        manifest = result.manifest
        table = result.accumulator.result()
        for k in range(len(table.get("index", []))):
            row = {c: table[c][k] for c in COLUMNS}
            row = {c: (v.item() if isinstance(v, np.generic) else v) for c, v in row.items()}
            rows[int(table["index"][k])] = row
    done = [r for r in rows if r is not None]
    if todo or len(stored) == 0 or any(stored.get(r["path"]) is not r for r in done):
        merged = dict(stored)
        merged.update({r["path"]: r for r in done})
        _write(store, list(merged.values()))
    if any(r is None for r in rows):  # cancelled: only the rows that were computed
        rows = [r for r in rows if r is not None]
    return FaceIndex(rows=rows, path=None if isinstance(store, MemoryIndex) else store,
                     detected=len(todo) if manifest is None else manifest["done_items"], manifest=manifest)
