"""ConvNet-D, the network of the dataset-distillation literature (DC, DM, FairDD).

Each of ``depth`` blocks is ``Conv2d(c, width, 3x3, padding 1) -> norm -> ReLU -> AvgPool(2, 2)``; the head is
``Linear(width * h * w, n_classes)`` where ``h, w`` are the spatial sizes left after the pools (4x4 at 32x32, 3x3 at
28x28, 8x8 at 64x64). The default norm is ``GroupNorm(width, width, affine=True)``, i.e. instance norm with a learnt
affine map, so a batch of one behaves like a batch of many (no running statistics).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError, check_choice

NORMS = ("instance", "batch", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``instance`` = GroupNorm(C, C, affine), ``batch`` = BatchNorm2d(C), ``none`` = identity."""
    check_choice(kind, "norm", NORMS)
    if kind == "instance":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class ConvNet(nn.Module):
    """ConvNet-``depth`` of width ``width`` for ``in_channels`` x ``image_size`` x ``image_size`` inputs.

    ``image_size`` may be an int or an (H, W) pair. ``embed(x)`` returns the flattened features before the linear
    head (``feature_dim`` values per image); ``forward(x)`` the class logits.
    """

    def __init__(self, in_channels: int = 3, n_classes: int = 10, image_size: int | tuple[int, int] = 32,
                 width: int = 128, depth: int = 3, norm: str = "instance"):
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if depth < 1 or width < 1 or in_channels < 1 or n_classes < 1:
            raise ConfigError(f"ConvNet needs depth, width, in_channels, n_classes >= 1; got {depth}, {width}, "
                              f"{in_channels}, {n_classes}")
        if min(h, w) < 2 ** depth:
            raise ConfigError(f"image_size {h}x{w} is too small for a ConvNet of depth {depth}: each block halves it; "
                              f"use net_depth (--net-depth) <= {max(1, min(h, w).bit_length() - 1)}, or larger "
                              f"images")
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(depth):
            layers += [nn.Conv2d(c, width, 3, padding=1), norm_layer(norm, width), nn.ReLU(),
                       nn.AvgPool2d(2, 2)]
            c, h, w = width, h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.feature_dim = width * h * w
        self.classifier = nn.Linear(self.feature_dim, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))
