"""One re-entrant lock per network, held around forwards that hook the network.

A forward hook sits on the network every thread shares: while it is registered, any thread's
forward runs it. :class:`facewidget.explainers.base.ActivationRecorder` therefore records only its own
thread's forwards, and holds the network's lock so that two hooked computations (Grad-CAM, Score-CAM,
AMVA, layer probes) on one model never interleave their hook registrations and backward passes.
"""

from __future__ import annotations

import threading
import weakref

_LOCKS: "weakref.WeakKeyDictionary[object, threading.RLock]" = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def network_lock(model_or_network) -> threading.RLock:
    """The lock of a FaceModel's network (or of a torch module itself); the same object every call."""
    network = getattr(model_or_network, "network", None)
    key = network if network is not None else model_or_network
    with _GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.RLock()
        return lock
