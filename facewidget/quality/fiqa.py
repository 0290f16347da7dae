"""The FIQA method contract, the registry of built-ins and :func:`score`.

A **FIQA method** is any callable ``method(batch) -> scores`` where ``batch`` is a
:class:`~facewidget.quality.batch.FaceBatch` (see there for photos / aligned faces / chips) and
``scores`` is either

* a ``dict`` of named (B,) scores — the **first** entry is the method's overall score (the one
  :func:`facewidget.quality.analyze` splits on), the others are components; or
* a (B,) array / tensor / list, named after the callable.

Every named score is oriented **higher = better quality**. Built-in methods subclass
:class:`FIQAMethod` (``name``, ``describe()`` for manifests); plain functions work too.

Built-ins (``get_fiqa(name, model=...)``):

================== ======================================================= =====================
name               what                                                    needs
================== ======================================================= =====================
ser-fiq            stochastic embedding robustness (dropout at the          identity model
                   embedding layer), :mod:`.serfiq`
embedding-norm     ‖embedding‖ (MagFace-style), :mod:`.embedding_norm`     identity model
brisque            100 − BRISQUE (PyPI ``brisque`` and its shipped SVR)    pixels
sharpness          variance of the Laplacian of the luminance              pixels
exposure           1 − share of under-/over-exposed pixels                 pixels
dynamic-range      entropy of the luminance histogram (bits)               pixels
pose               cos(yaw)·cos(pitch)·cos(roll)                           mesh (Face.pose)
inter-eye-distance iris-centre distance in photo pixels                    mesh
eyes-open          eye aspect ratio (the more closed eye)                  mesh
mouth-closed       1 − lip gap / mouth width                               mesh
================== ======================================================= =====================
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ..errors import ShapeError
from .batch import FaceBatch, as_face_batch

Scores = dict[str, np.ndarray]


class FIQAMethod:
    """Base class of the built-in FIQA methods: ``method(batch) -> {name: (B,) float64}``."""

    name = "fiqa"

    def __call__(self, batch: FaceBatch) -> Scores:  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}

    def describe(self) -> dict[str, Any]:
        """Name and parameters (for manifests)."""
        return {"name": self.name, **self.params()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def method_name(method) -> str:
    """The display name of a FIQA method (its ``name`` attribute or the callable's ``__name__``)."""
    return str(getattr(method, "name", None) or getattr(method, "__name__", None) or type(method).__name__)


def describe_method(method) -> dict[str, Any]:
    if hasattr(method, "describe"):
        return method.describe()
    return {"name": method_name(method)}


def normalise_scores(raw, method, n: int) -> Scores:
    """Check a method's output and return ``{name: (n,) float64}`` (first entry = overall score)."""
    name = method_name(method)
    if isinstance(raw, dict):
        items = list(raw.items())
    else:
        items = [(name, raw)]
    if not items:
        raise ShapeError(f"FIQA method {name} returned no scores")
    out: Scores = {}
    for key, value in items:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
        if arr.shape[0] != n:
            raise ShapeError(f"FIQA method {name}: score {key!r} has {arr.shape[0]} values for {n} faces")
        if not np.all(np.isfinite(arr)):
            raise ShapeError(f"FIQA method {name}: score {key!r} is not finite for faces "
                             f"{np.flatnonzero(~np.isfinite(arr)).tolist()}")
        out[str(key)] = arr
    return out


def score(faces, method: Callable | str, *, model=None, batch_size: int = 64, **params) -> Scores:
    """Run one FIQA method (a callable or a built-in name) over faces, in batches.

    Args:
        faces: anything :func:`~facewidget.quality.batch.as_face_batch` takes.
        method: a FIQA callable or a built-in name (``get_fiqa(name, model=model, **params)``).
        batch_size: faces per call (methods see batches of at most this many faces).
    Returns:
        ``{name: (N,) float64}``, higher = better; the first entry is the overall score.
    """
    batch = as_face_batch(faces)
    fn = get_fiqa(method, model=model, **params) if isinstance(method, str) else method
    if not callable(fn):
        raise ShapeError(f"a FIQA method must be callable or a built-in name; got {type(fn).__name__}")
    n = len(batch)
    parts: list[Scores] = []
    for start in range(0, n, batch_size):
        sub = batch if (start == 0 and n <= batch_size) else batch.subset(range(start, min(n, start + batch_size)))
        parts.append(normalise_scores(fn(sub), fn, len(sub)))
    keys = list(parts[0])
    for p in parts[1:]:
        if list(p) != keys:
            raise ShapeError(f"FIQA method {method_name(fn)} returned different score names across batches")
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def builtin_methods() -> dict[str, Callable[..., FIQAMethod]]:
    """Built-in FIQA constructors by name (the model-based ones take ``model=``)."""
    from .brisque_score import Brisque
    from .embedding_norm import EmbeddingNorm
    from .mesh_measures import EyesOpen, InterEyeDistance, MouthClosed, PoseQuality
    from .pixel_measures import DynamicRange, Exposure, Sharpness
    from .serfiq import SERFIQ

    return {"ser-fiq": SERFIQ, "embedding-norm": EmbeddingNorm, "magface": EmbeddingNorm, "brisque": Brisque,
            "sharpness": Sharpness, "exposure": Exposure, "dynamic-range": DynamicRange, "pose": PoseQuality,
            "inter-eye-distance": InterEyeDistance, "eyes-open": EyesOpen, "mouth-closed": MouthClosed}


MODEL_METHODS = ("ser-fiq", "embedding-norm", "magface")


def get_fiqa(name: str, *, model=None, **params) -> FIQAMethod:
    """A built-in FIQA method by name; ``model`` is required by ser-fiq and embedding-norm."""
    table = builtin_methods()
    if name not in table:
        raise ShapeError(f"unknown FIQA method {name!r}; built-ins: {sorted(table)}")
    if name in MODEL_METHODS:
        if model is None:
            raise ShapeError(f"FIQA method {name!r} needs model= (an identity FaceModel)")
        return table[name](model, **params)
    return table[name](**params)


def resolve_fiqa(spec, model=None) -> Callable:
    """A FIQA entry of ``analyze(fiqa=[...])``: a name, a callable or a (name, params) pair."""
    if isinstance(spec, str):
        return get_fiqa(spec, model=model)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
        return get_fiqa(spec[0], model=model, **spec[1])
    if callable(spec):
        return spec
    raise ShapeError(f"a FIQA method must be a built-in name, (name, params) or a callable; got {spec!r}")
