"""Device choice, seeding and small tensor helpers shared by the torch-based methods."""
from __future__ import annotations

import random

import numpy as np
import torch

from .errors import ConfigError


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; an unavailable explicit device is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"device={device!r} is not a torch device; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} asked for CUDA but none is available; use auto or cpu")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for explicit use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_tensor(a, device, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)


class single_thread:
    """Context: torch intra-op threads = 1, restored on exit. Small dense nets (the tabular MLPs) run several times
    faster this way: their kernels are too small to split, and thread synchronisation dominates, worst of all on
    a busy machine (measured: 8.6 s vs 63 s for the Adult MLP on a loaded 2-core CPU; identical results)."""

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)
        return False
