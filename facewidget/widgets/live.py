"""Background runs that push progressive maps to a view (throttled), with cancel.

``LiveRun(fn, args, kwargs, sink)`` calls ``fn(*args, progress=adapter, cancel=event, **kwargs)``
in a daemon thread. The computation reports with ``adapter(maps, done, total)`` — ``maps`` a dict
name → array (or name → dict of arrays, e.g. ``{"a": {"similar": ...}}``) — or with one update
object carrying ``maps``/``done``/``total`` as attributes or keys. It must stop soon after
``cancel.is_set()`` (raising :class:`facewidget.CancelledError` — whose ``partial`` attribute, when
set, is shown as the result — or returning early).

Every update and the result are applied to the view while holding ``lock`` (the view's own lock,
which the front end's messages also take), so a result never interleaves with a progress update or
a user's edit half-way.

The adapter forwards at most one update per ``min_interval`` seconds to ``sink`` (default 0.1 s:
<= 10 updates/s on the wire); the newest skipped update is flushed when the run ends, so the last
maps shown are the last maps computed. Seconds are read from ``clock`` (default
:func:`time.monotonic`; tests pass a clock they control). The kernel's main thread stays free:
cells run meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, Callable

from ..errors import CancelledError, FacewidgetError

Sink = Callable[[dict, int, int], None]


_MISSING = object()


def _field(update: Any, *names: str):
    """The first of ``names`` found as a key or attribute (read once: it may be computed)."""
    for n in names:
        if isinstance(update, Mapping):
            if n in update:
                return update[n]
            continue
        value = getattr(update, n, _MISSING)
        if value is not _MISSING:
            return value
    return None


def normalise_update(*args, **kwargs) -> tuple[dict, int, int]:
    """(maps, done, total) from ``(maps, done, total)``, keywords, or one update object."""
    if len(args) == 1 and not kwargs and not (isinstance(args[0], Mapping) and "maps" not in args[0]):
        upd = args[0]
        maps, done, total = _field(upd, "maps"), _field(upd, "done", "count", "n_done"), _field(upd, "total", "n")
    else:
        names = ("maps", "done", "total")
        vals = dict(zip(names, args))
        vals.update({k: v for k, v in kwargs.items() if k in names})
        maps, done, total = vals.get("maps"), vals.get("done"), vals.get("total")
    if maps is None:
        maps = {}
    if not isinstance(maps, Mapping):
        raise FacewidgetError(f"progress maps must be a dict name → array; got {type(maps).__name__}")
    return dict(maps), int(done or 0), int(total or 0)


def update_info(*args, **kwargs) -> dict:
    """Optional fields of an update beyond maps/done/total: ``reliability`` (the split-half
    reliability of an ``n="auto"`` run, see :class:`facewidget.explainers.ProgressUpdate`)."""
    src: Any = args[0] if len(args) == 1 and not kwargs else kwargs
    reliability = _field(src, "reliability")
    return {} if reliability is None else {"reliability": float(reliability)}


class LiveRun:
    """One background computation feeding a view. See the module docstring."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, sink: Sink, *,
                 on_result: Callable[[Any], None] | None = None,
                 on_status: Callable[[str], None] | None = None, min_interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic,
                 lock: threading.RLock | None = None, on_info: Callable[[dict], None] | None = None):
        if not callable(fn):
            raise FacewidgetError(f"run needs a callable; got {type(fn).__name__}")
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.sink, self.on_result, self.on_status = sink, on_result, on_status
        self.on_info = on_info
        self.min_interval = float(min_interval)
        self.clock = clock
        self.cancel_event = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.status = "pending"
        self.updates_received = 0
        self.updates_sent = 0
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._last_push = -1e9
        self._pending: tuple[tuple, dict] | None = None
        self._lock = threading.Lock()
        self.view_lock = lock if lock is not None else threading.RLock()
        self._thread = threading.Thread(target=self._main, name="facewidget-live", daemon=True)

    # --- the adapter handed to the computation ------------------------------------------------
    def progress(self, *args, **kwargs) -> None:
        # the maps are read only for updates that are pushed: an update object may compute them
        # lazily (facewidget.explainers' ProgressUpdate does), and most calls are skipped
        with self._lock:
            self.updates_received += 1
            now = self.clock()
            if now - self._last_push < self.min_interval:
                self._pending = (args, kwargs)
                return
            self._pending = None
            self._last_push = now
        self._push((args, kwargs))

    def _push(self, raw: tuple[tuple, dict]) -> None:
        update = normalise_update(*raw[0], **raw[1])  # reads lazily computed maps outside the lock
        info = update_info(*raw[0], **raw[1])
        with self.view_lock:
            self.sink(*update)
            if info and self.on_info is not None:
                self.on_info(info)
        self.updates_sent += 1

    def _apply_result(self, result: Any) -> None:
        if self.on_result is not None:
            with self.view_lock:
                self.on_result(result)

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._push(pending)

    def _set_status(self, status: str) -> None:
        self.status = status
        if self.on_status is not None:
            with self.view_lock:
                self.on_status(status)

    def _main(self) -> None:
        self.started_at = self.clock()
        self._set_status("running")
        try:
            result = self.fn(*self.args, progress=self.progress, cancel=self.cancel_event, **self.kwargs)
        except CancelledError as e:
            self._flush()
            partial = getattr(e, "partial", None)  # what was computed before the cancel, if given
            if partial is not None and self.on_result is not None:
                self.result = partial
                try:
                    self._apply_result(partial)
                except BaseException as err:
                    self.error = err
            self._set_status("cancelled")
        except BaseException as e:  # report in the view, keep the kernel alive
            self._flush()
            self.error = e
            self._set_status(f"error: {type(e).__name__}: {e}")
        else:
            self._flush()
            self.result = result
            if self.on_result is not None and result is not None:
                try:
                    self._apply_result(result)
                except BaseException as e:
                    self.error = e
                    self._set_status(f"error: {type(e).__name__}: {e}")
                    return
            self._set_status("cancelled" if self.cancel_event.is_set() else "done")
        finally:
            self.finished_at = self.clock()

    # --- control ----------------------------------------------------------------------------
    def start(self) -> "LiveRun":
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the computation to stop (it sees ``cancel.is_set()``)."""
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends; returns its result (re-raises its error)."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the live run did not finish within {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def update_rate(self) -> float:
        """Updates sent to the view per second over the run so far."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else self.clock()
        return self.updates_sent / max(end - self.started_at, 1e-9)
