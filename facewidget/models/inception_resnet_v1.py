"""facenet-pytorch's ``InceptionResnetV1`` (FaceNet), in facenet-pytorch's state_dict key layout.

A checkpoint saved from ``facenet_pytorch.InceptionResnetV1`` loads unchanged (keys such as
``conv2d_1a.conv.weight``, ``repeat_1.0.branch1.1.bn.running_mean``, ``mixed_6a.branch0.conv.weight``,
``block8.conv2d.weight``, ``last_linear.weight``, ``last_bn.running_var``). A classification head
(``logits.*``, present in facenet-pytorch's pretrained files) is accepted and ignored: it is not
part of the embedding.

Input: (B, 3, 160, 160) RGB normalised as ``(pixel - 127.5) / 128`` (facenet-pytorch's
``fixed_image_standardization``). Output: (B, 512) L2-normalised embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicConv2d(nn.Module):
    """conv (no bias) → BatchNorm (eps 1e-3, TensorFlow's) → ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel, stride: int = 1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class _Residual(nn.Module):
    """Concatenated branches → 1×1 conv (with bias) → scaled residual add → optional ReLU."""

    def __init__(self, branches: list[nn.Module], concat: int, channels: int, scale: float, relu: bool = True):
        super().__init__()
        self.scale = scale
        for i, branch in enumerate(branches):
            setattr(self, f"branch{i}", branch)
        self.n_branches = len(branches)
        self.conv2d = nn.Conv2d(concat, channels, 1)
        if relu:
            self.relu = nn.ReLU()
        self.apply_relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n_branches)], 1)
        out = self.conv2d(out) * self.scale + x
        return self.relu(out) if self.apply_relu else out


def block35(scale: float) -> _Residual:
    return _Residual([BasicConv2d(256, 32, 1),
                      nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, 1, 1)),
                      nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, 1, 1),
                                    BasicConv2d(32, 32, 3, 1, 1))], 96, 256, scale)


def block17(scale: float) -> _Residual:
    return _Residual([BasicConv2d(896, 128, 1),
                      nn.Sequential(BasicConv2d(896, 128, 1), BasicConv2d(128, 128, (1, 7), 1, (0, 3)),
                                    BasicConv2d(128, 128, (7, 1), 1, (3, 0)))], 256, 896, scale)


def block8(scale: float, relu: bool = True) -> _Residual:
    return _Residual([BasicConv2d(1792, 192, 1),
                      nn.Sequential(BasicConv2d(1792, 192, 1), BasicConv2d(192, 192, (1, 3), 1, (0, 1)),
                                    BasicConv2d(192, 192, (3, 1), 1, (1, 0)))], 384, 1792, scale, relu)


class _Concat(nn.Module):
    """Parallel branches concatenated along channels (the reduction blocks)."""

    def __init__(self, *branches: nn.Module):
        super().__init__()
        for i, branch in enumerate(branches):
            setattr(self, f"branch{i}", branch)
        self.n_branches = len(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n_branches)], 1)


class InceptionResnetV1(nn.Module):
    """FaceNet's Inception-ResNet-v1 trunk; (B, 3, 160, 160) → (B, 512) unit-length embeddings."""

    def __init__(self, dropout: float = 0.6):
        super().__init__()
        self.conv2d_1a = BasicConv2d(3, 32, 3, 2)
        self.conv2d_2a = BasicConv2d(32, 32, 3, 1)
        self.conv2d_2b = BasicConv2d(32, 64, 3, 1, 1)
        self.maxpool_3a = nn.MaxPool2d(3, 2)
        self.conv2d_3b = BasicConv2d(64, 80, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3)
        self.conv2d_4b = BasicConv2d(192, 256, 3, 2)
        self.repeat_1 = nn.Sequential(*[block35(0.17) for _ in range(5)])
        self.mixed_6a = _Concat(BasicConv2d(256, 384, 3, 2),
                                nn.Sequential(BasicConv2d(256, 192, 1), BasicConv2d(192, 192, 3, 1, 1),
                                              BasicConv2d(192, 256, 3, 2)),
                                nn.MaxPool2d(3, 2))
        self.repeat_2 = nn.Sequential(*[block17(0.10) for _ in range(10)])
        self.mixed_7a = _Concat(nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 384, 3, 2)),
                                nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, 2)),
                                nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, 1, 1),
                                              BasicConv2d(256, 256, 3, 2)),
                                nn.MaxPool2d(3, 2))
        self.repeat_3 = nn.Sequential(*[block8(0.20) for _ in range(5)])
        self.block8 = block8(1.0, relu=False)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.last_linear = nn.Linear(1792, 512, bias=False)
        self.last_bn = nn.BatchNorm1d(512, eps=1e-3, momentum=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in ("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b", "conv2d_4a", "conv2d_4b",
                     "repeat_1", "mixed_6a", "repeat_2", "mixed_7a", "repeat_3", "block8", "avgpool_1a"):
            x = getattr(self, name)(x)
        x = self.last_bn(self.last_linear(self.dropout(x).flatten(1)))
        return F.normalize(x, p=2, dim=1)


OPTIONAL_KEY_PREFIXES = ("logits.",)
