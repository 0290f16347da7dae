"""Shared helpers of the explanation tests: small real networks and a black-box ONNX model."""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import nn

from facewidget.models import FaceModel, ModelConfig


def photometric_copy(img: np.ndarray, seed: int = 0) -> np.ndarray:
    """The same photo with another exposure and sensor noise: a genuine pair whose faces align the same."""
    rng = np.random.default_rng(seed)
    out = img.astype(np.float32) * 0.9 + 12 + rng.normal(0, 4, img.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


class CountingModel(FaceModel):
    """A FaceModel that counts the chips it was asked to run (for cancel tests)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chips_seen = 0

    def forward_chips(self, chips):
        self.chips_seen += int(chips.shape[0])
        return super().forward_chips(chips)


def tiny_model(size: int = 112, cls=FaceModel, seed: int = 0) -> FaceModel:
    """A very cheap embedder (one strided conv + linear) so thousands of masks run in seconds."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 8, stride=8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * (size // 8) ** 2, 32))
    return cls.from_module(net, dict(name="tiny", input_size=(size, size), embedding_size=32), device="cpu")


class OnnxBlackBox(FaceModel):
    """A model known only through onnxruntime: no torch network, no gradients."""

    differentiable = False

    def __init__(self, onnx_bytes: bytes, config: ModelConfig):
        import onnxruntime as ort

        self.config = config
        self.device = torch.device("cpu")
        self.network = None
        self.batch_size = 32
        self._mean = torch.tensor(config.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(config.std).view(1, 3, 1, 1)
        self.session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])

    def forward_chips(self, chips):
        x = self.preprocess(chips).detach().cpu().numpy()
        return torch.from_numpy(self.session.run(None, {"x": x})[0])


def to_onnx(model: FaceModel) -> OnnxBlackBox:
    h, w = model.config.input_size
    buf = io.BytesIO()
    torch.onnx.export(model.network.cpu().eval(), torch.zeros(1, 3, h, w), buf, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, dynamo=False)
    from dataclasses import replace

    return OnnxBlackBox(buf.getvalue(), replace(model.config, name=model.config.name + "-onnx"))


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def one_thread():
    """Generator for a module fixture: torch on one thread (the small batches of these tests run
    faster so, and a busy 2-core CI box is not oversubscribed), restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def region_share(saliency: np.ndarray, inside: np.ndarray) -> float:
    """The share of a map's total mass that lies in ``inside`` (a bool mask of the same shape).

    Fails (AssertionError) on a map with no positive mass: ``0 >= 0.8 · 0`` would otherwise let
    an all-zero map pass every localisation check. ``saliency`` must be non-negative (pass
    ``np.abs(signed)`` for a signed map)."""
    saliency = np.asarray(saliency, dtype=np.float64)
    assert saliency.shape == inside.shape, (saliency.shape, inside.shape)
    assert np.isfinite(saliency).all() and (saliency >= 0).all(), "a mass share needs a finite, non-negative map"
    total = saliency.sum()
    assert total > 0, f"the map has no positive mass (sum {total})"
    return float(saliency[inside].sum() / total)


def assert_mass_in_region(saliency: np.ndarray, inside: np.ndarray, share: float = 0.8, label=None) -> None:
    """At least ``share`` of a map's positive total mass lies in ``inside`` (see :func:`region_share`)."""
    got = region_share(saliency, inside)
    assert got >= share, (label, f"{got:.3f} of the mass inside, need {share}")


def pair_streams(model, size: int):
    """Two random chips, each scored by its similarity to the other's embedding (seeded)."""
    from facewidget.explainers.engine import Stream
    from facewidget.explainers.targets import SimilarityTarget

    torch.manual_seed(1)
    chips = torch.rand(2, 3, size, size)
    emb = model.embed(chips)
    return [Stream(chips[0], SimilarityTarget(model, emb[1])), Stream(chips[1], SimilarityTarget(model, emb[0]))]
