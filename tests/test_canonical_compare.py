"""The CSM paper's comparison on a real model: CIS against Grad-CAM, Grad-CAM++ and Score-CAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facewidget as fw
from facewidget.canonical import compare_methods
from facewidget.explainers.gradcampp import gradcampp_weights


def test_gradcampp_weights_match_the_closed_form():
    torch.manual_seed(0)
    a = torch.rand(1, 3, 4, 4)
    g = torch.randn(1, 3, 4, 4)
    w = gradcampp_weights(a, g)
    k = 1
    alpha = g[0, k] ** 2 / (2 * g[0, k] ** 2 + a[0, k].sum() * g[0, k] ** 3)
    assert torch.allclose(w[0, k, 0, 0], (alpha * g[0, k].clamp(min=0)).sum(), atol=1e-6)


def test_gradcampp_needs_gradients_and_gives_signed_maps():
    """Grad-CAM++ refuses a model without gradients, and its map is the signed Σ_k w_k·A_k (no ReLU)
    at the default layer, computed here by hand from the layer's activations and gradients."""
    from facewidget.models import FaceModel

    model = fw.load_model("dlib-gender", device="cpu")
    img = fw.data.sample("astronaut")
    res = fw.explain(img, model, target=0, method="gradcam++")
    m = res.face.maps["saliency"]
    assert m.shape == (32, 32) and np.isfinite(m).all()
    assert m.min() < 0 < m.max()  # signed: evidence against the class is kept
    assert res.manifest["method"] == "gradcam++"
    # by hand: the layer's activations A and ∂logit_0/∂A, the closed-form weights, Σ_k w_k·A_k
    layer = dict(model.network.named_modules())[res.manifest["params"]["layer"]]
    chip = model.align(img).chips[:1]
    seen = {}
    handle = layer.register_forward_hook(lambda mod, inp, out: seen.setdefault("a", out))
    try:
        with torch.enable_grad():
            logit = model.forward_chips(chip)[:, 0].sum()
            (grad,) = torch.autograd.grad(logit, seen["a"])
    finally:
        handle.remove()
    a = seen["a"].detach()
    cam = (gradcampp_weights(a, grad) * a).sum(1, keepdim=True)  # (1, 1, 16, 16): the layer's grid
    cam = torch.nn.functional.interpolate(cam, size=m.shape, mode="bilinear", align_corners=False)[0, 0]
    np.testing.assert_allclose(m, cam.numpy(), rtol=1e-4, atol=1e-4 * float(cam.abs().max()))

    class NoGradients(FaceModel):
        differentiable = False

    black_box = NoGradients(model.network, model.config, device="cpu")
    with pytest.raises(fw.UnsupportedOperationError):
        fw.explain(img, black_box, target=0, method="gradcam++")


@pytest.mark.slow
def test_cis_and_baselines_on_dlib_gender(sample_images):
    model = fw.load_model("dlib-gender", device="cpu")
    photos = [sample_images[n] for n in ("obama", "biden", "astronaut", "obama2")]
    out = compare_methods(photos, model, seed=0)
    recs = {r["method"]: r for r in out["records"]}
    assert set(recs) == {"cis", "gradcam", "gradcam++", "scorecam", "random"}
    assert out["classes"] == [1, 1, 0, 1]  # male, male, female, male
    assert sum(r["win"] for r in recs.values()) == pytest.approx(100.0)
    for r in recs.values():
        assert r["n"] == 4 and 0 <= r["average_drop"] <= 100 and 0 <= r["increase_in_confidence"] <= 100
    assert out["params"]["weights_sha256"] == model.config.weights_sha256
    # Faithfulness: the canonical image saliency removes more of the evidence than random maps do,
    # by a margin, against several independent random draws (each seed draws other smooth maps)
    random_drops = [recs["random"]["average_drop"]]
    for seed in (1, 2, 3, 4):
        again = {r["method"]: r for r in compare_methods(photos, model, baselines=(), seed=seed)["records"]}
        assert again["cis"]["average_drop"] == pytest.approx(recs["cis"]["average_drop"])  # CIS has no seed
        random_drops.append(again["random"]["average_drop"])
    assert len(set(random_drops)) == len(random_drops)  # five different random draws
    assert recs["cis"]["average_drop"] > max(random_drops) + 20, (recs["cis"]["average_drop"], random_drops)
