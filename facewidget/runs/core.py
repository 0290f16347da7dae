"""The one entry point of data-set runs: :func:`run`.

A run is: items → partitions (consecutive slices of ``partition_size`` items) → per-item work →
fold into a fresh accumulator per partition → merge the partitions **in partition order** → one
result. Because the merge order is fixed, the same partition size gives bit-identical results on
every executor, and any partition size gives the same result up to float64 rounding (the
accumulators merge exactly, see :mod:`.accumulators`).

Thread count: float32 kernels (torch, ONNX Runtime) sum in a thread-dependent order, so one map
computed with 2 threads and with 1 thread can differ in the 8th digit. Dask workers run one thread
each; an in-process run matches them bit for bit when the caller also runs one thread
(``torch.set_num_threads(1)``), and to float32 rounding otherwise.

Executors (the science code never sees them):

* ``client=None``: in-process, in this thread (no Dask import).
* a ``dask.distributed.Client``: every partition is one task on the cluster; results are merged
  as they arrive (in order). A worker that dies loses nothing: the scheduler reruns its tasks.
* ``client="local"``: a ``LocalCluster`` sized to the machine (one process per core, one thread
  each), started for the run and closed after it.

Per-item work is ``work(item) -> value`` (``accumulator.update(value)`` folds it; ``None`` folds
nothing). A bad item raises :class:`SkipItem` (or an image / no-face error): it is recorded in the
result's skip list with its reason, and the run goes on. Work for a cluster must pickle: a
top-level function or a small object whose models travel as :class:`~facewidget.runs.models.ModelHandle`.

Checkpoints: with ``checkpoint=path`` every finished partition's accumulator is written to
``path/part-NNNNNN.npz`` (arrays only, never pickle); a rerun with the same path loads those and
computes only the others. ``path/run.json`` records the run's fingerprint; a different run refuses
the folder (:class:`CheckpointError`).

Cancel (an Event or a callable, as in the explain engine) is checked before every item in-process
and between partitions on a cluster: the run stops within one partition and returns what the
finished partitions hold, with ``manifest["cancelled"] = True``. Progress gets the explain
engine's :class:`~facewidget.explainers.engine.ProgressUpdate` after each merged partition; its
``maps`` (computed only when read) come from ``live_maps(merged accumulator)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import FacewidgetError, ImageError, MissingExtraError, NoFaceError, ParameterError
from ..explainers.engine import ProgressUpdate, is_cancelled
from .accumulators import Accumulator, from_arrays

DEFAULT_PARTITION_SIZE = 16


class SkipItem(FacewidgetError):
    """Raised by per-item work for an item that cannot be used (the reason is the message)."""


class CheckpointError(FacewidgetError):
    """A checkpoint folder belongs to another run (other items, work or partitioning)."""


@dataclass(frozen=True)
class Skip:
    """An item left out of a run: its position, its label (path or id) and why."""

    index: int
    id: str
    reason: str


@dataclass
class RunResult:
    """What :func:`run` returns.

    Attributes:
        accumulator: the merged accumulator (of the finished partitions when cancelled).
        skipped: :class:`Skip` records, sorted by item index.
        manifest: items, partitions, partition size, executor and workers, cancelled, reused
            partitions, per-partition seconds (``partition_seconds``), elapsed seconds.
    """

    accumulator: Accumulator
    skipped: list
    manifest: dict = field(default_factory=dict)

    @property
    def cancelled(self) -> bool:
        return bool(self.manifest.get("cancelled"))


def item_label(item, index: int) -> str:
    """A readable label of an item for skip lists: its path, ``id`` or ``path`` attribute, or its index."""
    for name in ("id", "path"):
        v = getattr(item, name, None)
        if v is not None:
            return str(v)
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    if isinstance(item, tuple) and item and isinstance(item[0], (str, os.PathLike)):
        return str(item[0])
    return str(index)


# ---------------------------------------------------------------------------------------------
# one partition (runs in-process or on a worker)
# ---------------------------------------------------------------------------------------------

_WORKER_READY = False


def _prepare_worker() -> None:
    """On a Dask worker: one torch (and so ONNX Runtime) thread per worker process."""
    global _WORKER_READY
    if _WORKER_READY:
        return
    _WORKER_READY = True
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return
    one_thread_per_process()


def one_thread_per_process() -> None:
    """Pin every compute library of this process to one thread: torch (and so ONNX Runtime's
    sessions, which follow torch's count), the BLAS behind numpy (threadpoolctl) and OpenCV.

    A worker runs beside one worker per core; any library left at its default (one thread per core)
    oversubscribes the machine: measured on 2 cores, numpy's OpenBLAS and OpenCV at 2 threads each
    made every worker's partitions 1.7x slower than in-process."""
    import torch

    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # threadpoolctl comes with the [dask] extra; without it BLAS keeps its default
        pass
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


class _Stopped(Exception):
    """Internal: cancel was seen inside a partition (the partition is dropped)."""


def run_partition(work: Callable, items: Sequence, start: int, prototype: Accumulator, cancel=None):
    """Fold ``items`` (data-set positions ``start``…) into ``prototype.empty()``.

    Returns (accumulator, skips, seconds)."""
    _prepare_worker()
    t0 = time.perf_counter()
    acc = prototype.empty()
    skips = []
    for k, item in enumerate(items):
        if is_cancelled(cancel):
            raise _Stopped()
        index = start + k
        try:
            value = work(item)
        except (SkipItem, ImageError, NoFaceError) as exc:
            skips.append(Skip(index, item_label(item, index), str(exc) or type(exc).__name__))
            continue
        if value is not None:
            acc.update(value)
    return acc, skips, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------


def _skips_to_arrays(skips) -> dict:
    return {"skip/index": np.asarray([s.index for s in skips], dtype=np.int64),
            "skip/id": np.asarray([s.id for s in skips], dtype=str).reshape(-1),
            "skip/reason": np.asarray([s.reason for s in skips], dtype=str).reshape(-1)}


def _skips_from_arrays(a) -> list:
    return [Skip(int(i), str(n), str(r)) for i, n, r in zip(a["skip/index"], a["skip/id"], a["skip/reason"])]


class Checkpoint:
    """A folder of finished partitions (npz, no pickle) for one run fingerprint."""

    def __init__(self, path, fingerprint: str, n_items: int, partition_size: int):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        meta = {"fingerprint": fingerprint, "n_items": n_items, "partition_size": partition_size}
        info = self.path / "run.json"
        if info.exists():
            old = json.loads(info.read_text())
            if old != meta:
                raise CheckpointError(f"checkpoint {self.path} belongs to another run ({old}); this run is {meta}. "
                                      "Use another folder, or delete it to start afresh.")
        else:
            info.write_text(json.dumps(meta))

    def file(self, p: int) -> Path:
        return self.path / f"part-{p:06d}.npz"

    def load(self, p: int):
        f = self.file(p)
        if not f.exists():
            return None
        with np.load(f, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        acc = from_arrays({k[4:]: v for k, v in a.items() if k.startswith("acc/")})
        return acc, _skips_from_arrays(a), float(a["meta/seconds"])

    def save(self, p: int, acc: Accumulator, skips, seconds: float) -> None:
        arrays = {f"acc/{k}": v for k, v in acc.to_arrays().items()}
        arrays.update(_skips_to_arrays(skips))
        arrays["meta/seconds"] = np.asarray(seconds)
        tmp = self.path / f".part-{p:06d}.{os.getpid()}.tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, self.file(p))


def fingerprint(*parts) -> str:
    """A short hash of the run's description (items, work, settings), for checkpoint folders."""
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# executors
# ---------------------------------------------------------------------------------------------


def require_distributed():
    """Import ``distributed``, or say which extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtraError('client= needs Dask: pip install "facewidget[dask]" '
                                f'(dask[distributed] and pyarrow) — {exc}') from None
    return distributed


def local_client(n_workers: int | None = None):
    """A ``Client`` on a new ``LocalCluster``: one process per core (or ``n_workers``), one thread each."""
    distributed = require_distributed()
    import dask

    n = int(n_workers or os.cpu_count() or 1)
    # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which freezes glibc's mmap
    # threshold: every tensor above 64 KiB is then mmapped and unmapped again. Measured on a Grad-CAM
    # model map, that made each worker 1.7x slower than the same work in-process (2 workers: 1.02x
    # in-process speed; without it: 1.6x). This cluster is ours, so its workers go without it.
    spawn_env = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                 if k != "MALLOC_TRIM_THRESHOLD_"}
    # A worker also samples its own stacks every 10 ms (the dashboard's profile), polls the GIL
    # every 1 ms when gilknocker is installed and its memory every 100 ms: background threads that
    # take the GIL from the one thread doing the work. Nobody reads them here (no dashboard).
    quiet = {"distributed.nanny.pre-spawn-environ": spawn_env,
             "distributed.worker.profile.enabled": False,
             "distributed.admin.system-monitor.gil.enabled": False,
             "distributed.worker.memory.monitor-interval": "1s"}
    with dask.config.set(quiet):
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                           env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    return distributed.Client(cluster)


def _resolve_client(client):
    """(client, owned): a Client for ``client`` (None stays None); owned ones are closed after the run."""
    if client is None:
        return None, False
    if isinstance(client, str):
        if client != "local":
            raise ParameterError("client", client, 'None, "local" or a dask.distributed.Client')
        return local_client(), True
    require_distributed()
    if not hasattr(client, "submit"):
        raise ParameterError("client", client, 'None, "local" or a dask.distributed.Client')
    return client, False


def run(items: Sequence, work: Callable, accumulator: Accumulator, *, client=None,
        partition_size: int = DEFAULT_PARTITION_SIZE, checkpoint=None, progress: Callable | None = None,
        cancel=None, live_maps: Callable | None = None, name: str = "run", key: str | None = None) -> RunResult:
    """Run ``work`` over ``items`` and fold the results into ``accumulator`` (see the module docstring).

    Args:
        items: a sequence (kept light: paths, indices, small records travel to the workers).
        work: ``work(item) -> value`` for ``accumulator.update`` (None: nothing to fold); raises
            :class:`SkipItem` for an item that cannot be used.
        accumulator: an empty accumulator (its ``empty()`` makes each partition's).
        client: None (in-process), ``"local"`` or a ``dask.distributed.Client``.
        partition_size: items per partition (the unit of checkpoints, cancel and progress).
        checkpoint: a folder for finished partitions (resume after a crash or a cancel).
        progress: called with a :class:`ProgressUpdate` after each merged partition.
        cancel: an Event-like (``is_set()``) or a callable returning True to stop.
        live_maps: ``live_maps(merged accumulator) -> {name: array}`` for progress updates.
        name: the phase shown in progress updates. key: identifies the run for checkpoints
            (default: a fingerprint of the item labels, the work and the partition size).
    """
    if not isinstance(accumulator, Accumulator):
        raise ParameterError("accumulator", accumulator, "a facewidget.runs accumulator")
    if not callable(work):
        raise ParameterError("work", work, "a callable item -> value")
    if isinstance(partition_size, bool) or not isinstance(partition_size, (int, np.integer)) or partition_size < 1:
        raise ParameterError("partition_size", partition_size, "an integer >= 1")
    items = list(items)
    n = len(items)
    size = int(partition_size)
    parts = [(p, s, min(n, s + size)) for p, s in enumerate(range(0, n, size))]
    t0 = time.perf_counter()
    ckpt = None
    if checkpoint is not None:
        fp = key or fingerprint([item_label(it, i) for i, it in enumerate(items)], getattr(work, "__qualname__", type(work).__name__),
                                type(accumulator).__name__)
        ckpt = Checkpoint(checkpoint, fp, n, size)

    merged = accumulator.empty()
    skipped: list = []
    seconds: dict[int, float] = {}
    reused: list[int] = []
    state = {"done": 0, "next": 0}
    pending: dict[int, tuple] = {}

    def report():
        if progress is not None:
            acc = merged
            progress(ProgressUpdate(state["done"], n, time.perf_counter() - t0,
                                    (lambda: live_maps(acc)) if live_maps is not None else None, phase=name))

    def finish(p, acc, skips, secs, from_checkpoint=False):
        """Hold partition p's result; merge every result that is next in order."""
        if ckpt is not None and not from_checkpoint:
            ckpt.save(p, acc, skips, secs)
        pending[p] = (acc, skips, secs)
        advanced = False
        while state["next"] in pending:
            q = state["next"]
            a, s, t = pending.pop(q)
            merged.merge(a)
            skipped.extend(s)
            seconds[q] = t
            state["done"] += parts[q][2] - parts[q][1]
            state["next"] += 1
            advanced = True
        if advanced:
            report()

    todo = []
    for p, s, e in parts:
        got = ckpt.load(p) if ckpt is not None else None
        if got is not None:
            reused.append(p)
            finish(p, *got, from_checkpoint=True)
        else:
            todo.append((p, s, e))

    cancelled = False
    client, owned = _resolve_client(client)
    executor = "in-process"
    workers = 1
    try:
        if client is None:
            for p, s, e in todo:
                if is_cancelled(cancel):
                    cancelled = True
                    break
                try:
                    acc, skips, secs = run_partition(work, items[s:e], s, accumulator, cancel)
                except _Stopped:
                    cancelled = True
                    break
                finish(p, acc, skips, secs)
        else:
            executor = "dask"
            workers = len(client.scheduler_info().get("workers", {})) or 1
            cancelled = _run_on_client(client, todo, items, work, accumulator, cancel, finish)
    finally:
        if owned:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()

    skipped.sort(key=lambda s: s.index)
    manifest = {"name": name, "n_items": n, "partition_size": size, "n_partitions": len(parts),
                "done_partitions": state["next"], "done_items": state["done"], "cancelled": bool(cancelled),
                "executor": executor, "workers": workers, "checkpoint": None if ckpt is None else str(ckpt.path),
                "reused_partitions": reused,
                "partition_seconds": [round(seconds[p], 6) for p in sorted(seconds)],
                "n_skipped": len(skipped), "elapsed_s": round(time.perf_counter() - t0, 6)}
    return RunResult(merged, skipped, manifest)


def _run_on_client(client, todo, items, work, accumulator, cancel, finish) -> bool:
    """Submit one task per partition; merge in order as they finish. Returns whether cancelled."""
    from distributed import as_completed

    if not todo:
        return False
    token = fingerprint(time.time_ns(), os.getpid(), id(todo))
    futures = {}
    # work and the prototype are shipped once (scattered) rather than inside every task's payload
    work_f = client.scatter(work, broadcast=True, hash=False)
    proto_f = client.scatter(accumulator.empty(), broadcast=True, hash=False)
    for p, s, e in todo:
        f = client.submit(run_partition, work_f, items[s:e], s, proto_f, key=f"facewidget-{token}-{p}", pure=False)
        futures[f] = p
    ac = as_completed(list(futures))
    try:
        while not ac.is_empty():
            if is_cancelled(cancel):
                client.cancel(list(futures))
                return True
            batch = ac.next_batch(block=False) if ac.has_ready() else []
            if not batch:
                time.sleep(0.05)
                continue
            for f in batch:
                acc, skips, secs = f.result()
                finish(futures[f], acc, skips, secs)
                f.release()
    finally:
        for f in futures:
            f.release()
    return False
