"""Targets turn network outputs into the (B,) value CIS explains."""

from __future__ import annotations

import pytest
import torch

from facewidget.canonical import ClassLogit, ExpectedValue
from facewidget.errors import ShapeError


def test_class_logit_and_expected_value():
    out = torch.tensor([[2.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.equal(ClassLogit(0)(out), torch.tensor([2.0, 0.0]))
    ages = ExpectedValue(range(3), name="expected age")(out)
    assert ages[1] == pytest.approx(1.0)  # uniform over 0, 1, 2
    assert ages[0] < 0.5  # mass on class 0
    with pytest.raises(ShapeError):
        ClassLogit(5)(out)
    with pytest.raises(ShapeError):
        ExpectedValue(range(81))(out)
