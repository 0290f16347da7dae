"""Keep native libraries' log lines out of the user's notebook and terminal.

MediaPipe's tasks (LiteRT, XNNPACK, absl) print INFO and WARNING lines from C++ straight to file
descriptor 2 while a task is created, on its first inference and when it is closed. Measured with
mediapipe 1.2: ``GLOG_minloglevel`` and ``TF_CPP_MIN_LOG_LEVEL`` do not stop them (LiteRT has its own
logger), so fd 2 is pointed at the null device around exactly those calls, and restored after.
Python's ``sys.stderr`` is flushed first, so nothing written before is lost.

``FACEWIDGET_NATIVE_LOGS=1`` leaves the lines on (for debugging MediaPipe itself).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

_LOCK = threading.RLock()


@contextlib.contextmanager
def native_logs_silenced():
    """fd 2 → the null device for the block (re-entrant; one block at a time process-wide)."""
    if os.environ.get("FACEWIDGET_NATIVE_LOGS"):
        yield
        return
    with _LOCK:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (a detached service): nothing to silence
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
