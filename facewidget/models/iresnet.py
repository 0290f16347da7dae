"""insightface's ``iresnet`` backbones (ArcFace r18/r34/r50/r100), in insightface's state_dict key layout.

A checkpoint saved from ``insightface/recognition/arcface_torch/backbones/iresnet.py`` loads into
:func:`build_iresnet` unchanged (keys such as ``conv1.weight``, ``layer1.0.bn1.running_mean``,
``layer1.0.downsample.0.weight``, ``fc.weight``, ``features.running_var``).

Input: (B, 3, 112, 112) RGB normalised as ``(pixel - 127.5) / 127.5``, aligned to the ArcFace
112×112 five-point template. Output: (B, 512) embeddings (not normalised); compare with cosine.
Structure: conv3×3 → BN → PReLU; four stages of "improved" basic blocks (BN → conv3×3 → BN → PReLU →
conv3×3/s → BN, plus a 1×1-conv + BN shortcut when the shape changes), each stage halving the
resolution (112 → 7); BN → flatten → dropout → fc (512·7·7 → 512) → BatchNorm1d.
"""

from __future__ import annotations

import torch
from torch import nn

IRESNET_LAYERS = {"iresnet18": (2, 2, 2, 2), "iresnet34": (3, 4, 6, 3), "iresnet50": (3, 4, 14, 3),
                  "iresnet100": (3, 13, 30, 3)}


class IBasicBlock(nn.Module):
    """BN → conv3×3 → BN → PReLU → conv3×3 (stride) → BN, plus the (possibly projected) input."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, eps=1e-5)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-5)
        self.prelu = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels, eps=1e-5)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(channels, eps=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """The ArcFace iresnet trunk; ``layers`` = blocks per stage (see :data:`IRESNET_LAYERS`)."""

    def __init__(self, layers: tuple[int, int, int, int], num_features: int = 512, dropout: float = 0.0,
                 input_size: int = 112):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        c_in = 64
        for i, (channels, n) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            blocks = [IBasicBlock(c_in, channels, 2)] + [IBasicBlock(channels, channels) for _ in range(n - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            c_in = channels
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)
        side = input_size // 16
        self.fc = nn.Linear(512 * side * side, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


def build_iresnet(arch: str, num_features: int = 512) -> IResNet:
    """An untrained iresnet (``"iresnet18"``, ``"iresnet34"``, ``"iresnet50"``, ``"iresnet100"``)."""
    return IResNet(IRESNET_LAYERS[arch], num_features=num_features)
