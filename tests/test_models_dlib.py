"""dlib's face ResNet: our file reader + torch network against dlib itself (dlib-bin as the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facewidget as fw
from facewidget.data import MODEL_ASSETS
from facewidget.errors import ModelError, ShapeError
from facewidget.models.dlib_format import parse_dlib_network, read_dlib_network
from facewidget.models.dlib_resnet import DlibFaceResNet, build_dlib_resnet, check_network, state_dict_from_dlib

PHOTOS = ["obama", "obama2", "obama3", "biden", "astronaut"]


@pytest.fixture(scope="module")
def dat_path():
    return MODEL_ASSETS["dlib-resnet"].path()


@pytest.fixture(scope="module")
def model():
    return fw.load_model("dlib-resnet", device="cpu")


@pytest.fixture(scope="module")
def dlib_oracle(dat_path, sample_images):
    """dlib's own 5-point landmarks, 150×150 chips and descriptors for the sample photos."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(MODEL_ASSETS["dlib-shape-5"].path()))
    recogniser = dlib.face_recognition_model_v1(str(dat_path))
    out = {}
    for name in PHOTOS:
        img = sample_images[name]
        rect = max(detector(img, 0), key=lambda r: r.area())
        shape = predictor(img, rect)
        chip = dlib.get_face_chip(img, shape, size=150, padding=0.25)
        out[name] = {"chip": chip, "descriptor": np.array(recogniser.compute_face_descriptor(chip))}
    return out


def _chips(arrays) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0


def test_reader_recovers_the_published_network(dat_path):
    net = read_dlib_network(dat_path)
    assert len(net.headers) == 130
    assert net.num_params() == 5_614_592
    assert net.loss["version"] == "loss_metric_2"
    assert net.loss["distance_threshold"] == pytest.approx(0.6, abs=1e-6)
    assert net.input["nr"] == net.input["nc"] == 150
    np.testing.assert_allclose(net.input["mean"], (122.782, 117.001, 104.298), atol=1e-4)
    kinds = net.kinds()
    assert kinds.count("con") == 29 and kinds.count("fc") == 1 and kinds.count("add_prev") == 14
    stem = net.layers[0]
    assert (stem.attrs["stride_y"], stem.attrs["padding_y"], stem.params["filters"].shape) == (2, 0, (32, 3, 7, 7))
    check_network(net)  # types, strides, shapes all as the hard-coded graph says


def test_embeddings_match_dlib_on_dlibs_own_chips(model, dlib_oracle):
    chips = _chips([dlib_oracle[n]["chip"] for n in PHOTOS])
    ours = model.embed(chips).cpu().numpy().astype(np.float64)
    for i, name in enumerate(PHOTOS):
        ref = dlib_oracle[name]["descriptor"]
        err = np.abs(ours[i] - ref).max()
        assert err < 1e-4, f"{name}: max element error {err:.2e}"
        assert 1.2 < np.linalg.norm(ours[i]) < 1.6  # raw fc output, not L2-normalised


def test_same_person_below_threshold_through_our_pipeline(model, sample_images, sample_faces, dlib_oracle):
    emb = {n: model.embed(sample_images[n], faces=sample_faces[n][:1]) for n in PHOTOS[:4]}
    obamas = ["obama", "obama2", "obama3"]
    for i, a in enumerate(obamas):
        for b in obamas[i + 1:]:
            d = float(model.score(emb[a], emb[b]))
            assert d < 0.6 and model.same(d), f"{a}-{b}: {d:.3f}"
        d_biden = float(model.score(emb[a], emb["biden"]))
        assert d_biden > 0.6 and not model.same(d_biden), f"{a}-biden: {d_biden:.3f}"
    d, same = model.verify(sample_images["obama"], sample_images["obama2"])  # photos in, decision out
    assert same and d == pytest.approx(float(model.score(emb["obama"], emb["obama2"])), abs=1e-5)
    # How far our chips (MediaPipe mesh → DLIB_5) land from dlib's chips, in embedding distance.
    ref = model.embed(_chips([dlib_oracle[n]["chip"] for n in PHOTOS[:4]]))
    drift = {n: float(model.score(emb[n], ref[i])) for i, n in enumerate(PHOTOS[:4])}
    print("embedding drift, our pipeline vs dlib chips:", {k: round(v, 4) for k, v in drift.items()})
    assert max(drift.values()) < 0.2


