"""Targets: callables from a network's output (B, ...) to the (B,) value being explained."""

from __future__ import annotations

import torch

from ..errors import ShapeError


class ClassLogit:
    """The raw logit of one class (the paper's f_c for classifiers)."""

    def __init__(self, index: int, label: str | None = None):
        self.index = int(index)
        self.__name__ = f"logit[{label if label is not None else self.index}]"

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        if output.ndim != 2 or not 0 <= self.index < output.shape[1]:
            raise ShapeError(f"{self.__name__}: network output {tuple(output.shape)} has no class {self.index}")
        return output[:, self.index]

    def __repr__(self) -> str:
        return self.__name__


class SimilarityTo:
    """The model's oriented similarity (higher = more similar) to a reference embedding."""

    def __init__(self, model, reference: torch.Tensor, label: str = "reference"):
        model._require_identity()
        self.model = model
        self.reference = torch.atleast_2d(torch.as_tensor(reference)).to(model.device)
        self.__name__ = f"similarity[{label}]"

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return self.model.similarity(output, self.reference.expand(output.shape[0], -1))

    def __repr__(self) -> str:
        return self.__name__


class ExpectedValue:
    """Softmax-weighted mean of per-class values, e.g. the expected age of an 81-class age head."""

    def __init__(self, values, name: str = "expected value"):
        self.values = torch.as_tensor(list(values), dtype=torch.float32)
        self.__name__ = name

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        if output.ndim != 2 or output.shape[1] != len(self.values):
            raise ShapeError(f"{self.__name__}: network output {tuple(output.shape)} does not have "
                             f"{len(self.values)} classes")
        return (torch.softmax(output, dim=1) * self.values.to(output.device)).sum(1)

    def __repr__(self) -> str:
        return self.__name__


def default_target(model, chips: torch.Tensor, reference=None):
    """The paper's target: the logit of the class predicted on ``chips`` (classifiers), or the
    similarity to ``reference`` (an embedding, photo or chips) for identity models; without a
    reference, the similarity to the clean chip's own embedding (what keeps the identity). Age
    models (``task="age"``): the expected age, softmax over classes 0..K-1 (years)."""
    task = model.config.task
    if task == "identity":
        if reference is None:
            return SimilarityTo(model, model.embed(chips[:1]), label="self")
        # a (D,) or (1, D) tensor is an embedding; anything else (photo, chips) is embedded first
        is_embedding = isinstance(reference, torch.Tensor) and reference.ndim <= 2
        return SimilarityTo(model, reference if is_embedding else model.embed(reference))
    with torch.no_grad():
        out = model.forward_chips(chips)
    if task == "age" and out.ndim == 2:
        return ExpectedValue(range(out.shape[1]), name="expected age")
    if out.ndim != 2:
        raise ShapeError(f"{model.config.name}: expected (B, classes) logits, got {tuple(out.shape)}")
    c = int(out[0].argmax())
    classes = model.config.classes
    return ClassLogit(c, classes[c] if classes and c < len(classes) else None)
