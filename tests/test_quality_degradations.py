"""Degradations are seeded, record their parameters and degrade what they say; activation maps are [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest

import facewidget as fw
from facewidget.errors import ParameterError, ShapeError
from facewidget.quality import DegradationGenerator, FaceBatch, activation_maps, degrade, normalise_map


@pytest.fixture(scope="module")
def obama(sample_images, sample_faces):
    return sample_images["obama"], sample_faces["obama"][0]


def _change(a, b) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


@pytest.mark.parametrize("kind", ["blur", "noise", "jpeg", "low_light", "occlusion", "downscale", "rotate"])
def test_each_degradation_is_seeded_and_changes_the_photo(obama, kind):
    img, face = obama
    a, pa = degrade(img, kind, 0.9, rng=7, face=face)
    b, pb = degrade(img, kind, 0.9, rng=7, face=face)
    np.testing.assert_array_equal(a, b)
    assert pa == pb and pa["kind"] == kind and pa["severity"] == 0.9
    assert a.dtype == np.uint8 and a.shape == img.shape
    # severity sets the strength: nothing (or next to nothing) at 0, more at 0.2, most at 0.9
    none, _ = degrade(img, kind, 0.0, rng=7, face=face)
    mild, _ = degrade(img, kind, 0.2, rng=7, face=face)
    assert _change(none, img) < 1.5 and _change(a, img) > 1.0
    assert _change(none, img) < _change(mild, img) < _change(a, img), kind
    if kind not in ("jpeg", "occlusion"):
        np.testing.assert_array_equal(none, img)  # 0 = untouched (jpeg re-encodes, occlusion keeps one patch)


def test_jpeg_and_occlusion_do_what_their_parameters_say(obama):
    """jpeg: the photo re-encoded at the recorded quality (95 − 90·s); occlusion: 1 + round(3·s)
    patches of side (0.15 + 0.25·s)·face width, each a flat colour, and every other pixel untouched."""
    import io

    from PIL import Image

    img, face = obama
    for severity in (0.0, 0.5, 1.0):
        out, p = degrade(img, "jpeg", severity, rng=7, face=face)
        assert p["quality"] == round(95 - 90 * severity)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=p["quality"])
        np.testing.assert_array_equal(out, np.asarray(Image.open(buf).convert("RGB")))
        out, p = degrade(img, "occlusion", severity, rng=7, face=face)
        patches = p["patches"]
        assert len(patches) == 1 + round(3 * severity)
        covered = np.zeros(img.shape[:2], bool)
        for q in patches:
            assert q["side"] == round((0.15 + 0.25 * severity) * face.width)
            x0, y0 = max(0, q["x"]), max(0, q["y"])
            covered[y0:q["y"] + q["side"], x0:q["x"] + q["side"]] = True
        np.testing.assert_array_equal(out[~covered], img[~covered])
        last = patches[-1]  # drawn last, so wholly its colour
        region = out[max(0, last["y"]):last["y"] + last["side"], max(0, last["x"]):last["x"] + last["side"]]
        assert region.size and (region == np.array(last["colour"], np.uint8)).all()


def test_low_light_darkens_and_downscale_without_restore_shrinks(obama):
    img, face = obama
    dark, p = degrade(img, "low_light", 1.0, face=face)
    assert dark.mean() < 0.2 * img.mean() and p["gain"] == pytest.approx(0.15)
    small, p = degrade(img, "downscale", 3 / 7, face=face, restore=False)
    assert small.shape[:2] == (round(img.shape[0] / 4), round(img.shape[1] / 4)) and p["factor"] == pytest.approx(4)


def test_generator_builds_reproducible_sets_with_parameters(obama):
    img, face = obama
    gen = DegradationGenerator(seed=3, kinds=["noise", "occlusion"], severity=(0.5, 1.0), copies=2)
    a, b = gen.build({"obama": img}, {"obama": face}), gen.build({"obama": img}, {"obama": face})
    assert [x.id for x in a] == ["obama/clean", "obama/noise/0", "obama/noise/1", "obama/occlusion/0",
                                 "obama/occlusion/1"]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.image, y.image)
        assert x.params == y.params and 0.5 <= x.params["severity"] <= 1.0 or x.kind == "clean"
        assert x.face is face  # photometric: the geometry is unchanged
    assert a[1].params["severity"] != a[2].params["severity"]
    other = DegradationGenerator(seed=4, kinds=["noise"], severity=(0.5, 1.0)).build({"obama": img}, {"obama": face})
    assert not np.array_equal(other[1].image, a[1].image)


def test_bad_degradation_arguments_raise(obama):
    img, face = obama
    with pytest.raises(ShapeError):
        degrade(img, "fog", 0.5)
    with pytest.raises(ParameterError, match="severity"):
        degrade(img, "blur", 1.5)
    with pytest.raises(ShapeError):
        degrade(img.astype(np.float32), "blur", 0.5)
    with pytest.raises(ShapeError):
        degrade(img, "eyes_closed", 1.0)  # needs the face
    with pytest.raises(ShapeError):
        DegradationGenerator(kinds=["fog"])


def test_activation_maps_are_in_unit_range_at_the_model_input_size(obama):
    img, face = obama
    model = fw.load_model("dlib-resnet", device="cpu")
    batch = FaceBatch.from_images([img], [face])
    grad = activation_maps(batch, model, "gradcam")
    score = activation_maps(batch, model, "scorecam", channels=8)  # 8 channels: 8 masked forward passes
    for m in (grad, score):
        assert m.shape == (1, 150, 150) and m.dtype == np.float32
        assert m.min() == 0.0 and m.max() == pytest.approx(1.0)
    # Score-CAM only runs forward passes: identical maps run after run on the CPU
    np.testing.assert_array_equal(score, activation_maps(batch, model, "scorecam", channels=8))
    np.testing.assert_array_equal(normalise_map(np.full((1, 4, 4), -1.0)), np.zeros((1, 4, 4), np.float32))


def test_activation_maps_of_a_classifier_use_its_natural_target(obama):
    img, face = obama
    gender = fw.load_model("dlib-gender", device="cpu")
    maps = activation_maps(FaceBatch.from_images([img], [face]), gender, "gradcam")
    assert maps.shape == (1, *gender.config.input_size) and maps.max() == pytest.approx(1.0)
