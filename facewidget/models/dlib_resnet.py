"""dlib's face recognition ResNet-29 (``dlib_face_recognition_resnet_model_v1.dat``) in PyTorch.

The network of dlib's ``dnn_face_recognition_ex.cpp``, checked layer by layer against the file:

* input: RGB, ``x = (pixel - mean_c) / 256`` (done by :class:`~facewidget.models.FaceModel`);
* padding rule: convolutions and pools pad 0 when their stride is not 1, ``k // 2`` otherwise;
* stem: conv 7×7/2 (32) → affine → relu → max-pool 3×3/2 (150 → 72 → 35);
* residual block: conv3×3/s → affine → relu → conv3×3/1 → affine, plus the shortcut, → relu;
  a down-sampling block has a stride-2 first conv and an avg-pool 2×2/2 shortcut (no 1×1 conv);
* stages: 3×32 @35; down 64 + 2×64 @17 (4 blocks); down 128 + 2×128 @8; down 256 + 2×256 @4;
  down 256 @2; global average pool; fc 256 → 128 without bias;
* ``add_prev`` zero-fills the smaller operand at the end (extra channels, bottom rows, right columns):
  it widens shortcut channels and pads the conv branch from 3×3 to 4×4 and 1×1 to 2×2;
* output: the raw 128-D fc output (not L2-normalised); same person when Euclidean distance < 0.6.

Each ``affine`` (dlib's frozen batch norm) is folded into the convolution before it; that is exact
up to float rounding (~1e-7) and keeps the input gradient.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .dlib_format import DlibNetwork, read_dlib_network

# (channels, first block down-samples?, number of blocks) in forward order.
STAGES = ((32, False, 3), (64, True, 4), (128, True, 3), (256, True, 3), (256, True, 1))
INPUT_SIZE = 150
EMBEDDING_SIZE = 128


def add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev_``: sum over the max of both shapes, the smaller operand zero-filled at the end."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def grow(t):
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return grow(a) + grow(b)


class ResidualBlock(nn.Module):
    """conv3×3/s (+affine) → relu → conv3×3/1 (+affine), add_prev with the shortcut, relu."""

    def __init__(self, in_channels: int, channels: int, down: bool):
        super().__init__()
        self.down = down
        stride = 2 if down else 1
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=0 if down else 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_prev(y, shortcut))


class DlibFaceResNet(nn.Module):
    """dlib's ResNet-29 on normalised (B, 3, 150, 150) RGB → raw (B, 128) embeddings."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        blocks, c_in = [], 32
        for channels, down, n in STAGES:
            for i in range(n):
                blocks.append(ResidualBlock(c_in, channels, down and i == 0))
                c_in = channels
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(256, EMBEDDING_SIZE, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last (B, 256, 2, 2) activation map, before global pooling."""
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        return self.blocks(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


# -- the expected layer sequence ---------------------------------------------------------------

def _con(filters, in_channels, k, stride):
    pad = 0 if stride != 1 else k // 2
    return ("con", {"num_filters": filters, "nr": k, "nc": k, "stride_y": stride, "stride_x": stride,
                    "padding_y": pad, "padding_x": pad}, {"filters": (filters, in_channels, k, k),
                                                          "biases": (filters,)})


def _affine(c):
    return ("affine", {"mode": 0}, {"gamma": (c,), "beta": (c,)})


def _pool(kind, k, stride):
    pad = 0 if stride != 1 else k // 2
    return (kind, {"nr": k, "nc": k, "stride_y": stride, "stride_x": stride, "padding_y": pad, "padding_x": pad}, {})


def expected_layers() -> list[tuple[str, dict, dict]]:
    """(kind, attrs, param shapes) of every entry the file must hold, in forward order."""
    seq = [_con(32, 3, 7, 2), _affine(32), ("relu", {}, {}), _pool("max_pool", 3, 2)]
    c_in = 32
    for channels, down, n in STAGES:
        for i in range(n):
            d = down and i == 0
            seq += [("tag_or_skip", {}, {}), _con(channels, c_in, 3, 2 if d else 1), _affine(channels),
                    ("relu", {}, {}), _con(channels, channels, 3, 1), _affine(channels)]
            if d:  # tag2, skip1 back to tag1, avg-pool shortcut
                seq += [("tag_or_skip", {}, {}), ("tag_or_skip", {}, {}), _pool("avg_pool", 2, 2)]
            seq += [("add_prev", {}, {}), ("relu", {}, {})]
            c_in = channels
    seq += [_pool("avg_pool", 0, 1), ("fc", {"num_outputs": 128, "num_inputs": 256, "bias_mode": 1},
                                      {"weights": (256, 128)})]
    return seq


def check_network(net: DlibNetwork) -> None:
    """Raise :class:`ModelError` unless ``net`` is exactly dlib's face ResNet (types, strides, shapes)."""
    if net.input.get("nr") != INPUT_SIZE or net.input.get("nc") != INPUT_SIZE:
        raise ModelError(f"the dlib file's input is {net.input.get('nr')}×{net.input.get('nc')}, expected 150×150")
    expected = expected_layers()
    if len(net.layers) != len(expected):
        raise ModelError(f"the dlib file has {len(net.layers)} layers; dlib's face ResNet has {len(expected)}")
    for i, (layer, (kind, attrs, shapes)) in enumerate(zip(net.layers, expected)):
        got_attrs = {k: layer.attrs.get(k) for k in attrs}
        got_shapes = {k: tuple(v.shape) for k, v in layer.params.items()}
        if layer.kind != kind or got_attrs != attrs or got_shapes != shapes:
            raise ModelError(f"the dlib file does not match dlib's face ResNet at layer {i}: expected {kind} "
                             f"{attrs} {shapes}, found {layer.describe()}")
        if any(not np.all(np.isfinite(v)) for v in layer.params.values()):
            raise ModelError(f"the dlib file has non-finite weights at layer {i} ({kind})")


def state_dict_from_dlib(net: DlibNetwork) -> dict[str, torch.Tensor]:
    """The :class:`DlibFaceResNet` state_dict for a checked network (affines folded into convs)."""
    check_network(net)
    weighted = [layer for layer in net.layers if layer.kind in ("con", "affine", "fc")]
    convs = list(zip(weighted[0:-1:2], weighted[1:-1:2]))
    names = ["stem"] + [f"blocks.{b}.conv{j}" for b in range(sum(n for _, _, n in STAGES)) for j in (1, 2)]
    sd: dict[str, torch.Tensor] = {}
    for name, (con, aff) in zip(names, convs, strict=True):
        g = aff.params["gamma"].astype(np.float64)
        w = con.params["filters"].astype(np.float64) * g[:, None, None, None]
        b = con.params["biases"].astype(np.float64) * g + aff.params["beta"].astype(np.float64)
        sd[f"{name}.weight"] = torch.from_numpy(w.astype(np.float32))
        sd[f"{name}.bias"] = torch.from_numpy(b.astype(np.float32))
    sd["fc.weight"] = torch.from_numpy(np.ascontiguousarray(weighted[-1].params["weights"].T))
    return sd


def _converted_cache_path(sha256: str) -> Path:
    from ..data.assets import cache_dir

    return cache_dir() / "converted" / f"dlib-resnet-{sha256[:32]}.pt"


def build_dlib_resnet(path: str | os.PathLike, sha256: str | None = None, *, use_cache: bool = True) -> DlibFaceResNet:
    """Parse and check a ``dlib_face_recognition_resnet_model_v1.dat`` file; return the torch network.

    The converted state_dict is cached (``<cache>/converted/``) keyed by the file's sha256 and
    loaded back with ``weights_only=True``.
    """
    data = Path(path).read_bytes()
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    model = DlibFaceResNet()
    cached = _converted_cache_path(sha256)
    if use_cache and cached.is_file():
        try:
            model.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
            return model
        except Exception:  # noqa: BLE001 - a damaged cache entry is rebuilt from the .dat
            cached.unlink(missing_ok=True)
    from .dlib_format import parse_dlib_network

    sd = state_dict_from_dlib(parse_dlib_network(data))
    model.load_state_dict(sd)
    if use_cache:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}.part")
            torch.save(sd, tmp)
            os.replace(tmp, cached)
        except OSError:
            pass  # a read-only cache only costs the parse next time
    return model


__all__ = ["DlibFaceResNet", "ResidualBlock", "add_prev", "build_dlib_resnet", "check_network",
           "expected_layers", "read_dlib_network", "state_dict_from_dlib"]
