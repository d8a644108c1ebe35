"""Pseudo-groups for FairDD when the protected attribute is unknown (METHODS.md §4, ``groups="cluster"``).

``kmeans(x, k, generator)`` clusters the N x D rows of ``x`` (a real batch's embeddings) into k groups:
k-means++ seeding (the first centre uniform, each next one drawn with probability proportional to ``D(x)^2``, the
squared distance to the nearest centre chosen so far), then at most ``steps`` Lloyd iterations (assign each row to its
nearest centre, ties to the lower index; move each centre to the mean of its rows; a centre left without rows stays
where it is), stopping early once the assignment no longer changes; ``restarts`` such runs, keeping the one with the
lowest inertia ``sum_i ||x_i - c_{label_i}||^2`` (the first on ties): one seeding that puts two centres in the same
group is then rarely the answer. Every draw comes from the CPU generator passed in, so the labels are a function of
(x, k, generator state). Clusters may end up empty; FairDD skips them like absent groups.
"""
from __future__ import annotations

import torch

from ...errors import ConfigError

LLOYD_STEPS = 10
RESTARTS = 4


def _sq_dist(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """N x K squared Euclidean distances, computed from differences (no cancellation in |x|^2 + |c|^2 - 2xc)."""
    return torch.cdist(x, c, compute_mode="donot_use_mm_for_euclid_dist").pow(2)


def kmeans_pp(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k initial centres (k x D) by D^2 sampling from the rows of ``x``."""
    n = len(x)
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [x[first]]
    d2 = _sq_dist(x, x[first:first + 1])[:, 0]
    for _ in range(1, k):
        w = d2.detach().double().cpu()
        if float(w.sum()) > 0:
            i = int(torch.multinomial(w, 1, generator=generator))
        else:  # every row coincides with a chosen centre: any row will do
            i = int(torch.randint(n, (1,), generator=generator))
        centres.append(x[i])
        d2 = torch.minimum(d2, _sq_dist(x, x[i:i + 1])[:, 0])
    return torch.stack(centres)


def lloyd(x: torch.Tensor, centres: torch.Tensor, steps: int) -> tuple[torch.Tensor, float]:
    """Labels after at most ``steps`` Lloyd iterations from ``centres``, and their inertia."""
    k = len(centres)
    labels = _sq_dist(x, centres).argmin(1)
    for _ in range(steps):
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None].to(x.dtype), centres)
        new = _sq_dist(x, centres).argmin(1)
        if torch.equal(new, labels):
            break
        labels = new
    counts = torch.bincount(labels, minlength=k)
    means = torch.zeros_like(centres).index_add_(0, labels, x) / counts.clamp(min=1)[:, None].to(x.dtype)
    return labels, float((x - means[labels]).pow(2).sum())


def kmeans(x: torch.Tensor, k: int, generator: torch.Generator, steps: int = LLOYD_STEPS,
           restarts: int = RESTARTS) -> torch.Tensor:
    """Cluster labels (int64, values in 0..k-1) of the rows of ``x``; see the module docstring."""
    if x.ndim != 2:
        raise ConfigError(f"kmeans needs an N x D array; got shape {tuple(x.shape)}")
    n = len(x)
    if not 1 <= k <= n:
        raise ConfigError(f"n_clusters={k} must be in 1..{n} (the rows to cluster); lower n_clusters or raise "
                          f"batch_real")
    x = x.detach().float()
    best, best_inertia = None, float("inf")
    for _ in range(max(1, restarts)):
        labels, inertia = lloyd(x, kmeans_pp(x, k, generator), steps)
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best
