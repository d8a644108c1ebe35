"""Differentiable Siamese augmentation (DSA, Zhao & Bilen 2021), re-implemented in plain torch.

``dsa(x, generator, strategy)`` picks ONE family of the ``_``-separated strategy at random (one draw from
``generator``) and applies it with per-sample random parameters, all drawn from ``generator``:

- ``color``: brightness ``x + (u - 1/2) * b``, then saturation ``m_c + (x - m_c) * u * s`` (``m_c`` = per-pixel
  channel mean), then contrast ``m + (x - m) * (u + c)`` (``m`` = per-image mean); ``u ~ U(0, 1)`` per sample.
- ``crop``: translate by integer shifts in ``[-r, r]`` (``r = round(crop * side)``) per axis, zero fill.
- ``cutout``: zero a square of side ``round(cutout * side)`` centred at a uniform position (clipped at the border).
- ``flip``: mirror left-right with probability ``flip``.
- ``scale``: affine map ``diag(s_x, s_y)``, ``s ~ U(1/scale, scale)``, bilinear resampling, zero padding.
- ``rotate``: rotation by ``theta ~ U(-rotate, rotate)`` degrees, bilinear resampling, zero padding.

Every operation is differentiable with respect to ``x``. "Siamese": the same generator state gives the same family
and the same parameters, so augmenting a real and a synthetic batch from clones of one generator state
(``fork``) transforms both alike. The generator lives on the CPU; parameters are moved to ``x``'s device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError

DEFAULT_STRATEGY = "color_crop_cutout_flip_scale_rotate"


@dataclass(frozen=True)
class DSAParams:
    """Strengths of the DSA families (the reference defaults)."""

    flip: float = 0.5          # probability of a left-right flip
    scale: float = 1.2         # scale factors in [1/scale, scale]
    rotate: float = 15.0       # degrees, symmetric
    crop: float = 0.125        # maximal translation as a fraction of the side
    cutout: float = 0.5        # side of the erased square as a fraction of the side
    brightness: float = 1.0    # additive shift in [-b/2, b/2]
    saturation: float = 2.0    # chroma factor in [0, s]
    contrast: float = 0.5      # contrast factor in [c, c + 1]


def fork(generator: torch.Generator) -> torch.Generator:
    """A new CPU generator with the same state: feed it to ``dsa`` for the Siamese twin batch."""
    g = torch.Generator()
    g.set_state(generator.get_state())
    return g


def _u(n: int, g: torch.Generator, x: torch.Tensor) -> torch.Tensor:
    """n uniforms in [0, 1) from ``g``, shaped (n, 1, 1, 1) on ``x``'s device and dtype."""
    return torch.rand(n, generator=g).to(x.device, x.dtype).view(n, 1, 1, 1)


def _randint(low: int, high: int, n: int, g: torch.Generator, device) -> torch.Tensor:
    return torch.randint(low, high, (n,), generator=g).to(device)


def brightness(x, g, p: DSAParams):
    return x + (_u(len(x), g, x) - 0.5) * p.brightness


def saturation(x, g, p: DSAParams):
    m = x.mean(dim=1, keepdim=True)
    return m + (x - m) * (_u(len(x), g, x) * p.saturation)


def contrast(x, g, p: DSAParams):
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return m + (x - m) * (_u(len(x), g, x) + p.contrast)


def crop(x, g, p: DSAParams):
    n, _, h, w = x.shape
    rh, rw = int(h * p.crop + 0.5), int(w * p.crop + 0.5)
    dy = _randint(-rh, rh + 1, n, g, x.device)
    dx = _randint(-rw, rw + 1, n, g, x.device)
    rows = torch.arange(h, device=x.device)[None, :] + dy[:, None]          # source row of each output row
    cols = torch.arange(w, device=x.device)[None, :] + dx[:, None]
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    b = torch.arange(n, device=x.device)[:, None, None]
    out = x.permute(0, 2, 3, 1)[b, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]
    return (out * valid[..., None].to(x.dtype)).permute(0, 3, 1, 2)


def cutout(x, g, p: DSAParams):
    n, _, h, w = x.shape
    ch, cw = int(h * p.cutout + 0.5), int(w * p.cutout + 0.5)
    cy = _randint(0, h + (1 - ch % 2), n, g, x.device)
    cx = _randint(0, w + (1 - cw % 2), n, g, x.device)
    r = torch.arange(h, device=x.device)[None, :] - (cy[:, None] - ch // 2)
    c = torch.arange(w, device=x.device)[None, :] - (cx[:, None] - cw // 2)
    inside = ((r >= 0) & (r < ch))[:, :, None] & ((c >= 0) & (c < cw))[:, None, :]
    return x * (~inside)[:, None].to(x.dtype)


def flip(x, g, p: DSAParams):
    mask = (torch.rand(len(x), generator=g) < p.flip).to(x.device).view(-1, 1, 1, 1)
    return torch.where(mask, x.flip(3), x)


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample x on the affine grid theta (bilinear, zeros outside; corner-aligned, as DiffAugment)."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def scale(x, g, p: DSAParams):
    n = len(x)
    lo = 1.0 / p.scale
    sx = torch.rand(n, generator=g) * (p.scale - lo) + lo
    sy = torch.rand(n, generator=g) * (p.scale - lo) + lo
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = sx, sy
    return _warp(x, theta.to(x.device))


def rotate(x, g, p: DSAParams):
    """Rotation by a ~ U(-rotate, rotate) degrees: sampling grid [[cos a, sin a], [-sin a, cos a]] (the transpose of
    DiffAugment's, i.e. the angle -a; a is symmetric, so the distribution of rotations is the same)."""
    n = len(x)
    a = (torch.rand(n, generator=g) - 0.5) * 2 * p.rotate * math.pi / 180
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), torch.sin(a)
    theta[:, 1, 0], theta[:, 1, 1] = -torch.sin(a), torch.cos(a)
    return _warp(x, theta.to(x.device))


FAMILIES: dict[str, tuple[Callable, ...]] = {
    "color": (brightness, saturation, contrast), "crop": (crop,), "cutout": (cutout,), "flip": (flip,),
    "scale": (scale,), "rotate": (rotate,),
}


def parse_strategy(strategy: str) -> list[str]:
    """Family names of a ``_``-separated strategy; ``""`` or ``"none"`` means no augmentation."""
    if strategy in ("", "none"):
        return []
    names = strategy.split("_")
    bad = [f for f in names if f not in FAMILIES]
    if bad:
        raise ConfigError(f"DSA strategy {strategy!r} has unknown families {bad}; use '_'-joined names from "
                          f"{sorted(FAMILIES)}")
    return names


def dsa(x: torch.Tensor, generator: torch.Generator, strategy: str = DEFAULT_STRATEGY,
        params: DSAParams = DSAParams()) -> torch.Tensor:
    """Augment the N x C x H x W batch ``x`` with one randomly chosen family of ``strategy`` (see module doc)."""
    if x.ndim != 4:
        raise DataError(f"dsa needs an N x C x H x W batch; got shape {tuple(x.shape)}")
    names = parse_strategy(strategy)
    if not names or len(x) == 0:
        return x
    k = int(torch.randint(len(names), (1,), generator=generator)) if len(names) > 1 else 0
    for op in FAMILIES[names[k]]:
        x = op(x, generator, params)
    return x
