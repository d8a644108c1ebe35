"""Device choice, seeding and small tensor helpers shared by the torch-based methods."""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from .errors import ConfigError
from .params import device_problem


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; an explicit device this machine lacks is an error
    (``params.device_problem``)."""
    problem = device_problem(device)
    if problem:
        raise ConfigError(f"device={device!r} {problem}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextmanager
def torch_seed(seed: int) -> Iterator[None]:
    """Inside the block torch's global generators (CPU and every CUDA device) start from ``seed`` — what layer
    initialisation draws from; on exit the caller's generator states are restored, so a fit never moves them."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def to_tensor(a, device, dtype=torch.float32) -> torch.Tensor:
    """``a`` as a tensor, sharing memory where torch can (same dtype, CPU). Loaded datasets are read-only arrays;
    torch warns that a tensor on them could write into them, which no caller here does, so that warning is muted."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)


class single_thread:
    """Context: torch intra-op threads = 1, restored on exit. Small dense nets (the tabular MLPs) gain nothing from
    intra-op threads (``benchmarks/demo-timing.json``: the Adult MLP takes the same time on 1 and 2 threads on a quiet
    machine, with identical results), while threads that wait on each other slow down when the CPU is shared."""

    def __enter__(self):
        self.saved = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)
        return False
