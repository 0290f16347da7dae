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


def test_one_target_system_serves_explain_canonical_and_quality():
    """CIS's default age target, explain's "age" target and FaceModel.expected_age are one number:
    softmax · the model's age centres in years (not class indices 0..K-1)."""
    import facewidget as fw
    from facewidget.canonical.targets import default_target
    from facewidget.explainers.targets import ExpectedAgeTarget, resolve_target

    model = fw.load_model("dlib-age", device="cpu")
    torch.manual_seed(0)
    chips = torch.rand(2, 3, *model.config.input_size)
    out = model.forward_chips(chips)
    canonical = default_target(model, chips)
    explain = resolve_target("age", model, chips[0])
    unified = model.target("expected_age")
    assert isinstance(canonical, ExpectedAgeTarget) and isinstance(unified, ExpectedAgeTarget)
    centres = torch.tensor(model.config.extra["age_centres"], dtype=torch.float32)
    expected = torch.softmax(out, 1) @ centres
    for t in (canonical, explain, unified):
        assert torch.allclose(t(out), expected, atol=1e-5)
    assert torch.allclose(model.expected_age(chips), expected, atol=1e-4)
    # class indices would be off by the first centre (0.25 years vs 0) times its probability
    assert canonical.describe() == explain.describe() == {"kind": "age", "classes": 81}
