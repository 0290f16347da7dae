"""Canonical model saliency: streaming statistics equal the plain statistics of per-image maps."""

from __future__ import annotations

import numpy as np
import pytest

from facewidget import detect_faces
from facewidget.canonical import (GroupError, compare, model_map, permutation_p_values, predicted_class, project)
from facewidget.canonical.model_map import image_map
from facewidget.errors import ParameterError, ShapeError

from .canonical_models import mouth_model


def luminance(image, face, model, target):
    """A photo-space map: the photo's brightness in [0, 1] (simple, deterministic, image-dependent)."""
    return image.astype(np.float32).mean(2) / 255.0


@pytest.fixture(scope="module")
def augmented(sample_images, sample_faces):
    """Sample portraits, their mirror images and a darker copy, each with its faces and labels."""
    items = []
    for name in ("obama", "biden"):
        img, face = sample_images[name], sample_faces[name][0]
        flipped = np.ascontiguousarray(img[:, ::-1])
        darker = (img.astype(np.float32) * 0.6).astype(np.uint8)
        items.append((img, face, {"name": name, "aug": "none"}))
        items.append((flipped, detect_faces(flipped)[0], {"name": name, "aug": "flip"}))
        items.append((darker, face, {"name": name, "aug": "dark"}))
    return items


def test_model_map_is_deterministic_and_equals_the_plain_mean_of_per_image_maps(augmented):
    a = model_map(augmented, method=luminance, resolution=96)
    b = model_map(augmented, method=luminance, resolution=96)
    g = a["all"]
    assert g.n_images == len(augmented)
    np.testing.assert_array_equal(g.mean, b["all"].mean)
    np.testing.assert_array_equal(g.count, b["all"].count)
    stack = np.stack([project(luminance(img, f, None, None), f, resolution=96).texture for img, f, _ in augmented])
    seen = np.isfinite(stack).sum(0)
    np.testing.assert_array_equal(g.count, seen)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        plain_mean = np.nanmean(stack, 0)
        plain_std = np.nanstd(stack, 0, ddof=1)
    np.testing.assert_allclose(g.mean, plain_mean, rtol=1e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(g.std, plain_std, rtol=1e-4, atol=1e-6, equal_nan=True)
    # the darker copies pull the mean down: the map is not the same everywhere
    assert np.nanstd(g.mean) > 0.01


def test_groups_by_label_and_compare(augmented):
    mm = model_map(augmented, method=luminance, resolution=64, groups="aug")
    assert set(mm.groups) == {"none", "flip", "dark"}
    cmp = compare(mm["dark"], mm["none"], n_permutations=200)
    d = cmp.difference
    assert np.nanmax(d.texture) <= 1e-6 and np.nanmean(d.texture) < -0.05  # darker everywhere
    np.testing.assert_allclose(d.texture, mm["dark"].mean - mm["none"].mean, equal_nan=True, rtol=1e-6)
    assert {r["region"] for r in cmp.regions} >= {"left_eye", "nose", "upper_lip"}
    assert all(0 < r["p_value"] <= 1 for r in cmp.regions)
    with pytest.raises(GroupError):
        model_map(augmented[:1], method=luminance, resolution=64, groups="gender")


def test_cis_model_map_grouped_by_the_models_own_prediction(sample_images, sample_faces):
    img, face = sample_images["obama"], sample_faces["obama"][0]
    model = mouth_model(face, img)
    darker = (img.astype(np.float32) * 0.5).astype(np.uint8)
    items = [(img, face), (darker, face)]
    mm = model_map(items, model, None, method="cis", resolution=48, groups=predicted_class(model))
    assert list(mm.groups) == ["bright"]  # the model's logit 0 (mean brightness) always wins
    g = mm["bright"]
    single = [image_map(i, f, model, None, "cis", 48).texture for i, f in items]
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):  # texels outside the mesh: all NaN
        plain = np.nanmean(np.stack(single), 0)
    np.testing.assert_allclose(g.mean, plain, rtol=1e-5, atol=1e-7, equal_nan=True)
    assert mm.metadata["model"] == "window-test" and mm.metadata["weights_sha256"]


def test_permutation_p_values_separate_real_differences_from_noise():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (30, 2))
    y = rng.normal(0, 1, (30, 2))
    y[:, 0] += 2.0
    x[3, 1] = np.nan  # a region unseen in one image
    p = permutation_p_values(x, y, n_permutations=500, seed=0)
    assert p[0] < 0.01 and p[1] > 0.05
    np.testing.assert_array_equal(p, permutation_p_values(x, y, n_permutations=500, seed=0))


def test_bad_inputs(augmented):
    with pytest.raises(ParameterError, match="method"):
        model_map(augmented[:1], method="gradcam", resolution=64)
    with pytest.raises(ShapeError):
        model_map([(1, 2, 3, 4)], method=luminance)
    with pytest.raises(ShapeError):
        compare("a", "b")
