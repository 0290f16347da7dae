"""Canonical image saliency: occlusion at every vertex finds what a model looks at."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facewidget.canonical import canonical_image_saliency, occlusion_drops
from facewidget.canonical.cis import patch_masks
from facewidget.canonical.targets import ClassLogit
from facewidget.errors import ShapeError

from .canonical_models import mouth_model


@pytest.fixture(scope="module")
def obama(sample_images, sample_faces):
    return sample_images["obama"], sample_faces["obama"][0]


def test_cis_of_a_mouth_model_lands_on_the_mouth(obama):
    image, face = obama
    model = mouth_model(face, image)
    cmap = canonical_image_saliency(image, model, ClassLogit(0), face, resolution=128)
    scores = {r["region"]: r for r in cmap.region_scores()}
    # the model reads a box around the mouth: every bit of saliency lies on or around the mouth,
    # and the lips (the middle of the box) are the most salient per unit of area
    around_mouth = sum(scores[n]["share"] for n in ("upper_lip", "lower_lip", "chin", "left_cheek", "right_cheek"))
    assert around_mouth > 0.97
    top = max(scores.values(), key=lambda r: r["mean"])["region"]
    assert top in ("upper_lip", "lower_lip")
    assert cmap.region_scores(by="mean")[0]["region"] == top and cmap.region_scores(by="mean")[0]["rank"] == 1
    assert abs(scores["left_eye"]["mean"]) < 1e-6 and abs(scores["forehead"]["mean"]) < 1e-6
    assert cmap.metadata["method"] == "cis" and cmap.metadata["model"] == "window-test"
    assert cmap.metadata["weights_sha256"]


def test_default_target_is_the_predicted_logit_and_drops_match_single_occlusions(obama):
    image, face = obama
    model = mouth_model(face, image)
    res = occlusion_drops(image, model, None, face, batch_size=50)
    assert res["target"].index == 0  # "bright" wins on a real photo: b > 0 > -b
    # the batched drop at one vertex equals occluding that patch alone
    aligned = model.align(image, [face])
    i = 13  # upper inner lip
    mask = patch_masks(aligned.transforms[0].numpy(), (150, 150), face.landmarks[[i], :2], res["patch_px"])
    occluded = aligned.chips * (1 - mask)
    with torch.no_grad():
        one = model.forward_chips(aligned.chips)[0, 0] - model.forward_chips(occluded)[0, 0]
    assert res["drops"][i] == pytest.approx(float(one), rel=1e-5, abs=1e-7)
    # patch scales with the face: 15/224 of the chip's footprint
    assert 5 < res["patch_px"] < 0.2 * face.width


def test_patch_mask_is_a_square_of_the_requested_side_in_the_photo():
    # identity transform: chip == photo
    m = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    mask = patch_masks(m, (64, 64), np.array([[30.0, 20.0]]), 9.0)[0, 0].numpy()
    assert mask.sum() == pytest.approx(9 * 9, rel=0.05)
    assert mask[20, 30] == 1 and mask[20, 30 + 6] == 0


def test_bad_targets_raise_named_errors(obama):
    image, face = obama
    model = mouth_model(face, image)
    with pytest.raises(ShapeError):
        occlusion_drops(image, model, "logit", face)
    with pytest.raises(ShapeError, match="target must map"):
        occlusion_drops(image, model, lambda out: out, face)
    with pytest.raises(ShapeError):
        occlusion_drops(image, model, ClassLogit(0), face, patch_fraction=2.0)


def test_chip_space_occlusion_equals_occluding_the_photo_then_aligning(obama):
    """What CIS feeds the model is the aligned chip of the photo with a black square on it."""
    image, face = obama
    model = mouth_model(face, image)
    res = occlusion_drops(image, model, ClassLogit(0), face)
    aligned = model.align(image, [face])
    for vertex in (13, 152, 263):
        cx, cy = face.landmarks[vertex, :2]
        half = res["patch_px"] / 2
        photo = image.copy()
        photo[int(np.ceil(cy - half)):int(np.floor(cy + half)) + 1, int(np.ceil(cx - half)):int(np.floor(cx + half)) + 1] = 0
        from_photo = model.align(photo, [face]).chips
        mask = patch_masks(aligned.transforms[0].numpy(), (150, 150), face.landmarks[[vertex], :2], res["patch_px"])
        in_chip = aligned.chips * (1 - mask)
        assert (from_photo - in_chip).abs().mean() < 2e-3
        with torch.no_grad():
            drop = float(model.forward_chips(aligned.chips)[0, 0] - model.forward_chips(from_photo)[0, 0])
        assert res["drops"][vertex] == pytest.approx(drop, abs=0.05 * abs(drop) + 1e-4)


def test_identity_cis_defaults_to_self_similarity(obama):
    from .canonical_models import mouth_embedding_model

    image, face = obama
    model = mouth_embedding_model(face, image)
    cmap = canonical_image_saliency(image, model, None, face, resolution=64)
    assert cmap.metadata["target"] == "similarity[self]"
    assert cmap.metadata["clean_target"] == pytest.approx(1.0, abs=1e-5)  # similarity of the chip to itself
    scores = {r["region"]: r for r in cmap.region_scores()}
    assert scores["forehead"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert max(scores.values(), key=lambda r: r["mean"])["region"] in ("upper_lip", "lower_lip")


def test_patch_splat_averages_overlapping_vertex_patches():
    from facewidget.canonical import region, splat_vertices

    ones = np.ones(468)
    flat = splat_vertices(ones, resolution=64, splat="patch")
    assert np.allclose(flat.texture[flat.valid], 1.0)  # the average of equal values is that value
    vals = np.zeros(468)
    eye = region("left_eye").vertices
    vals[eye] = 1.0
    vals[region("forehead").vertices] = np.nan  # unseen: left out of the averages, never 0
    cmap = splat_vertices(vals, resolution=64, splat="patch")
    scores = {r["region"]: r for r in cmap.region_scores()}
    assert scores["left_eye"]["share"] > 0.6 and scores["right_eye"]["share"] == 0
    assert scores["forehead"]["texels"] == 0
    with pytest.raises(ShapeError):
        splat_vertices(vals, splat="gaussian")


def test_a_vertex_subset_gives_a_coarser_map_of_the_same_thing(obama):
    from facewidget.canonical import vertex_subset

    image, face = obama
    model = mouth_model(face, image)
    subset = vertex_subset(120)
    assert len(subset) == 120 and len(np.unique(subset)) == 120
    full = occlusion_drops(image, model, ClassLogit(0), face)
    part = occlusion_drops(image, model, ClassLogit(0), face, vertices=subset)
    np.testing.assert_allclose(part["drops"][subset], full["drops"][subset], rtol=1e-5, atol=1e-7)
    assert np.isnan(np.delete(part["drops"], subset)).all()
    cmap = canonical_image_saliency(image, model, ClassLogit(0), face, resolution=64, vertices=subset)
    assert cmap.metadata["occluded_vertices"] == 120
    scores = {r["region"]: r for r in cmap.region_scores()}
    around_mouth = sum(scores[n]["share"] for n in ("upper_lip", "lower_lip", "chin", "left_cheek", "right_cheek"))
    assert around_mouth > 0.9


def test_fill_vertices_interpolates_smooth_fields_and_respects_unseen_vertices():
    from facewidget.canonical import canonical_face, fill_vertices, vertex_subset

    x = canonical_face().vertices[:, 0].astype(float)  # a smooth (linear) field, -7.7..7.7 cm
    known = vertex_subset(150)
    vals = np.full(468, np.nan)
    vals[known] = x[known]
    filled = fill_vertices(vals)
    assert np.isfinite(filled).all() and np.abs(filled - x).mean() < 0.3
    allowed = x < 0  # only the right half is seen
    half = fill_vertices(vals, allowed=allowed)
    assert np.isnan(half[~allowed & ~np.isin(np.arange(468), known)]).all()
    assert np.isfinite(half[allowed]).all()
