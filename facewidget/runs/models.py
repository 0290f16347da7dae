"""Models travel to workers as a spec, never as pickled weights.

:class:`ModelHandle` wraps a loaded :class:`~facewidget.models.base.FaceModel`. In-process it just
holds the model. Pickled (to a Dask worker) it carries only the model's *spec*: how
:func:`facewidget.load_model` built it (a built-in name, or a file path) plus the weights'
sha256; the worker loads the model once, caches it by spec, and checks the hash. Models built
from an ``nn.Module`` have no spec: run them in-process (``client=None``), or save them to a file
and load them with ``load_model(path, ...)``.
"""

from __future__ import annotations

import json
import threading

from ..errors import ModelError

_CACHE: dict[str, object] = {}
_LOCK = threading.Lock()
LOADS = {"count": 0}  # models loaded from a spec in this process (tests count them)


def model_spec(model) -> dict | None:
    """The spec of a model loaded by name or path (None for one built from a module)."""
    spec = getattr(model, "load_spec", None)
    if spec is None:
        return None
    return {**spec, "weights_sha256": getattr(model.config, "weights_sha256", None)}


def load_from_spec(spec: dict):
    """The model for ``spec``, loaded once per process and cached."""
    key = json.dumps(spec, sort_keys=True, default=str)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        from ..models import load_model

        kw = {k: v for k, v in spec.items() if k not in ("name_or_path", "weights_sha256", "overrides")}
        model = load_model(spec["name_or_path"], device="cpu", **{k: v for k, v in kw.items() if v is not None},
                           **(spec.get("overrides") or {}))
        want = spec.get("weights_sha256")
        if want and model.config.weights_sha256 != want:
            raise ModelError(f"{spec['name_or_path']}: weights sha256 {model.config.weights_sha256} on this worker "
                             f"differs from the driver's {want}")
        LOADS["count"] += 1
        _CACHE[key] = model
        return model


class ModelHandle:
    """A model that pickles as its spec (see the module docstring). ``handle.model`` is the model."""

    def __init__(self, model):
        self._model = model
        self.spec = None if model is None else model_spec(model)

    @property
    def model(self):
        if self._model is None and self.spec is not None:
            self._model = load_from_spec(self.spec)
        return self._model

    def __getstate__(self):
        if self._model is not None and self.spec is None:
            raise ModelError(f"model {self._model.config.name!r} was built from a module and cannot travel to "
                             "workers: run with client=None, or save it and load it with load_model(path, ...)")
        return {"spec": self.spec}

    def __setstate__(self, state):
        self.spec = state["spec"]
        self._model = None
