"""Every explainer against models whose evidence is known, plus the public API's contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import facewidget as fw
from .explain_helpers import assert_mass_in_region, one_thread, photometric_copy, to_onnx
from facewidget.evaluate import region_mask, synthetic_model
from facewidget.models import FaceModel

# parameters per method for 64×64 chips; the region is a 32×32 quadrant, so mask features must be
# smaller than it (RISE-style grids of 12 cells; CorrRISE patches of 30 px at 112 = 17 px here).
# Grid masks keep half the chip, so each pixel explains little of the score: they need more masks.
QUADRANT_PARAMS = {
    "corrrise": dict(n=400),
    "corrrise-spearman": dict(n=400, correlation="spearman"),
    "corrrise-grid": dict(n=2000, masks="grid", cells=12),
    "rise": dict(n=2000, cells=12),
    "occlusion": dict(),
    "scorecam": dict(),
    "gradcam": dict(),
    "xssab": dict(),
    "integrated_gradients": dict(steps=16),
}
# Grad-CAM / Score-CAM read a 16×16 feature map at 64 px whose receptive fields spill over the
# quadrant's border; at 112 px (28×28 features) the spill is a smaller share.
CAM_SIZE = 112


_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)

@pytest.fixture(scope="module")
def genuine_pair(sample_images, sample_faces):
    img = sample_images["obama"]
    return img, photometric_copy(img), sample_faces["obama"][0]


def reach_of(region: np.ndarray, manifest) -> np.ndarray:
    """The region grown by half a CorrRISE patch: a square over a pixel that close to the region also
    occludes the region, so the pixel truly correlates with the score (patches are a Poisson process,
    so farther pixels are independent of the region and correlate only by noise)."""
    source = manifest["params"].get("mask_source") or {}
    if source.get("kind") != "patches":
        return region
    grow = source["patch_px"] // 2
    ys, xs = np.nonzero(region)
    out = np.zeros_like(region)
    out[max(ys.min() - grow, 0):ys.max() + grow + 1, max(xs.min() - grow, 0):xs.max() + grow + 1] = True
    return out


@pytest.mark.parametrize("variant", list(QUADRANT_PARAMS))
def test_similar_mass_lies_in_the_evidence_quadrant(variant, genuine_pair):
    img_a, img_b, face = genuine_pair
    method = variant.split("-")[0]
    size = CAM_SIZE if method in ("gradcam", "scorecam") else 64
    model = synthetic_model("region", quadrant="bottom-right", size=size)
    res = fw.explain_pair(img_a, img_b, model, method=method, faces=(face, face), **QUADRANT_PARAMS[variant])
    inside = reach_of(region_mask((size, size), "bottom-right").numpy().astype(bool), res.manifest)
    for ef in (res.a, res.b):
        similar = ef.maps["similar"]
        assert similar.shape == (size, size) and similar.dtype == np.float32 and (similar >= 0).all()
        assert_mass_in_region(similar, inside, 0.8, variant)  # positive mass, 80 % of it inside
        assert (ef.maps["dissimilar"] >= 0).all()


def test_the_localisation_check_fails_a_zero_map_and_a_random_map():
    """The check the localisation tests share must fail a map that is zero everywhere (0 ≥ 0.8·0
    would pass it) and a map with no notion of the region (uniform noise: ~¼ of its mass in a
    quadrant), and pass the oracle map."""
    inside = region_mask((64, 64), "bottom-right").numpy().astype(bool)
    with pytest.raises(AssertionError, match="no positive mass"):
        assert_mass_in_region(np.zeros((64, 64), np.float32), inside)
    for seed in range(5):
        noise = np.random.default_rng(seed).random((64, 64)).astype(np.float32)
        with pytest.raises(AssertionError, match="of the mass inside"):
            assert_mass_in_region(noise, inside)
    with pytest.raises(AssertionError):
        assert_mass_in_region(-inside.astype(np.float32), inside)  # all mass negative: not a map
    assert_mass_in_region(inside + 0.01 * np.random.default_rng(0).random((64, 64)), inside)


@pytest.mark.parametrize("method,params", [("corrrise", dict(n=500)), ("corrrise", dict(n=500, correlation="spearman")),
                                           ("occlusion", dict()), ("rise", dict(n=500, cells=10))])
def test_dissimilar_map_peaks_on_an_altered_patch(method, params, genuine_pair):
    """A genuine pair (one photo, two exposures: a random-weight model has no notion of identity, so
    only a pair that matches everywhere else isolates the patch); a colour-inverted square on the
    second image's cheek must be where its dissimilar map peaks. The grid model sees inverted
    content as contradicting and grey (fill=0.5) as missing, see GridEmbedder."""
    img_a, img_b, face = genuine_pair
    img_b = img_b.copy()
    face_a = face_b = face
    model = synthetic_model("grid", size=64)
    cheek = face_b.landmarks[205, :2]  # a point on the subject's right cheek
    half = int(0.2 * face_b.width)
    x, y = int(cheek[0]), int(cheek[1])
    img_b[y - half:y + half, x - half:x + half] = 255 - img_b[y - half:y + half, x - half:x + half]
    res = fw.explain_pair(img_a, img_b, model, method=method, faces=(face_a, face_b), fill=0.5, **params)
    dissimilar = res.b.maps["dissimilar"]
    patch = np.zeros(img_b.shape[:2], np.float32)
    patch[y - half:y + half, x - half:x + half] = 1
    patch_chip = fw.warp_to_chip(patch, res.b.transform, dissimilar.shape) > 0.5
    py, px = np.unravel_index(np.argmax(dissimilar), dissimilar.shape)
    ys, xs = np.nonzero(patch_chip)
    margin = 3  # pixels of tolerance around the patch (chip px)
    assert ys.min() - margin <= py <= ys.max() + margin and xs.min() - margin <= px <= xs.max() + margin, \
        (method, (py, px), (ys.min(), ys.max(), xs.min(), xs.max()))
    # and the photo-space map peaks there too
    photo = res.b.photo_map("dissimilar")
    assert photo.shape == img_b.shape[:2]
    qy, qx = np.unravel_index(np.argmax(photo), photo.shape)
    assert abs(qy - y) <= 1.5 * half and abs(qx - x) <= 1.5 * half


@pytest.mark.parametrize("method", ["gradcam", "integrated_gradients", "occlusion"])
def test_single_face_maps_are_signed(method, genuine_pair, sample_images, sample_faces):
    img, _, face = genuine_pair
    model = synthetic_model("grid", size=64)
    exp = fw.explain(img, model, target="similarity", reference=sample_images["biden"], method=method, face=face)
    sal = exp.face.maps["saliency"]
    assert sal.shape == (64, 64) and np.isfinite(sal).all()
    assert sal.min() < 0 < sal.max(), method
    assert exp.target["kind"] == "similarity"
    assert -1.0 <= exp.value <= 1.0  # a cosine similarity to the reference


def _region_classifier(size=64):
    torch.manual_seed(0)
    region = region_mask((size, size), "top-left")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 5, stride=2, padding=2, bias=False)
            self.head = nn.Linear(8, 3)

        def forward(self, x):
            x = torch.relu(self.conv(x * region))
            return self.head(x.mean(dim=(2, 3)))

    return FaceModel.from_module(Net(), dict(name="region-classifier", task="classification", input_size=(size, size),
                                             classes=("a", "b", "c")), device="cpu")


@pytest.mark.parametrize("target", [1, "b", "probability", lambda out: out[:, 2] - out[:, 0]])
def test_class_targets_find_the_evidence(target, genuine_pair):
    img, _, face = genuine_pair
    model = _region_classifier()
    exp = fw.explain(img, model, target=target, method="occlusion", face=face)
    sal = np.abs(exp.face.maps["saliency"])
    inside = region_mask((64, 64), "top-left").numpy().astype(bool)
    assert_mass_in_region(sal, inside, 0.8, target)
    assert exp.manifest["kind"] == "single" and exp.manifest["target"]["kind"] in ("class", "probability", "callable")


def test_expected_age_target(genuine_pair):
    from facewidget.explainers.targets import DLIB_AGE_CENTRES, ExpectedAgeTarget

    out = torch.zeros(2, 81)
    out[0, 30] = 50.0
    ages = ExpectedAgeTarget()(out)
    assert ages[0] == pytest.approx(DLIB_AGE_CENTRES[30]) and ages[1] == pytest.approx(np.mean(DLIB_AGE_CENTRES))


def test_black_box_methods_run_on_an_onnx_model_and_gradient_methods_refuse(genuine_pair):
    img_a, img_b, face = genuine_pair
    torch_model = synthetic_model("region", quadrant="top-left", size=64)
    onnx_model = to_onnx(torch_model)
    inside = region_mask((64, 64), "top-left").numpy().astype(bool)
    a = fw.explain_pair(img_a, img_b, onnx_model, method="corrrise", faces=(face, face), n=200)
    b = fw.explain_pair(img_a, img_b, torch_model, method="corrrise", faces=(face, face), n=200)
    np.testing.assert_allclose(a.a.maps["similar"], b.a.maps["similar"], atol=2e-3)
    assert_mass_in_region(a.a.maps["similar"], reach_of(inside, a.manifest), 0.8, "onnx")
    assert a.manifest["model"]["differentiable"] is False and a.manifest["black_box"] is True
    fw.explain_pair(img_a, img_b, onnx_model, method="occlusion", faces=(face, face))
    fw.explain_pair(img_a, img_b, onnx_model, method="rise", faces=(face, face), n=64)
    # Score-CAM needs a layer's activations: an ONNX model has no torch layers unless given a callable
    with pytest.raises(fw.UnsupportedOperationError):
        fw.explain_pair(img_a, img_b, onnx_model, method="scorecam", faces=(face, face))
    features = torch_model.network.features
    res = fw.explain_pair(img_a, img_b, onnx_model, method="scorecam", faces=(face, face),
                          activations=lambda chips: features(onnx_model.preprocess(chips) * torch_model.network.region))
    assert np.isfinite(res.a.maps["similar"]).all()
    for method in ("gradcam", "xssab", "integrated_gradients"):
        with pytest.raises(fw.UnsupportedOperationError):
            fw.explain_pair(img_a, img_b, onnx_model, method=method, faces=(face, face))


def test_torch_model_marked_non_differentiable_is_black_box(genuine_pair):
    img_a, img_b, face = genuine_pair
    base = synthetic_model("grid", size=48)

    class NoGrad(FaceModel):
        differentiable = False

    model = NoGrad(base.network, base.config, device="cpu")
    fw.explain_pair(img_a, img_b, model, method="scorecam", faces=(face, face))
    with pytest.raises(fw.UnsupportedOperationError):
        fw.explain_pair(img_a, img_b, model, method="gradcam", faces=(face, face))


def test_xssab_positive_negative_combined(genuine_pair, sample_images, sample_faces):
    img_a, _, face = genuine_pair
    model = synthetic_model("grid", size=64, similarity="euclidean", threshold=1.0)
    res = fw.explain_pair(img_a, sample_images["biden"], model, method="xssab", faces=(face, sample_faces["biden"][0]))
    for ef in (res.a, res.b):
        np.testing.assert_allclose(ef.maps["combined"], ef.maps["similar"] - ef.maps["dissimilar"], atol=1e-6)
        assert (ef.maps["similar"] >= 0).all() and (ef.maps["dissimilar"] >= 0).all()
        # an impostor pair with some agreeing dimensions has evidence both ways: neither map is empty
        assert ef.maps["similar"].sum() > 0 and ef.maps["dissimilar"].sum() > 0
    split = res.manifest["params"]["split"]
    assert 0 < split[0]["agreeing_dims"] < split[0]["dims"] and split[0]["threshold_from"] == "model"


def test_result_contract_and_manifest(genuine_pair):
    img_a, img_b, face = genuine_pair
    model = synthetic_model("grid", size=48, similarity="euclidean", threshold=5.0)
    res = fw.explain_pair(img_a, img_b, model, faces=(face, face), n=64, seed=3)
    assert isinstance(res, fw.PairExplanation)
    assert res.same is True and res.threshold == 5.0
    emb = model.embed(torch.stack([torch.from_numpy(res.a.chip).permute(2, 0, 1), torch.from_numpy(res.b.chip).permute(2, 0, 1)]).float() / 255)
    assert res.score == pytest.approx(float(model.score(emb[0], emb[1])[0]), rel=0.05)
    for ef in (res.a, res.b):
        assert ef.chip.shape == (48, 48, 3) and ef.chip.dtype == np.uint8
        assert ef.transform.shape == (2, 3)
        assert ef.photo_map("similar").shape == img_a.shape[:2]
        np.testing.assert_allclose(ef.maps["signed"], ef.maps["similar"] - ef.maps["dissimilar"], atol=1e-6)
    m = res.manifest
    assert m["method"] == "corrrise" and m["seed"] == 3 and m["params"]["n"] == 64
    assert m["params"]["mask_source"]["kind"] == "patches"
    assert m["model"]["name"] == "synthetic-grid" and len(m["model"]["weights_sha256"]) == 64
    assert set(m["versions"]) >= {"facewidget", "torch", "numpy", "mediapipe"}
    assert m["versions"]["torch"] and m["versions"]["numpy"]
    # timings are recorded per phase (their values depend on the machine: no assert on them)
    assert {"prepare_s", "total_s", "method"} <= set(m["timings"]) and "forward_s" in m["timings"]["method"]
    assert m["done"] == m["total"] == 64 and m["cancelled"] is False
    import json

    json.dumps(m)  # the manifest is plain data


def test_bad_inputs_raise_named_errors(genuine_pair):
    img_a, img_b, face = genuine_pair
    model = synthetic_model("grid", size=48)
    with pytest.raises(fw.ParameterError, match="method must be one of"):
        fw.explain_pair(img_a, img_b, model, method="nope", faces=(face, face))
    with pytest.raises(fw.ParameterError, match="unknown parameters") as info:
        fw.explain_pair(img_a, img_b, model, faces=(face, face), n=16, pathces=3)
    assert info.value.name == "pathces"
    with pytest.raises(fw.ParameterError) as info:
        fw.explain_pair(img_a, img_b, model, faces=(face, face), n=16, correlation="kendall")
    assert (info.value.name, info.value.value) == ("correlation", "kendall")
    with pytest.raises(fw.ParameterError, match="n=-5"):
        fw.explain_pair(img_a, img_b, model, faces=(face, face), n=-5)
    with pytest.raises(fw.ShapeError):
        fw.explain_pair(img_a, img_b, _region_classifier(), faces=(face, face))
    with pytest.raises(fw.UnsupportedOperationError):
        fw.explain(img_a, model, face=face, n=16)  # identity model without a reference
    with pytest.raises(fw.ShapeError):
        fw.explain(img_a, model, target=lambda out: out, face=face, method="occlusion")  # not (B,)
    with pytest.raises(fw.ShapeError):
        fw.explain_pair(img_a, img_b, model, method="gradcam", faces=(face, face), layer="no.such.layer")


def test_gradcam_and_scorecam_accept_any_conv_layer(genuine_pair):
    img_a, img_b, face = genuine_pair
    model = synthetic_model("grid", size=48)
    for layer in ("features.0", "features.1", model.network.features[1]):
        for method in ("gradcam", "scorecam"):
            res = fw.explain_pair(img_a, img_b, model, method=method, faces=(face, face), layer=layer)
            assert res.a.maps["similar"].shape == (48, 48)
    assert res.manifest["params"]["layer"] == "features.1"


def test_scorecam_is_the_signed_weighted_sum_of_normalised_activations(genuine_pair, sample_images):
    """Score-CAM's map equals Σ_k (target(chip·H_k) − target(black))·H_k computed by brute force, with
    negative weights kept (the target is the *negative* similarity, so the weights come out negative
    and a ReLU'd Score-CAM would be all zero)."""
    img, _, face = genuine_pair
    model = synthetic_model("grid", size=32)
    ref = model.embed(sample_images["biden"])[0]
    target = lambda out: -model.similarity(out, ref[None])
    exp = fw.explain(img, model, target=target, method="scorecam", face=face, layer="features.0")
    chip = model.align(img, [face]).chips[0]
    with torch.no_grad():
        act = model.network.features[0](model.preprocess(chip[None]))
        up = torch.nn.functional.interpolate(act, size=(32, 32), mode="bilinear", align_corners=False)[0]
        lo, hi = up.flatten(1).min(1).values, up.flatten(1).max(1).values
        keep = hi - lo > 1e-8
        h = ((up - lo[:, None, None]) / (hi - lo).clamp_min(1e-8)[:, None, None])[keep]
        w = target(model.forward_chips(chip[None] * h[:, None])) - target(model.forward_chips(torch.zeros(1, 3, 32, 32)))
    expected = (w[:, None, None] * h).sum(0).numpy()
    assert (w < 0).any() and exp.face.maps["saliency"].min() < 0
    np.testing.assert_allclose(exp.face.maps["saliency"], expected, rtol=1e-4, atol=1e-5)