def test_finite_difference_gradient_of_the_network(dlib_oracle, dat_path):
    net = build_dlib_resnet(dat_path).double().eval()
    x0 = (_chips([dlib_oracle["obama"]["chip"]]).double() * 255 - torch.tensor(
        [122.782, 117.001, 104.298], dtype=torch.float64).view(1, 3, 1, 1)) / 256
    direction = torch.randn(128, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    patch = x0[:, :, 70:74, 60:64].clone().requires_grad_(True)  # a small 3×4×4 input: 48 variables

    def f(p):
        x = x0.clone()
        x[:, :, 70:74, 60:64] = p
        return net(x) @ direction

    # fast_mode compares a random directional finite difference with the analytic J·u.
    assert torch.autograd.gradcheck(f, (patch,), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)
    # and one coordinate by hand: central difference vs autograd
    (grad,) = torch.autograd.grad(f(patch), patch)
    e = torch.zeros_like(patch)
    e[0, 1, 2, 1] = 1e-6
    with torch.no_grad():
        numeric = (f(patch.detach() + e) - f(patch.detach() - e)) / 2e-6
    assert float(numeric) == pytest.approx(float(grad[0, 1, 2, 1]), rel=1e-4, abs=1e-7)


def test_gradients_flow_from_chips(model, dlib_oracle):
    chips = _chips([dlib_oracle["obama"]["chip"]]).requires_grad_(True)
    out = model.forward_chips(chips)
    model.target("similarity", reference=out.detach() + 0.1)(out).sum().backward()
    assert chips.grad is not None and chips.grad.abs().sum() > 0


def test_corrupt_or_mismatched_files_are_refused(dat_path, tmp_path):
    data = dat_path.read_bytes()
    with pytest.raises(ModelError, match="ends early"):
        parse_dlib_network(data[: len(data) // 2])
    with pytest.raises(ModelError, match="unexpected bytes"):
        parse_dlib_network(data + b"\x00")
    # A stem with stride 1 instead of 2: the file parses but is not dlib's face ResNet.
    marker = b"con_4"
    at = data.index(marker) + len(marker)
    tensor_end = at + 1 + 1 + 3 + 2 + 2 + 2 + 4736 * 4  # version, four compact ints, 4736 float32
    fields = bytearray(data[tensor_end:tensor_end + 16])
    assert bytes(fields[:8]) == b"\x01\x20\x01\x07\x01\x07\x01\x02"  # 32 filters, 7, 7, stride_y 2
    bad = bytearray(data)
    bad[tensor_end + 7] = 1
    with pytest.raises(ModelError, match="layer 0"):
        state_dict_from_dlib(parse_dlib_network(bytes(bad)))
    path = tmp_path / "bad.dat"
    path.write_bytes(bytes(bad))
    with pytest.raises(ModelError):
        fw.load_model(str(path))
    with pytest.raises(ModelError):  # dlib's shape predictor is another kind of dlib file
        read_dlib_network(MODEL_ASSETS["dlib-shape-5"].path())


def test_converted_cache_round_trip(dat_path, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWIDGET_CACHE", str(tmp_path))
    fresh = build_dlib_resnet(dat_path)
    cached_files = list((tmp_path / "converted").glob("dlib-resnet-*.pt"))
    assert len(cached_files) == 1
    again = build_dlib_resnet(dat_path)  # read back with weights_only=True
    for (k, a), (_, b) in zip(fresh.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    assert isinstance(again, DlibFaceResNet)


def test_config_and_wrong_chip_shapes(model):
    c = model.config
    assert (c.input_size, c.template, c.padding, c.similarity, c.threshold, c.embedding_size) == (
        (150, 150), "dlib-5", 0.25, "euclidean", 0.6, 128)
    assert c.weights_sha256.startswith("55533b28")
    with pytest.raises(ShapeError):
        model.embed(torch.rand(1, 3, 112, 112))
    with pytest.raises(ShapeError):
        model.forward_chips(torch.zeros(1, 3, 150, 150, dtype=torch.uint8))
    with pytest.raises(ShapeError):
        model.forward_chips(torch.rand(1, 1, 150, 150))
