"""Real batches per class (with their group ids) and the initial synthetic set.

``ClassSampler.draw(c, n, generator)`` returns row indices of class c:
- ``uniform`` [ref]: n rows drawn without replacement from the class (all of it when the class is smaller), so
  group shares follow the class's group ratios and small groups may be absent from a batch;
- ``stratified`` [project]: ``ceil(n / |A_c|)`` rows from every group present in the class, without replacement
  where the group is large enough, with replacement otherwise.
All randomness comes from the torch generator passed in, so a batch is a function of the generator state.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ...errors import check_choice

SAMPLERS = ("uniform", "stratified")


class ClassSampler:
    def __init__(self, y: np.ndarray, gid: np.ndarray, n_classes: int, mode: str = "uniform"):
        check_choice(mode, "sampler", SAMPLERS)
        self.mode = mode
        y, gid = np.asarray(y), np.asarray(gid)
        self.by_class = [torch.from_numpy(np.flatnonzero(y == c)) for c in range(n_classes)]
        self.by_group = [[torch.from_numpy(np.flatnonzero((y == c) & (gid == a))) for a in np.unique(gid[y == c])]
                         for c in range(n_classes)]

    def draw(self, c: int, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.mode == "uniform":
            idx = self.by_class[c]
            return idx[torch.randperm(len(idx), generator=generator)[:n]]
        groups = self.by_group[c]
        k = math.ceil(n / max(1, len(groups)))
        out = []
        for idx in groups:
            pick = (torch.randperm(len(idx), generator=generator)[:k] if len(idx) >= k
                    else torch.randint(len(idx), (k,), generator=generator))
            out.append(idx[pick])
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def initial_rows(y: np.ndarray, gid: np.ndarray, c: int, ipc: int, rng: np.random.Generator,
                 balanced: bool = False) -> np.ndarray:
    """``ipc`` distinct rows of class c: uniformly at random, or (``balanced``) round-robin over the class's groups
    in a random order within each group, so the groups are as even as their sizes allow."""
    rows = np.flatnonzero(np.asarray(y) == c)
    if not balanced:
        return rng.choice(rows, size=ipc, replace=False)
    per_group = [rng.permutation(rows[gid[rows] == a]) for a in np.unique(gid[rows])]
    depth = max(len(p) for p in per_group)
    order = [p[r] for r in range(depth) for p in per_group if r < len(p)]
    return np.asarray(order[:ipc], dtype=np.int64)
