"""Independence penalties between a latent code z and the sensitive group s (Fair4Free teacher, METHODS.md §7).

``v2_analytic`` — FairDisCo's batch estimator of V^2 = ∫∫ |p(z, s) - p(z) p(s)|^2 dz ds with the Gaussian posteriors
q_i = N(mu_i, diag sigma_i^2)::

    k(i, j)   = exp(-1/2 sum_d (mu_id - mu_jd)^2 / (sigma_id^2 + sigma_jd^2)) / (sqrt(prod_d 2 pi (sigma_id^2 + sigma_jd^2)) + 1e-10)
    dis(I, J) = mean_{i in I, j in J} k(i, j)
    V^2       = sum_s (n_s / n)^2 [dis(all, all) + dis(I_s, I_s) - 2 dis(I_s, all)] * (n / batch_size)

(groups with n_s in {0, n} contribute 0). The kernel matrix is built once; the three dis() terms are block means of it.

``dcor2`` — empirical squared distance correlation (Székely, Rizzo & Bakirov 2007) between the rows of z and of
onehot(s) (the teacher applies it to the posterior means mu [project]: applied to samples z = mu + sigma eps it is
lowered by inflating sigma while mu keeps s — measured on a toy set, the AUC of s from mu rose from 0.65 to 0.92): A, B = double-centred Euclidean distance matrices, dCov^2 = mean(A * B),
dCor^2 = dCov^2 / sqrt(dVar^2(z) dVar^2(s)) in [0, 1] (0 when either variance is 0). Scale-free.

``kernel_v2`` [project] — the V^2 formula with the posterior kernel replaced by a sum of Gaussian kernels on the
posterior means, k(i, j) = sum_b exp(-||mu_i - mu_j||^2 / (2 h_b^2)), bandwidths h_b = median pairwise distance x
{1/4, 1/2, 1, 2, 4} (detached): sum_s (n_s / n)^2 MMD_b^2(mu of group s, mu of the batch), i.e. HSIC(mu, onehot(s))
with the delta kernel on s. Scale-free like dcor; its local kernels target the non-linear dependence that dcor leaves
[measured, Adult-sex seed 0: a random forest predicts s from dcor-penalised means (dcor^2 0.003) with AUC 0.76, from
kernel_v2-penalised ones at lg_beta 2.5 with AUC 0.60 -- but then z also loses y: downstream BAcc 0.54].
"""
from __future__ import annotations

import math

import torch

from ...errors import ConfigError, check_choice
from ...nn.mmd import gaussian_kernel_sum, median_bandwidths

PENALTIES = ("analytic", "dcor", "mmd")


def posterior_kernel(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """B x B matrix k(i, j) = N(mu_i - mu_j; 0, diag(sigma_i^2 + sigma_j^2)) with FairDisCo's + 1e-10."""
    var = logvar.exp()
    quad = log_norm = 0
    for d in range(mu.shape[1]):  # one B x B matrix per dimension: 2-3x faster than a B x B x d tensor on CPU
        v = var[:, d, None] + var[None, :, d]
        quad = quad + (mu[:, d, None] - mu[None, :, d]) ** 2 / v
        log_norm = log_norm + torch.log(2 * math.pi * v)
    # sqrt(prod_d 2 pi v_d) computed through logs (same value, no under/overflow of the product)
    return torch.exp(-0.5 * quad) / (torch.exp(0.5 * log_norm) + 1e-10)


def group_discrepancy(k: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """sum_s (n_s / n)^2 [mean k + mean k[I_s, I_s] - 2 mean k[I_s, :]] for a B x B kernel matrix ``k`` (groups with
    n_s in {0, n} contribute 0): the squared distance between each group's kernel mean embedding and the batch's."""
    n = k.shape[0]
    onehot = torch.nn.functional.one_hot(groups, n_groups).to(k.dtype)  # B x G
    counts = onehot.sum(0)
    row_sums = k.sum(1)  # sum_j k(i, j)
    d_all = row_sums.sum() / (n * n)
    # per group: sum_{i,j in I_s} k and sum_{i in I_s, j} k
    within = ((onehot.T @ k) * onehot.T).sum(1)
    across = onehot.T @ row_sums
    active = (counts > 0) & (counts < n)
    safe = counts.clamp(min=1)
    cur = d_all + within / safe ** 2 - 2 * across / (safe * n)
    return ((counts / n) ** 2 * cur * active).sum()


def v2_analytic(mu: torch.Tensor, logvar: torch.Tensor, groups: torch.Tensor, n_groups: int,
                batch_size: int | None = None) -> torch.Tensor:
    """FairDisCo's V^2 estimate for a batch (``groups``: group id per row in 0..n_groups-1)."""
    n = mu.shape[0]
    batch_size = n if batch_size is None else batch_size
    return group_discrepancy(posterior_kernel(mu, logvar), groups, n_groups) * (n / batch_size)


def kernel_v2(mu: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """V^2 with median-heuristic Gaussian kernels on the posterior means (see the module docstring)."""
    sigmas = median_bandwidths(mu, mu[:0], max_rows=mu.shape[0])
    return group_discrepancy(gaussian_kernel_sum(mu, mu, sigmas), groups, n_groups)


def _double_centred_distances(a: torch.Tensor) -> torch.Tensor:
    """A_ij = d_ij - mean_i d_ij - mean_j d_ij + mean d, d_ij = ||a_i - a_j|| computed from the differences (the
    |a|^2 + |b|^2 - 2ab expansion torch uses beyond 25 rows loses the small distances of latents far from 0)."""
    d = torch.cdist(a, a, compute_mode="donot_use_mm_for_euclid_dist")
    return d - d.mean(0, keepdim=True) - d.mean(1, keepdim=True) + d.mean()


def dcor2(z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Empirical squared distance correlation between the rows of ``z`` (B x d) and ``s`` (B x p, e.g. one-hot)."""
    if z.shape[0] != s.shape[0]:
        raise ConfigError(f"dcor2 needs the same number of rows; got {z.shape[0]} and {s.shape[0]}")
    a = _double_centred_distances(z)
    b = _double_centred_distances(s.to(z.dtype))
    dcov = (a * b).mean()
    dvar = (a * a).mean() * (b * b).mean()
    if dvar.item() <= 0:
        return torch.zeros((), dtype=z.dtype, device=z.device)
    return dcov.clamp(min=0) / dvar.sqrt()


def independence_penalty(kind: str, *, mu: torch.Tensor, logvar: torch.Tensor,
                         groups: torch.Tensor, n_groups: int, batch_size: int) -> torch.Tensor:
    """The teacher's penalty: ``"analytic"`` (V^2 on the posteriors), ``"dcor"`` or ``"mmd"`` (on the means)."""
    check_choice(kind, "penalty", PENALTIES)
    if kind == "analytic":
        return v2_analytic(mu, logvar, groups, n_groups, batch_size)
    if kind == "dcor":  # on the posterior means: on samples z the encoder can game it by inflating sigma
        return dcor2(mu, torch.nn.functional.one_hot(groups, n_groups))
    return kernel_v2(mu, groups, n_groups)  # "mmd": on the posterior means, for the same reason
