"""The quantus adapter: quantus' metrics on our maps agree with ours (facewidget.evaluate), on the
real dlib network and a real pair, driven by the same perturbations.

quantus is installed by ``make`` (pip install --no-deps quantus==0.6.0, see the Makefile); the
importorskip is only a fallback for a hand-made environment."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from facewidget.errors import ParameterError
from .explain_helpers import one_thread

quantus = pytest.importorskip("quantus")

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def pair(sample_images, sample_faces):
    """dlib, the chips of obama / obama2 and IG maps of each face's similarity to the other."""
    import facewidget as fw
    from facewidget.explainers.base import get_method
    from facewidget.explainers.targets import SimilarityTarget

    model = fw.load_model("dlib-resnet", device="cpu")
    chips = torch.cat([model.align(sample_images[n], [sample_faces[n][0]]).chips for n in ("obama", "obama2")])
    with torch.no_grad():
        emb = model.embed(chips)
    targets = [SimilarityTarget(model, emb[1]), SimilarityTarget(model, emb[0])]
    maps = get_method("integrated_gradients")(model, chips, targets, steps=8).saliency
    return model, chips, maps, targets


def test_faithfulness_correlation_agrees_with_ours_on_the_subsets_quantus_drew(pair):
    from facewidget.evaluate.faithfulness import faithfulness_correlation
    from facewidget.evaluate.quantus_adapter import quantus_metrics

    model, chips, maps, targets = pair
    kw = dict(metrics=("faithfulness_correlation",), subset=1500, runs=16, seed=3)
    q = quantus_metrics(model, chips, maps, targets, return_removed=True, **kw)
    removed = q["faithfulness_correlation_removed"]  # (2, 16, 3, h, w): channel values quantus removed
    assert removed.shape == (2, 16, 3, 150, 150) and (removed.sum((2, 3, 4)) == 1500).all()
    ours = faithfulness_correlation(model, chips, maps, targets, removed=removed)
    q_values = np.array(q["faithfulness_correlation"])
    assert np.all(np.abs(q_values) > 0.1), q_values  # a real signal, so agreeing is not trivial
    np.testing.assert_allclose(q_values, ours, atol=1e-4)  # measured: 2e-6 (torch vs ONNX Runtime forwards)
    # the comparison sees a wrong conversion: the channels read in the wrong order give other drops ...
    swapped = faithfulness_correlation(model, chips, maps, targets, removed=removed[:, :, ::-1])
    assert np.abs(swapped - q_values).max() > 1e-2, swapped
    # ... and a mis-signed map flips quantus' value (same seed: same subsets)
    flipped = quantus_metrics(model, chips, -maps, targets, **kw)["faithfulness_correlation"]
    np.testing.assert_allclose(flipped, -q_values, atol=1e-6)
    # seeded, and numpy's global generator is left as it was
    state = np.random.get_state()[1].copy()
    again = quantus_metrics(model, chips, maps, targets, **kw)["faithfulness_correlation"]
    assert again == q["faithfulness_correlation"] and np.array_equal(np.random.get_state()[1], state)


def test_pixel_flipping_is_our_deletion_curve(pair):
    from facewidget.evaluate.curves import single_curve
    from facewidget.evaluate.quantus_adapter import quantus_metrics

    model, chips, maps, targets = pair
    q = quantus_metrics(model, chips, maps, targets, metrics=("pixel_flipping",), steps=12)["pixel_flipping"]
    np.testing.assert_allclose(q["fractions"], np.arange(1, 13) / 12)
    for i in range(2):
        ours = single_curve(model, chips[i:i + 1], maps[i:i + 1], targets[i], steps=12).value
        np.testing.assert_allclose(q["values"][i], ours[1:], atol=1e-4)  # measured 4e-7; quantus has no clean point
    # another map deletes other pixels: the comparison can fail
    other = quantus_metrics(model, chips, -maps, targets, metrics=("pixel_flipping",), steps=12)["pixel_flipping"]
    assert np.abs(np.array(other["values"]) - np.array(q["values"])).max() > 0.05
    with pytest.raises(ParameterError):
        quantus_metrics(model, chips, maps, targets, metrics=("pixel_flipping",), steps=10)  # 3 ∤ 10


