"""Each built-in FIQA method rates clean sample photos above their heavily degraded copies.

Every method is tested with the degradations it is meant to see (documented in its module):
sharpness - blur, down-scaling; exposure - low light; dynamic range - blur, JPEG, low light,
down-scaling; BRISQUE - blur, JPEG, low light, down-scaling; SER-FIQ (dlib-resnet) - noise, at
>= 80 % only (measured 86-93 %: dlib's ResNet was not trained with dropout, so its SER-FIQ spread is
small, 0.476-0.486; see the report);
pose - in-plane rotation (re-detected); inter-eye distance - down-scaling without restoring the size
(re-detected); eyes open / mouth closed - synthetic eye closure / mouth opening (re-detected).
Embedding norm is *not* a quality measure for dlib-resnet (not magnitude-aware, see its module): its
test checks what it computes, not a ranking.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facewidget as fw
from facewidget.errors import ShapeError, UnsupportedOperationError
from facewidget.quality import (SERFIQ, DegradationGenerator, FaceBatch, as_face_batch, detect_missing, get_fiqa,
                                score)

PHOTOS = ["obama", "obama2", "obama3", "biden", "astronaut", "obama_partial_face", "obama_partial_face2"]


@pytest.fixture(scope="module")
def photos(sample_images, sample_faces):
    return {n: sample_images[n] for n in PHOTOS}, {n: sample_faces[n][0] for n in PHOTOS}


@pytest.fixture(scope="module")
def pixel_set(photos):
    imgs, faces = photos
    gen = DegradationGenerator(seed=0, kinds=["blur", "noise", "jpeg", "low_light", "downscale"], severity=1.0)
    items = gen.build(imgs, faces)
    return items, as_face_batch(items)


@pytest.fixture(scope="module")
def dlib_model():
    return fw.load_model("dlib-resnet", device="cpu")


def win_rate(items, values, kinds) -> tuple[float, int]:
    clean = {it.source: v for it, v in zip(items, values) if it.kind == "clean"}
    wins = [v < clean[it.source] for it, v in zip(items, values) if it.kind in kinds and it.source in clean]
    return float(np.mean(wins)), len(wins)


@pytest.mark.parametrize("method, kinds", [
    ("sharpness", ("blur", "downscale")),
    ("exposure", ("low_light",)),
    ("dynamic-range", ("blur", "jpeg", "low_light", "downscale")),
    ("brisque", ("blur", "jpeg", "low_light", "downscale")),
])
def test_pixel_methods_rank_clean_above_degraded(pixel_set, method, kinds):
    items, batch = pixel_set
    scores = score(batch, method)
    rate, n = win_rate(items, next(iter(scores.values())), kinds)
    assert n == len(PHOTOS) * len(kinds)
    assert rate >= 0.9, f"{method}: clean above degraded in only {rate:.0%} of {n} pairs"


def test_serfiq_ranks_clean_above_noisy_and_is_seeded(pixel_set, dlib_model):
    items, batch = pixel_set
    method = SERFIQ(dlib_model, passes=100, rate=0.5, seed=0)
    q = method(batch)["ser_fiq"]
    assert np.all((q > 0) & (q <= 1))
    rate, n = win_rate(items, q, ("noise",))
    assert rate >= 0.8, f"SER-FIQ: clean above noisy in only {rate:.0%} of {n} pairs"
    # seeded, and a face's score does not depend on its batch
    again = SERFIQ(dlib_model, seed=0)(batch.subset([8, 0]))["ser_fiq"]
    np.testing.assert_allclose(again, q[[8, 0]], rtol=0, atol=1e-9)
    other = SERFIQ(dlib_model, seed=1)(batch.subset([0]))["ser_fiq"]
    assert other[0] != q[0]


def test_serfiq_drops_out_the_embedding_layer_input(dlib_model, photos):
    imgs, faces = photos
    batch = FaceBatch.from_images([imgs["obama"]], [faces["obama"]])
    method = SERFIQ(dlib_model, passes=5, rate=0.5, seed=0)
    assert method.layer_name == "fc"
    emb = method.stochastic_embeddings(batch.chips_for(dlib_model))
    assert emb.shape == (1, 5, 128)
    with torch.no_grad():  # by hand: trunk features → masked → fc
        feats = dlib_model.network.features(dlib_model.preprocess(batch.chips_for(dlib_model))).mean(dim=(2, 3))
        manual = (feats * method.masks(256)) @ dlib_model.network.fc.weight.T
    torch.testing.assert_close(emb[0], manual, rtol=1e-5, atol=1e-5)


def test_embedding_norm_is_the_norm_of_the_embedding(dlib_model, pixel_set):
    _, batch = pixel_set
    sub = batch.subset([0, 1, 2])
    norms = score(sub, "embedding-norm", model=dlib_model)["embedding_norm"]
    expected = torch.linalg.vector_norm(dlib_model.embed(sub.chips_for(dlib_model)), dim=1).numpy()
    np.testing.assert_allclose(norms, expected, rtol=1e-6)
    with pytest.raises(ShapeError):
        get_fiqa("embedding-norm")  # needs a model


def test_pose_sees_rotation(photos):
    imgs, faces = photos
    items = detect_missing(DegradationGenerator(seed=0, kinds=["rotate"], severity=1.0).build(imgs, faces))
    s = score(items, "pose")
    rate, n = win_rate(items, s["pose"], ("rotate",))
    assert n >= 6 and rate >= 0.9
    assert all(abs(it.params["angle_deg"]) == 45 for it in items if it.kind == "rotate")


def test_inter_eye_distance_sees_downscaling(photos):
    imgs, faces = photos
    gen = DegradationGenerator(seed=0, kinds=["downscale"], severity=3 / 7, redetect=True,
                               options={"downscale": {"restore": False}})
    items = detect_missing(gen.build(imgs, faces))
    ied = score(items, "inter-eye-distance")["inter_eye_distance"]
    rate, n = win_rate(items, ied, ("downscale",))
    assert n >= 5 and rate >= 0.9
    clean = {it.source: v for it, v in zip(items, ied) if it.kind == "clean"}
    ratios = [v / clean[it.source] for it, v in zip(items, ied) if it.kind == "downscale"]
    np.testing.assert_allclose(ratios, 0.25, atol=0.03)  # shrunk 4×, measured on the re-detected mesh


@pytest.mark.parametrize("method, kind", [("eyes-open", "eyes_closed"), ("mouth-closed", "mouth_open")])
def test_eye_and_mouth_measures_see_synthetic_edits(photos, method, kind):
    imgs, faces = photos
    items = detect_missing(DegradationGenerator(seed=0, kinds=[kind], severity=1.0).build(imgs, faces))
    values = next(iter(score(items, method).values()))
    rate, n = win_rate(items, values, (kind,))
    assert n >= 6 and rate >= 0.9, f"{method}: {rate:.0%} of {n}"


def test_mesh_measures_need_a_mesh_and_outputs_are_checked(pixel_set):
    _, batch = pixel_set
    chips = FaceBatch.from_chips(batch.measurement_chips()[:2])
    assert score(chips, "sharpness")["sharpness"].shape == (2,)
    with pytest.raises(UnsupportedOperationError):
        score(chips, "pose")
    with pytest.raises(ShapeError):
        score(chips, lambda b: np.ones(5))  # wrong length
    with pytest.raises(ShapeError):
        score(chips, lambda b: {"q": np.full(len(b), np.nan)})
    custom = score(chips, lambda b: np.arange(len(b), dtype=float))
    assert list(custom) == ["<lambda>"]
    with pytest.raises(ShapeError):
        get_fiqa("no-such-method")


def test_serfiq_on_an_iresnet_checkpoint_layout(tmp_path, pixel_set):
    """Any loaded recognition model: an insightface iresnet18 (random weights saved in the upstream key
    layout: no ArcFace weights can be installed here) gets dropout on its fc input, BN1d after it runs."""
    from facewidget.models.iresnet import build_iresnet

    torch.manual_seed(0)
    net = build_iresnet("iresnet18").eval()
    path = tmp_path / "r18.pth"
    torch.save(net.state_dict(), path)
    model = fw.load_model(path, arch="iresnet18", device="cpu")
    _, batch = pixel_set
    sub = batch.subset([0, 1])
    method = SERFIQ(model, passes=8, seed=0)
    assert method.layer_name == "fc"
    q = method(sub)["ser_fiq"]
    assert q.shape == (2,) and np.all((q > 0) & (q <= 1))
    np.testing.assert_allclose(method(sub.subset([1]))["ser_fiq"], q[1:], rtol=1e-6)
