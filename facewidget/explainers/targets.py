"""Targets: which scalar of a model's output an explanation explains — the one target system.

A target maps the model's outputs ``(B, ...)`` (embeddings or logits, float) to scores ``(B,)``,
differentiably, so black-box and gradient explainers share it. Higher = more of the target.

:meth:`FaceModel.target <facewidget.models.FaceModel.target>` builds these objects for explain,
canonical (CIS / CMS) and quality alike, so "the expected age" is the same number everywhere:
softmax · the model's age centres (``config.extra["age_centres"]``; dlib's 81 classes are
0.25, 1, 2, …, 80 years), never softmax · class index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..errors import ShapeError, UnsupportedOperationError

DLIB_AGE_CENTRES = (0.25,) + tuple(float(i) for i in range(1, 81))
"""Class centres (years) of dlib's 81-class age network: expected age = Σ p_i · centre_i."""


class Target:
    """Base class: ``target(outputs) -> (B,)``; ``describe()`` for manifests and results."""

    kind = "target"

    def __call__(self, outputs: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @property
    def __name__(self) -> str:  # manifests and canonical maps name targets by __name__
        d = self.describe()
        detail = d.get("label") if d.get("label") is not None else d.get("index")
        return d["kind"] if detail is None else f"{d['kind']}[{detail}]"

    def __repr__(self) -> str:
        return self.__name__


@dataclass
class SimilarityTarget(Target):
    """The model's oriented similarity (higher = more similar) to a fixed reference embedding (D,)."""

    model: Any
    reference: torch.Tensor
    label: str | None = None  # what the reference is ("self": the clean chip's own embedding)
    kind = "similarity"

    def __call__(self, outputs):
        ref = self.reference.to(outputs.device, outputs.dtype)
        return self.model.similarity(outputs, ref[None] if ref.ndim == 1 else ref)  # (D,) or one per row (B, D)

    def describe(self):
        d = {"kind": "similarity", "similarity": self.model.config.similarity}
        return d if self.label is None else {**d, "label": self.label}


@dataclass
class ClassTarget(Target):
    """A class logit (``probability=False``) or its softmax probability."""

    index: int
    label: str | None = None
    probability: bool = False
    kind = "class"

    def __call__(self, outputs):
        if outputs.ndim != 2 or not 0 <= self.index < outputs.shape[1]:
            raise ShapeError(f"class index {self.index} is out of range for outputs of shape {tuple(outputs.shape)}")
        if self.probability:
            return torch.softmax(outputs, dim=1)[:, self.index]
        return outputs[:, self.index]

    def describe(self):
        return {"kind": "probability" if self.probability else "class", "index": self.index, "label": self.label}


@dataclass
class ExpectedAgeTarget(Target):
    """Expected age Σ softmax(outputs)_i · centre_i (dlib's age network convention)."""

    centres: tuple[float, ...] = DLIB_AGE_CENTRES
    kind = "age"

    def __call__(self, outputs):
        if outputs.ndim != 2 or outputs.shape[1] != len(self.centres):
            raise ShapeError(f"expected-age target needs (B, {len(self.centres)}) outputs; got {tuple(outputs.shape)}")
        c = torch.tensor(self.centres, dtype=outputs.dtype, device=outputs.device)
        return torch.softmax(outputs, dim=1) @ c

    def describe(self):
        return {"kind": "age", "classes": len(self.centres)}


@dataclass
class EmbeddingTarget(Target):
    """One component of an identity model's embedding."""

    index: int
    kind = "embedding"

    def __call__(self, outputs):
        if outputs.ndim != 2 or not 0 <= self.index < outputs.shape[1]:
            raise ShapeError(f"embedding component {self.index} is out of range for outputs {tuple(outputs.shape)}")
        return outputs[:, self.index]

    def describe(self):
        return {"kind": "embedding", "index": self.index}


def age_centres(model) -> tuple[float, ...]:
    """The years of an age model's classes: ``config.extra["age_centres"]``, else dlib's 81 centres
    (UnsupportedOperationError for models that are not age models)."""
    if model.config.task != "age":
        raise UnsupportedOperationError(f"{model.config.name} is a {model.config.task} model, not an age model")
    return tuple(float(c) for c in model.config.extra.get("age_centres", DLIB_AGE_CENTRES))


def model_target(model, kind=None, index=None, *, reference=None, chips=None) -> Target:
    """What :meth:`FaceModel.target` returns (see there)."""
    kind = "logit" if kind == "class" else ("age" if kind == "expected_age" else kind)
    task = model.config.task
    if kind is None:
        if task == "identity":
            kind = "similarity"
        elif task == "age":
            kind = "age"
        else:
            kind = "logit"
    if kind in ("logit", "probability"):
        if task not in ("classification", "age"):
            raise UnsupportedOperationError(f"{model.config.name} is an {task} model, not a classifier")
        if index is None and chips is not None:
            with torch.no_grad():
                out = model.forward_chips(chips[:1] if chips.ndim == 4 else chips[None]).float()
            index = int(out.argmax(1)[0])
        n = len(model.config.classes or ()) or (len(age_centres(model)) if task == "age" else 0)
        if index is None or not 0 <= int(index) < n:
            raise ShapeError(f"{model.config.name}: target {kind!r} needs a class index in [0, {n}); got {index}")
        return ClassTarget(int(index), _label(model, int(index)), probability=(kind == "probability"))
    if kind == "age":
        return ExpectedAgeTarget(age_centres(model))
    if kind == "similarity":
        model._require_identity()
        if reference is None:
            if chips is None:
                raise ShapeError("target 'similarity' needs a reference (embedding, photo or chips)")
            return SimilarityTarget(model, _reference_embedding(model, chips[:1] if chips.ndim == 4 else chips[None]),
                                    label="self")  # the clean chip's own identity
        if isinstance(reference, torch.Tensor) and reference.ndim == 2 and reference.shape[0] > 1 \
                and reference.is_floating_point():  # one reference embedding per row of the batch
            return SimilarityTarget(model, reference.detach().float())
        return SimilarityTarget(model, _reference_embedding(model, reference))
    if kind == "embedding":
        model._require_identity()
        d = model.config.embedding_size
        if index is None or (d is not None and not 0 <= int(index) < d):
            raise ShapeError(f"target 'embedding' needs a component index in [0, {d}); got {index}")
        return EmbeddingTarget(int(index))
    raise ShapeError(f"unknown target kind {kind!r}; choose logit/class, probability, expected_age/age, "
                     "similarity or embedding")


@dataclass
class CallableTarget(Target):
    """Any callable outputs (B, ...) → (B,)."""

    fn: Callable[[torch.Tensor], torch.Tensor]
    name: str | None = None
    kind = "callable"

    def __call__(self, outputs):
        out = self.fn(outputs)
        if not isinstance(out, torch.Tensor) or out.ndim != 1 or out.shape[0] != outputs.shape[0]:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ShapeError(f"a target callable must return a (B,) tensor for B={outputs.shape[0]}; got {shape}")
        return out

    def describe(self):
        return {"kind": "callable", "name": self.name or getattr(self.fn, "__name__", "callable")}


def resolve_target(target, model, chip: torch.Tensor, *, reference=None, class_index=None) -> Target:
    """Turn the user's ``target`` into a :class:`Target`.

    Accepted: a :class:`Target`; a callable; ``"similarity"`` (needs ``reference``: an embedding
    (D,) / (1, D), a photo, or chips); an int class index or a class label (logit);
    ``"probability"`` (with ``class_index``, default the predicted class); ``"logit"`` (same, logit);
    ``"age"`` (expected age, 81-class heads); ``None`` → similarity for identity models with a
    reference, the expected age for age models, the predicted class's logit for classifiers.
    """
    if isinstance(target, Target):
        return target
    task = model.config.task
    if callable(target) and not isinstance(target, str):
        return CallableTarget(target)
    if target is None:
        if task == "identity":
            if reference is None:
                raise UnsupportedOperationError("an identity model's single-face target needs a reference "
                                                "(reference=photo, chips or embedding) or a callable target")
            target = "similarity"
        elif task == "age":
            target = "age"
        else:
            target = "logit"
    if isinstance(target, str) and target == "similarity":
        if task != "identity":
            raise UnsupportedOperationError(f"{model.config.name} is a {task} model: no similarity target")
        if reference is None:
            raise ShapeError("target='similarity' needs reference= (a photo, chips or an embedding)")
        return SimilarityTarget(model, _reference_embedding(model, reference))
    if isinstance(target, str) and target in ("age", "expected_age"):
        return model_target(model, "age")
    if isinstance(target, str) and target in ("logit", "probability"):
        with torch.no_grad():
            out = model.forward_chips(chip[None]).float()
        if out.ndim != 2:
            raise ShapeError(f"class targets need (B, classes) outputs; {model.config.name} gives {tuple(out.shape)}")
        idx = int(out.argmax(1)[0]) if class_index is None else int(class_index)
        return ClassTarget(idx, _label(model, idx), probability=(target == "probability"))
    if isinstance(target, str):
        classes = model.config.classes or ()
        if target in classes:
            idx = list(classes).index(target)
            return ClassTarget(idx, target)
        raise ShapeError(f"unknown target {target!r}: use 'similarity', 'logit', 'probability', 'age', "
                         f"a class index, a class label {list(classes)}, or a callable")
    if isinstance(target, (int,)) and not isinstance(target, bool):
        return ClassTarget(int(target), _label(model, int(target)))
    raise ShapeError(f"cannot use {type(target).__name__} as a target")


def _label(model, idx: int) -> str | None:
    classes = model.config.classes
    return classes[idx] if classes and 0 <= idx < len(classes) else None


def _reference_embedding(model, reference) -> torch.Tensor:
    if isinstance(reference, torch.Tensor) and reference.ndim in (1, 2) and reference.is_floating_point():
        ref = reference.reshape(-1) if reference.ndim == 1 or reference.shape[0] == 1 else None
        if ref is None:
            raise ShapeError(f"a reference embedding must be (D,) or (1, D); got {tuple(reference.shape)}")
        return ref.detach().to(model.device, torch.float32)
    return model.embed(reference)[0].detach().float()
