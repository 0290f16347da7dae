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
"""

from __future__ import annotations

import hashlib
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


def detector_key(detector_config=None, detector: Callable | None = None) -> str:
    """The detector configuration as a JSON string (what decides whether a stored row is reused)."""
    from ..faces.detect import DetectorConfig

    if detector is not None:
        cfg = getattr(detector, "config", None)
        desc = {"detector": getattr(detector, "__qualname__", type(detector).__qualname__),
                "config": asdict(cfg) if cfg is not None and hasattr(cfg, "__dataclass_fields__") else repr(cfg)}
    else:
        cfg = detector_config or DetectorConfig()
        desc = {"detector": "mediapipe", "config": asdict(cfg)}
    return json.dumps(desc, sort_keys=True)


class DetectWork:
    """Per-item work of the index: load one file and detect its largest face (picklable)."""

    def __init__(self, detector_config=None, detector: Callable | None = None):
        self.detector_config, self.detector = detector_config, detector
        self.key = detector_key(detector_config, detector)

    def _detect(self, image):
        if self.detector is not None:
            return self.detector(image)
        from ..faces.detect import default_detector

        return default_detector(self.detector_config)(image, None)

    def __call__(self, item) -> dict:
        index, path, sha, size, mtime = item
        from ..io import load_image

        row = {"index": index, "path": path, "sha256": sha, "size": size, "mtime_ns": mtime, "detector": self.key,
               "status": "ok", "reason": "", "n_faces": 0, "box": np.full(4, np.nan),
               "landmarks": np.full(N_LANDMARKS * 3, np.nan, dtype=np.float32), "pose": np.full(3, np.nan),
               "score": np.nan, "transform": np.full(16, np.nan, dtype=np.float32), "image_h": 0, "image_w": 0}
        try:
            image = load_image(path)
        except (ImageError, OSError) as exc:
            return {**row, "status": "skipped", "reason": f"unreadable image: {exc}"}
        try:
            faces = self._detect(image)
        except FacewidgetError as exc:
            return {**row, "status": "skipped", "reason": f"face detection failed: {exc}",
                    "image_h": image.shape[0], "image_w": image.shape[1]}
        row.update(image_h=int(image.shape[0]), image_w=int(image.shape[1]), n_faces=len(faces))
        if not faces:
            return {**row, "status": "skipped", "reason": "no face detected"}
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


@dataclass
class FaceIndex:
    """The rows of a data set's images (in the data set's order) and where they are stored.

    Attributes:
        rows: one dict per image (see the module docstring). path: the Parquet file.
        detected: how many images this call detected (0 when everything was reused).
        manifest: the detection run's manifest (None when nothing was detected).
    """

    rows: list
    path: Path
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

        return pq.read_table(self.path).to_pandas()


def _require_pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        from .core import MissingExtraError

        raise MissingExtraError(f'the face index needs pyarrow (a facewidget dependency): pip install pyarrow — {exc}') from None


def default_index_path(paths: list[Path]) -> Path:
    from ..data.assets import cache_dir

    root = Path(os.path.commonpath([str(p.parent.resolve()) for p in paths])) if paths else Path(".")
    name = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return cache_dir() / "face-index" / f"{root.name or 'root'}-{name}.parquet"


def _read(path: Path) -> dict:
    import pyarrow.parquet as pq

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


def _write(path: Path, rows: list) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

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
        path: the Parquet file (default: in the cache, one per data-set folder).
        detector_config: :class:`~facewidget.faces.detect.DetectorConfig` (default settings when None).
        detector: a callable photo → faces (largest first) instead of MediaPipe's (its
            ``config`` attribute, if any, is part of the stored configuration).
        client, partition_size, progress, cancel, checkpoint: see :func:`facewidget.runs.run`.
    Returns:
        :class:`FaceIndex` with one row per image, in the data set's order.
    """
    _require_pyarrow()
    paths = [Path(p) for p in _dataset_paths(dataset)]
    if detector is None and getattr(dataset, "detector", None) is not None:
        detector = dataset.detector
    store = Path(path) if path is not None else default_index_path(paths)
    stored = _read(store)
    key = detector_key(detector_config, detector)
    rows: list = [None] * len(paths)
    todo = []
    for i, p in enumerate(paths):
        name = str(p.resolve()) if p.exists() else str(p)
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
    return FaceIndex(rows=rows, path=store, detected=len(todo) if manifest is None else manifest["done_items"],
                     manifest=manifest)
