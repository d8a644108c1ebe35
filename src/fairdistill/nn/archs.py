"""Networks for cross-architecture evaluation of distilled images: MLP, AlexNet, VGG11, ResNet18 (small variants).

All take N x C x H x W images, expose ``embed(x)`` (flattened features before the last linear layer) and
``forward(x)`` (logits). Normalisation defaults to instance norm (``GroupNorm(C, C)``), as in the distillation
literature, so that small synthetic batches need no running statistics; ``norm="batch"`` gives the BN variants.
``build(name, ...)`` makes any of them, ConvNet included.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError, check_name
from .convnet import ConvNet, norm_layer


def _size(image_size) -> tuple[int, int]:
    return (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)


class _Embedder(nn.Module):
    features: nn.Module
    classifier: nn.Module

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


class MLP(_Embedder):
    """Flatten -> (Linear -> ReLU) x len(hidden) -> Linear. ``embed`` is the last hidden activation."""

    def __init__(self, in_channels: int = 3, n_classes: int = 10, image_size=32, hidden=(128, 128)):
        super().__init__()
        h, w = _size(image_size)
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_channels * h * w
        for k in hidden:
            layers += [nn.Linear(d, k), nn.ReLU()]
            d = k
        self.features = nn.Sequential(*layers)
        self.feature_dim = d
        self.classifier = nn.Linear(d, n_classes)


class AlexNet(_Embedder):
    """Five conv layers (5x5, 5x5, 3x3, 3x3, 3x3; 128-192-256-192-192 channels), three 2x2 max pools, linear head."""

    def __init__(self, in_channels: int = 3, n_classes: int = 10, image_size=32, norm: str = "none"):
        super().__init__()
        h, w = _size(image_size)
        spec = [(128, 5, True), (192, 5, True), (256, 3, False), (192, 3, False), (192, 3, True)]
        layers: list[nn.Module] = []
        c = in_channels
        for out, k, pool in spec:
            layers += [nn.Conv2d(c, out, k, padding=k // 2), norm_layer(norm, out), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(2, 2))
                h, w = h // 2, w // 2
            c = out
        self.features = nn.Sequential(*layers)
        self.feature_dim = c * h * w
        self.classifier = nn.Linear(self.feature_dim, n_classes)


VGG11_CFG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11(_Embedder):
    """VGG-11 configuration (3x3 convs, 2x2 max pools); pools are dropped once the map is 1x1. ``width`` scales all
    channel counts (1.0 = 64..512)."""

    def __init__(self, in_channels: int = 3, n_classes: int = 10, image_size=32, norm: str = "instance",
                 width: float = 1.0):
        super().__init__()
        h, w = _size(image_size)
        layers: list[nn.Module] = []
        c = in_channels
        for v in VGG11_CFG:
            if v == "M":
                if min(h, w) >= 2:
                    layers.append(nn.MaxPool2d(2, 2))
                    h, w = h // 2, w // 2
                continue
            out = max(1, int(v * width))
            layers += [nn.Conv2d(c, out, 3, padding=1), norm_layer(norm, out), nn.ReLU()]
            c = out
        self.features = nn.Sequential(*layers)
        self.feature_dim = c * h * w
        self.classifier = nn.Linear(self.feature_dim, n_classes)


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), norm_layer(norm, c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), norm_layer(norm, c_out))
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), norm_layer(norm, c_out))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


class ResNet18(_Embedder):
    """ResNet-18 for small images: 3x3 stem (no max pool), four stages of two basic blocks (strides 1, 2, 2, 2),
    global average pool. ``width`` scales the channel counts (1.0 = 64..512)."""

    def __init__(self, in_channels: int = 3, n_classes: int = 10, image_size=32, norm: str = "instance",
                 width: float = 1.0):
        super().__init__()
        chans = [max(1, int(c * width)) for c in (64, 128, 256, 512)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, chans[0], 3, 1, 1, bias=False), norm_layer(norm, chans[0]),
                                   nn.ReLU()]
        c = chans[0]
        for i, out in enumerate(chans):
            stride = 1 if i == 0 else 2
            layers += [_BasicBlock(c, out, stride, norm), _BasicBlock(out, out, 1, norm)]
            c = out
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.feature_dim = c
        self.classifier = nn.Linear(c, n_classes)


ARCHS = {"convnet": ConvNet, "mlp": MLP, "alexnet": AlexNet, "vgg11": VGG11, "resnet18": ResNet18}


def build(name: str, in_channels: int = 3, n_classes: int = 10, image_size=32, **options) -> nn.Module:
    """Make the network ``name`` (one of ``ARCHS``) for the given input shape and class count."""
    check_name(name, "architecture", sorted(ARCHS))
    try:
        return ARCHS[name](in_channels=in_channels, n_classes=n_classes, image_size=image_size, **options)
    except TypeError as err:
        raise ConfigError(f"architecture {name!r} does not accept {sorted(options)} ({err})") from None
