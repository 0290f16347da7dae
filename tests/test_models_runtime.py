"""Gradient-free forwards (``FaceModel.infer``): ONNX Runtime on CPU, same numbers as torch, never stale."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import facewidget as fw
from facewidget.models import FaceModel, ModelConfig
from facewidget.models.runtime import RuntimeFallbackWarning, forget


@pytest.fixture(scope="module")
def dlib():
    return fw.load_model("dlib-resnet", device="cpu")


@pytest.fixture(scope="module")
def chips(dlib, sample_images, sample_faces):
    return torch.cat([dlib.align(sample_images[n], sample_faces[n][:1]).chips for n in ("obama", "biden")])


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2), nn.ReLU(), nn.Conv2d(8, 16, 3, 2), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 8))


CONFIG = ModelConfig(name="small", input_size=(32, 32), template="arcface-112", embedding_size=8)


def test_dlib_runs_in_onnxruntime_with_torch_numbers(dlib, chips):
    assert dlib.runtime_in_use.startswith("onnxruntime")
    with torch.no_grad():
        ref = dlib.forward_chips(chips)
    got = dlib.infer(chips)
    assert got.shape == ref.shape == (2, 128)
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-5)
    # what a user sees: the pair distance is the same to 1e-6
    d_ref = float(torch.linalg.vector_norm(ref[0] - ref[1]))
    d_got = float(torch.linalg.vector_norm(got[0] - got[1]))
    assert abs(d_ref - d_got) < 1e-5


def test_corrrise_manifest_names_the_runtime(dlib, sample_images, sample_faces):
    res = fw.explain_pair(sample_images["obama"], sample_images["obama2"], dlib, n=32, batch_size=16,
                          faces=(sample_faces["obama"][0], sample_faces["obama2"][0]))
    assert res.manifest["model"]["runtime"].startswith("onnxruntime")
    assert res.manifest["versions"]["onnxruntime"]


def test_weights_changed_in_place_rebuild_the_session():
    model = FaceModel(small_net(), CONFIG, device="cpu")
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    before = model.infer(x)
    with torch.no_grad():
        model.network[0].weight.mul_(-1.5)  # what load_state_dict / a randomisation does
        ref = model.forward_chips(x)
    after = model.infer(x)
    assert not torch.allclose(before, after)
    assert torch.allclose(after, ref, rtol=1e-4, atol=1e-5)
    # a network swapped into a (shallow) copy of the model gets its own session
    other = FaceModel(small_net(seed=3), CONFIG, device="cpu")
    clone = __import__("copy").copy(model)
    clone.network = other.network
    with torch.no_grad():
        assert torch.allclose(clone.infer(x), other.forward_chips(x), rtol=1e-4, atol=1e-5)
    forget(model.network)  # explicit drop, e.g. after writing through .data
    assert torch.allclose(model.infer(x), ref, rtol=1e-4, atol=1e-5)


def test_hooks_make_infer_run_torch():
    model = FaceModel(small_net(), CONFIG, device="cpu")
    seen = []
    handle = model.network[2].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    try:
        assert model.runtime_in_use.startswith("torch")
        model.infer(torch.rand(2, 3, 32, 32))
    finally:
        handle.remove()
    assert seen == [torch.Size([2, 16, 7, 7])]
    assert model.runtime_in_use.startswith("onnxruntime")


def test_runtime_torch_is_respected_and_bad_runtime_named():
    model = FaceModel(small_net(), CONFIG, device="cpu", runtime="torch")
    assert model.runtime_in_use.startswith("torch")
    with pytest.raises(fw.ParameterError, match="runtime"):
        FaceModel(small_net(), CONFIG, device="cpu", runtime="tensorrt")
    loaded = fw.load_model(small_net(), config=CONFIG, device="cpu", runtime="torch")
    assert loaded.runtime_in_use.startswith("torch")
    with pytest.raises(fw.errors.ModelError, match="runtime"):
        fw.load_model(small_net(), config=CONFIG, runtime="tensorrt")


class PythonSide(nn.Module):
    """Leaves the tensor world (numpy): the exporter cannot follow it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x).mean(dim=(2, 3))
        return torch.from_numpy(y.detach().numpy() * 2.0)


def test_unexportable_network_falls_back_to_torch_with_one_warning():
    model = FaceModel(PythonSide(), ModelConfig(name="python-side", input_size=(16, 16), embedding_size=4),
                      device="cpu")
    x = torch.rand(2, 3, 16, 16)
    with pytest.warns(RuntimeFallbackWarning, match="python-side"):
        out = model.infer(x)
    with torch.no_grad():
        assert torch.equal(out, model.forward_chips(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeFallbackWarning)
        model.infer(x)  # warned once, not at every batch
    assert model.runtime_in_use.startswith("torch")


def test_exported_graph_is_cached_on_disk_and_checked(tmp_path, monkeypatch):
    from facewidget.models import runtime

    monkeypatch.setenv("FACEWIDGET_CACHE", str(tmp_path))
    file_config = ModelConfig(name="from-file", input_size=(32, 32), embedding_size=8, weights_sha256="f" * 64)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    first = FaceModel(small_net(), file_config, device="cpu")
    first.infer(x)
    graphs = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(graphs) == 1

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the graph was cached")

    # a later model of the same file: the session comes from the cached graph, no export
    with monkeypatch.context() as m:
        m.setattr(runtime, "_export", no_export)
        again = FaceModel(small_net(), file_config, device="cpu")
        with torch.no_grad():
            assert torch.allclose(again.infer(x), again.forward_chips(x), rtol=1e-4, atol=1e-5)
    # a config that claims the same file but holds other weights: the probe check rejects the cached
    # graph and a fresh export replaces it
    liar = FaceModel(small_net(seed=5), file_config, device="cpu")
    with torch.no_grad():
        assert torch.allclose(liar.infer(x), liar.forward_chips(x), rtol=1e-4, atol=1e-5)
    # models hashed from their state dict (no file) are not cached; old graphs are pruned
    FaceModel(small_net(seed=6), CONFIG, device="cpu").infer(x)
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 1
    monkeypatch.setattr(runtime, "MAX_CACHED_GRAPHS", 2)
    for i in range(3):
        cfg = ModelConfig(name=f"file-{i}", input_size=(32, 32), embedding_size=8, weights_sha256=f"{i}" * 64)
        FaceModel(small_net(seed=10 + i), cfg, device="cpu").infer(x)
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 2
