"""User models: iresnet and InceptionResnetV1 checkpoints in the upstream key layouts, modules + config."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

import facewidget as fw
from facewidget.errors import ModelError, ShapeError
from facewidget.models.inception_resnet_v1 import InceptionResnetV1
from facewidget.models.iresnet import IRESNET_LAYERS, build_iresnet


def _randomise(module: nn.Module, seed: int) -> nn.Module:
    """Random weights *and* BatchNorm statistics, so a checkpoint exercises every key."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) * (0.5 if "running_var" in name else 0.1)
                        + (0.75 if "running_var" in name else -0.05))
    return module.eval()


def test_iresnet_checkpoint_loads_runs_and_is_deterministic(tmp_path):
    net = _randomise(build_iresnet("iresnet18"), seed=1)
    keys = list(net.state_dict())
    # insightface's key layout
    for k in ("conv1.weight", "bn1.running_mean", "prelu.weight", "layer1.0.bn1.weight", "layer1.0.conv1.weight",
              "layer1.0.prelu.weight", "layer1.0.bn3.running_var", "layer1.0.downsample.0.weight",
              "layer1.0.downsample.1.running_mean", "layer4.1.conv2.weight", "bn2.weight", "fc.weight",
              "features.running_var", "features.num_batches_tracked"):
        assert k in keys, k
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": OrderedDict(("module." + k, v) for k, v in net.state_dict().items())}, path)
    model = fw.load_model(str(path), arch="r18", device="cpu")
    c = model.config
    assert (c.input_size, c.template, c.mean, c.std, c.similarity, c.embedding_size) == (
        (112, 112), "arcface-112", (127.5,) * 3, (127.5,) * 3, "cosine", 512)
    chips = torch.rand(3, 3, 112, 112, generator=torch.Generator().manual_seed(2))
    e1, e2 = model.embed(chips), model.embed(chips)
    assert e1.shape == (3, 512) and torch.isfinite(e1).all()
    assert torch.equal(e1, e2)
    with torch.no_grad():
        assert torch.allclose(e1, net((chips * 255 - 127.5) / 127.5), atol=1e-5)
    with pytest.raises(ShapeError):
        model.embed(torch.rand(1, 3, 150, 150))


# Parameter counts of insightface's published backbones (fp32 backbone.pth of ~96, 137, 174 and 261 MB).
@pytest.mark.parametrize("arch,millions", [("iresnet18", 24.0), ("iresnet34", 34.1), ("iresnet50", 43.6),
                                           ("iresnet100", 65.2)])
def test_iresnet_depths_match_upstream(arch, millions):
    with torch.device("meta"):
        net = build_iresnet(arch)
    assert [len(getattr(net, f"layer{i}")) for i in range(1, 5)] == list(IRESNET_LAYERS[arch])
    n = sum(p.numel() for p in net.parameters())
    assert n / 1e6 == pytest.approx(millions, rel=5e-3)


def test_inception_resnet_v1_checkpoint(tmp_path):
    net = _randomise(InceptionResnetV1(), seed=3)
    sd = net.state_dict()
    for k in ("conv2d_1a.conv.weight", "conv2d_1a.bn.running_mean", "repeat_1.4.branch2.2.conv.weight",
              "mixed_6a.branch1.2.bn.weight", "repeat_2.9.branch1.2.conv.weight", "mixed_7a.branch2.2.conv.weight",
              "repeat_3.4.conv2d.bias", "block8.conv2d.weight", "last_linear.weight", "last_bn.running_var"):
        assert k in sd, k
    assert "block8.relu" not in dict(net.named_modules())  # the last block has no ReLU upstream
    full = dict(sd)
    full["logits.weight"] = torch.zeros(8631, 512)  # facenet-pytorch's pretrained files carry a classifier
    full["logits.bias"] = torch.zeros(8631)
    path = tmp_path / "facenet.pt"
    torch.save(full, path)
    model = fw.load_model(str(path), arch="inception_resnet_v1", device="cpu")
    assert model.config.input_size == (160, 160) and model.config.std == (128.0,) * 3
    chips = torch.rand(2, 3, 160, 160, generator=torch.Generator().manual_seed(4))
    e = model.embed(chips)
    assert e.shape == (2, 512) and torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.equal(e, model.embed(chips))
    with torch.no_grad():
        assert torch.allclose(e, net((chips * 255 - 127.5) / 128), atol=1e-5)


def test_mismatched_checkpoints_name_their_keys(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(build_iresnet("iresnet18").state_dict(), path)
    with pytest.raises(ModelError, match=r"missing keys \[.*layer1\.2\."):
        fw.load_model(str(path), arch="iresnet34")
    sd = build_iresnet("iresnet18").state_dict()
    sd["head.weight"] = torch.zeros(3)
    del sd["fc.bias"]
    torch.save(sd, path)
    with pytest.raises(ModelError, match=r"missing keys \[fc\.bias\].*unexpected keys \[head\.weight\]"):
        fw.load_model(str(path), arch="iresnet18")
    with pytest.raises(ModelError, match="inception_resnet_v1"):
        fw.load_model(str(path), arch="inception_resnet_v1")
    torch.save(build_iresnet("iresnet18"), tmp_path / "pickled.pth")  # a whole pickled module
    with pytest.raises(ModelError, match="weights_only"):
        fw.load_model(str(tmp_path / "pickled.pth"), arch="iresnet18")
    with pytest.raises(ModelError, match="architecture"):
        fw.load_model(str(path))
    with pytest.raises(ModelError, match="unknown architecture"):
        fw.load_model(str(path), arch="vgg16")
    with pytest.raises(ModelError, match="neither a built-in"):
        fw.load_model("no-such-model")


def test_any_module_with_a_config():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = fw.load_model(net, config={"name": "tiny", "input_size": (32, 32), "embedding_size": 4,
                                       "threshold": 0.5}, device="cpu")
    chips = torch.rand(2, 3, 32, 32)
    assert model.embed(chips).shape == (2, 4)
    assert model.config.weights_sha256  # hashed from the state_dict
    model2 = fw.load_model(net, config={"name": "tiny", "input_size": (32, 32)}, threshold=0.7, device="cpu")
    assert model2.config.threshold == 0.7
    with pytest.raises(ModelError):
        fw.load_model(net)
