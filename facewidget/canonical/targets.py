"""Targets for canonical maps: the same objects as explain's (:mod:`facewidget.explainers.targets`),
built by :meth:`FaceModel.target <facewidget.models.FaceModel.target>` (one target system).

The names below stay for code that built canonical targets by hand; they are the explain
targets under another constructor.
"""

from __future__ import annotations

import torch

from ..errors import ShapeError
from ..explainers.targets import ClassTarget, ExpectedAgeTarget, SimilarityTarget


class ClassLogit(ClassTarget):
    """The raw logit of one class (the paper's f_c for classifiers)."""

    def __init__(self, index: int, label: str | None = None):
        super().__init__(int(index), label)

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        if output.ndim != 2 or not 0 <= self.index < output.shape[1]:
            raise ShapeError(f"{self.__name__}: network output {tuple(output.shape)} has no class {self.index}")
        return output[:, self.index]


class SimilarityTo(SimilarityTarget):
    """The model's oriented similarity (higher = more similar) to a reference embedding."""

    def __init__(self, model, reference: torch.Tensor, label: str = "reference"):
        model._require_identity()
        ref = torch.atleast_2d(torch.as_tensor(reference)).detach().to(model.device).float()
        super().__init__(model, ref[0] if ref.shape[0] == 1 else ref, label)


class ExpectedValue(ExpectedAgeTarget):
    """Softmax-weighted mean of per-class values (e.g. an age head's class centres in years)."""

    def __init__(self, values, name: str = "expected value"):
        super().__init__(tuple(float(v) for v in values))
        self.name = name

    def describe(self):
        return {**super().describe(), "label": self.name}

    @property
    def __name__(self) -> str:
        return self.name


def default_target(model, chips: torch.Tensor, reference=None):
    """The paper's target, from :meth:`FaceModel.target`: the logit of the class predicted on
    ``chips`` (classifiers); the similarity to ``reference`` (an embedding, photo or chips) for
    identity models, or without one to the clean chip's own embedding (what keeps the identity);
    the expected age in years (softmax · the model's age centres) for age models."""
    task = model.config.task
    if task == "identity":
        return model.target("similarity", reference=reference, chips=chips)
    if task == "age":
        return model.target("expected_age")
    with torch.no_grad():
        out = model.forward_chips(chips[:1] if chips.ndim == 4 else chips[None])
    if out.ndim != 2:
        raise ShapeError(f"{model.config.name}: expected (B, classes) logits, got {tuple(out.shape)}")
    return model.target("logit", chips=chips)
