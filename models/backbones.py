"""Backbones for the detectors built in :mod:`models.builders`.

The ``tiny`` backbone is a 3-stage convolutional network (32/64/64 channels by default,
output stride 8, ONE feature map) sized for CPU tests and simulations. The real backbones
(MobileNetV3-Large FPN, ResNet-50 FPN) are torchvision's and are assembled in
:mod:`models.builders`; they are meant for GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

TINY_STRIDE = 8


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    if kind == "gn":
        return nn.GroupNorm(min(8, channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; expected 'bn', 'gn' or 'none'")


class TinyBackbone(nn.Module):
    """Three stages; stage i is one 3x3 stride-2 conv plus ``depths[i] - 1`` 3x3 stride-1
    convs, each followed by norm + ReLU. The default depths (1, 1, 2) give a receptive field
    of 31 px at a fraction of the cost of two convs per stage.

    Input: (B, 3, H, W) normalised images. Output: (B, channels[-1], ceil(H/8), ceil(W/8)),
    a single feature map (torchvision's detectors wrap it as feature ``"0"``).
    ``out_channels`` is the attribute torchvision's detectors read.
    """

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 64),
        norm: str = "bn",
        depths: Sequence[int] = (1, 1, 2),
    ) -> None:
        super().__init__()
        if len(channels) != 3 or any(int(c) <= 0 for c in channels):
            raise ValueError(f"tiny backbone needs 3 positive channel counts, got {channels!r}")
        if len(depths) != 3 or any(int(d) < 1 for d in depths):
            raise ValueError(f"tiny backbone needs 3 stage depths >= 1, got {depths!r}")
        layers: list[nn.Module] = []
        c_in = 3
        for c_out, depth in zip(channels, depths, strict=True):
            for stride in (2,) + (1,) * (int(depth) - 1):
                layers += [
                    nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=norm == "none"),
                    _norm(norm, c_out),
                    nn.ReLU(inplace=True),
                ]
                c_in = c_out
        self.body = nn.Sequential(*layers)
        self.out_channels = int(channels[-1])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def tiny_backbone(
    channels: Sequence[int] = (32, 64, 64), norm: str = "bn", depths: Sequence[int] = (1, 1, 2)
) -> TinyBackbone:
    """Build the ``tiny`` backbone (see :class:`TinyBackbone`)."""
    return TinyBackbone(channels, norm, depths)