def test_mprt_agrees_with_ours_under_the_same_randomisation(pair, monkeypatch):
    """quantus' cascade (seeded its way) and ours give the same per-map Spearman of |maps| at every
    layer when ours re-initialises the layers as quantus does; the layers come in the same order."""
    from facewidget.evaluate import faithfulness
    from facewidget.evaluate.quantus_adapter import quantus_metrics
    from facewidget.explainers.base import get_method
    from facewidget.explainers.targets import SimilarityTarget

    model, chips, _, _ = pair
    ig = get_method("integrated_gradients")

    def explain(m, c, t):
        return ig(m, c, t, steps=2).saliency

    def explain_pair(m):  # each face against the other as *this* model embeds it
        with torch.no_grad():
            emb = m.embed(chips)
        return explain(m, chips, [SimilarityTarget(m, emb[1]), SimilarityTarget(m, emb[0])])

    maps = explain_pair(model)
    torch_state = torch.get_rng_state()
    q = quantus_metrics(model, chips, maps, reference_chips=chips[[1, 0]], metrics=("mprt",), explain=explain,
                        seed=4)["mprt"]
    assert torch.equal(torch.get_rng_state(), torch_state)  # quantus reseeds torch: the adapter restores it
    names = [n for n, _ in faithfulness.parameter_layers(model.network)]
    assert q["layers"] == names[::-1]  # output first, every parameterised layer
    np.testing.assert_allclose(q["original"], 1.0, atol=1e-6)  # the maps handed over are the explainer's

    def as_quantus_does(module, _seed):  # torch.manual_seed(seed + 1) before every layer
        torch.manual_seed(4 + 1)
        module.reset_parameters()

    monkeypatch.setattr(faithfulness, "_reinitialise", as_quantus_does)
    ours = faithfulness.model_parameter_randomisation(model, explain_pair)
    assert [s.layer for s in ours.steps] == q["layers"]
    got = np.array([q["scores"][s.layer] for s in ours.steps])
    want = np.array([s.spearman_abs_maps for s in ours.steps])
    np.testing.assert_allclose(got, want, atol=1e-6)  # measured: 1.4e-8
    assert got[-1].max() < got[0].min()  # the cascade does change the maps: agreement is not on constants


def test_adapter_conventions_and_errors(pair, monkeypatch):
    from facewidget.evaluate.quantus_adapter import SimilarityClassifier, quantus_metrics, to_quantus
    from facewidget.runs import MissingExtraError

    model, chips, maps, targets = pair
    classifier, x, y, a = to_quantus(model, chips, maps, targets)
    assert x.shape == (2, 3, 150, 150) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert a.shape == (2, 1, 150, 150) and list(y) == [0, 1]
    with torch.no_grad():
        out = classifier(torch.as_tensor(x))
        want = torch.stack([t(model.embed(chips[i:i + 1]))[0] for i, t in enumerate(targets)])
    assert out.shape == (2, 2)
    torch.testing.assert_close(out[[0, 1], [0, 1]], want, atol=1e-5, rtol=1e-5)  # column y_i = chip i's target
    by_chips = SimilarityClassifier(model, chips[[1, 0]])
    with torch.no_grad():
        torch.testing.assert_close(by_chips(torch.as_tensor(x)), out, atol=1e-5, rtol=1e-5)
    with pytest.raises(ParameterError):
        quantus_metrics(model, chips, maps, targets, metrics=("road",))
    with pytest.raises(ParameterError):
        quantus_metrics(model, chips, maps, targets, metrics=("mprt",))  # needs explain
    with pytest.raises(ParameterError):
        quantus_metrics(model, chips, maps, targets, reference_chips=chips)  # one of the two
    monkeypatch.setitem(sys.modules, "quantus", None)  # as if not installed
    with pytest.raises(MissingExtraError, match="--no-deps quantus==0.6.0"):
        quantus_metrics(model, chips, maps, targets)


def test_quantus_left_mediapipes_opencv_in_place():
    """quantus declares opencv-python; installed with it, pip would replace opencv-contrib-python's
    cv2 (mediapipe's). The Makefile installs quantus with --no-deps: only the contrib build is here."""
    from importlib import metadata

    import cv2

    assert metadata.version("quantus") == "0.6.0"
    metadata.version("opencv-contrib-python")
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("opencv-python")
    assert hasattr(cv2, "ximgproc")  # a contrib module
