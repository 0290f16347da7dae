"""The CSM paper's comparison on a real model: CIS against Grad-CAM, Grad-CAM++ and Score-CAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facewidget as fw
from facewidget.canonical import compare_methods
from facewidget.explain.gradcampp import gradcampp_weights


def test_gradcampp_weights_match_the_closed_form():
    torch.manual_seed(0)
    a = torch.rand(1, 3, 4, 4)
    g = torch.randn(1, 3, 4, 4)
    w = gradcampp_weights(a, g)
    k = 1
    alpha = g[0, k] ** 2 / (2 * g[0, k] ** 2 + a[0, k].sum() * g[0, k] ** 3)
    assert torch.allclose(w[0, k, 0, 0], (alpha * g[0, k].clamp(min=0)).sum(), atol=1e-6)


def test_gradcampp_needs_gradients_and_gives_signed_maps():
    model = fw.load_model("dlib-gender", device="cpu")
    res = fw.explain(fw.data.sample("astronaut"), model, target=0, method="gradcam++")
    m = res.face.maps["saliency"]
    assert m.shape == (32, 32) and np.isfinite(m).all() and np.abs(m).max() > 0
    assert res.manifest["method"] == "gradcam++"


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
    # Faithfulness: the canonical image saliency removes more of the evidence than a random map does.
    assert recs["cis"]["average_drop"] > recs["random"]["average_drop"]
    assert out["params"]["weights_sha256"] == model.config.weights_sha256
