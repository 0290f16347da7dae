"""Live runs apply progress updates, the result and status changes under the view's lock."""

from __future__ import annotations

import threading

from facewidget.widgets.live import LiveRun


class RecordingLock:
    """An RLock that says whether the current thread holds it."""

    def __init__(self):
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self):
        self._lock.acquire()
        self._owner, self._depth = threading.get_ident(), self._depth + 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
        self._lock.release()

    def held(self) -> bool:
        return self._owner == threading.get_ident()


def test_updates_result_and_status_are_applied_under_the_views_lock():
    lock = RecordingLock()
    seen: list[tuple[str, bool]] = []

    def work(progress, cancel):
        for k in range(3):
            progress({"m": [k]}, k + 1, 3)
        return "result"

    run = LiveRun(work, (), {}, lambda maps, done, total: seen.append(("sink", lock.held())),
                  on_result=lambda r: seen.append(("result", lock.held())),
                  on_status=lambda s: seen.append((s, lock.held())), min_interval=0.0, lock=lock)
    assert run.start().wait(timeout=30) == "result"
    kinds = [k for k, _ in seen]
    assert "sink" in kinds and "result" in kinds and "done" in kinds
    assert all(held for _, held in seen), seen
