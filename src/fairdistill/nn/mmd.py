"""Maximum mean discrepancy with a sum of Gaussian kernels (torch, differentiable).

k(x, y) = sum_{sigma in S} exp(-||x - y||^2 / (2 sigma^2)).
Biased (V-statistic):   MMD2_b = mean K_xx + mean K_yy - 2 mean K_xy            (diagonals included)
Unbiased (U-statistic): MMD2_u = sum_{i!=i'} K_xx/(m(m-1)) + sum_{j!=j'} K_yy/(n(n-1)) - 2 mean K_xy
Weighted:               MMD2_w = a^T K_xx a + b^T K_yy b - 2 a^T K_xy b             (a, b normalised weights)
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..errors import ConfigError, check_choice

DEFAULT_SIGMAS = (1.0, 10.0, 20.0, 30.0, 40.0, 50.0)
ESTIMATORS = ("biased", "unbiased", "weighted")
MEDIAN_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def median_bandwidths(x: torch.Tensor, y: torch.Tensor, factors: Sequence[float] = MEDIAN_FACTORS,
                      max_rows: int = 2048) -> tuple[float, ...]:
    """Median pairwise distance of the pooled sample (first ``max_rows`` rows of each) times ``factors``."""
    z = torch.cat([x[:max_rows], y[:max_rows]]).detach()
    d = torch.cdist(z, z)
    med = d[torch.triu(torch.ones_like(d, dtype=torch.bool), diagonal=1)].median().item()
    med = med if med > 0 else 1.0
    return tuple(med * f for f in factors)


def gaussian_kernel_sum(x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    d2 = torch.cdist(x, y).pow(2)
    return sum(torch.exp(-d2 / (2.0 * s * s)) for s in sigmas)


def mmd2(x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float] | str = DEFAULT_SIGMAS, *,
         estimator: str = "biased", weights_x: torch.Tensor | None = None,
         weights_y: torch.Tensor | None = None) -> torch.Tensor:
    """MMD^2 between the rows of ``x`` (m x d) and ``y`` (n x d). ``sigmas="median"`` uses the median heuristic.

    ``estimator``: "biased" (V-statistic), "unbiased" (U-statistic; needs m, n >= 2) or "weighted" (uses
    ``weights_x``/``weights_y``, normalised to sum 1; uniform when omitted).
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ConfigError(f"mmd2 needs two 2-D arrays with the same number of columns; got {tuple(x.shape)} and "
                          f"{tuple(y.shape)}")
    check_choice(estimator, "estimator", ESTIMATORS)
    if isinstance(sigmas, str):
        if sigmas != "median":
            raise ConfigError(f"bandwidth {sigmas!r} is unknown; use 'median' or a list of sigmas")
        sigmas = median_bandwidths(x, y)
    kxx, kyy, kxy = (gaussian_kernel_sum(a, b, sigmas) for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    if estimator == "biased":
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    if estimator == "unbiased":
        if m < 2 or n < 2:
            raise ConfigError("the unbiased MMD needs at least 2 rows in each set")
        return ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
                - 2 * kxy.mean())
    a = torch.full((m,), 1.0 / m, dtype=x.dtype, device=x.device) if weights_x is None else weights_x / weights_x.sum()
    b = torch.full((n,), 1.0 / n, dtype=y.dtype, device=y.device) if weights_y is None else weights_y / weights_y.sum()
    return a @ kxx @ a + b @ kyy @ b - 2 * a @ kxy @ b
