"""Small image utilities for the image loaders (Pillow + NumPy; no torchvision).

Images travel as uint8 arrays N x C x H x W until the single float32 conversion in ``normalise``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError


def normalise(u8: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """float32 (u8/255 - mean_c) / std_c per channel (in place after one conversion: a single float32 allocation)."""
    u8 = np.asarray(u8)
    if u8.dtype != np.uint8 or u8.ndim != 4:
        raise DataError(f"normalise expects uint8 N x C x H x W, got {u8.dtype} {u8.shape}")
    if len(mean) != u8.shape[1] or len(std) != u8.shape[1]:
        raise DataError(f"mean/std have {len(mean)}/{len(std)} entries; the images have {u8.shape[1]} channels")
    out = u8.astype(np.float32)
    out /= np.float32(255)
    shape = (1, u8.shape[1]) + (1,) * (u8.ndim - 2)
    out -= np.asarray(mean, dtype=np.float32).reshape(shape)
    out /= np.asarray(std, dtype=np.float32).reshape(shape)
    return out

def luma(rgb: np.ndarray) -> np.ndarray:
    """Grey level of uint8 RGB (channel axis 1): L = (299 R + 587 G + 114 B) / 1000, rounded.

    Computed as Pillow's mode "L" conversion does, in 16-bit fixed point (19595, 38470, 7471) / 2^16 with rounding.
    Returns uint8 with one channel fewer dimension (N x H x W).
    """
    r, g, b = (rgb[:, i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """N x H x W uint8 -> N x 3 x H x W uint8 (the grey value replicated)."""
    return np.repeat(grey[:, None], 3, axis=1)


def center_crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the centred size x size square (torchvision rounding: int(round(d / 2)))."""
    left = int(round((width - size) / 2.0))
    top = int(round((height - size) / 2.0))
    return left, top, left + size, top + size


def read_image(path: str | Path, size: int, crop: int | None = None) -> np.ndarray:
    """Read a JPEG/PNG as RGB, optionally centre-crop to ``crop`` x ``crop``, resize (bilinear) to ``size``.

    Returns uint8 3 x size x size.
    """
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if crop is not None:
            im = im.crop(center_crop_box(im.width, im.height, crop))
        if im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()


def read_images(paths: Sequence[str | Path], size: int, crop: int | None = None, desc: str = "images") -> np.ndarray:
    """``read_image`` for every path, stacked into N x 3 x size x size uint8."""
    from ..progress import Progress

    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, p in enumerate(Progress(paths, desc)):
        out[i] = read_image(p, size, crop)
    return out
