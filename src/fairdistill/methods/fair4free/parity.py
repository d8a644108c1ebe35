"""Per-group label repair of generated rows (Fair4Free's ``y_parity`` option [project]).

Given label logits l_i (one row per generated sample) and the group g_i of each row, find one offset vector b_g per
group such that every group's mean predicted label distribution equals a target distribution pi:

    mean_{i in g} softmax(l_i + b_g) = pi        for every group g,

i.e. the synthetic labels satisfy demographic parity by construction while keeping, inside each group, the ranking of
rows by p(y | z, s) (a per-group prior shift: the row's odds are multiplied by a group constant, as in the prior
adjustment of Saerens, Latinne & Decaestecker 2002). b_g minimises the convex
f(b) = mean_{i in g} logsumexp(l_i + b) - pi . b  (gradient mean p - pi, Hessian mean(diag p - p p^T)),
solved by damped Newton steps in float64 with b_g[0] = 0 fixed (softmax is invariant to a common shift).
"""
from __future__ import annotations

import torch

from ...errors import ConfigError


def _group_offset(logits: torch.Tensor, target: torch.Tensor, iters: int, tol: float) -> torch.Tensor:
    """argmin_b mean logsumexp(logits + b) - target . b with b[0] = 0 (damped Newton, float64)."""
    k = logits.shape[1]
    b = torch.zeros(k, dtype=torch.float64, device=logits.device)

    def f(v):
        return torch.logsumexp(logits + v, 1).mean() - target @ v

    for _ in range(iters):
        p = torch.softmax(logits + b, 1)
        grad = p.mean(0) - target
        if float(grad.abs().max()) < tol:
            break
        hess = torch.diag(p.mean(0)) - p.T @ p / len(p)
        step = torch.zeros_like(b)
        step[1:] = torch.linalg.solve(hess[1:, 1:] + 1e-12 * torch.eye(k - 1, dtype=b.dtype, device=b.device),
                                      grad[1:])
        t, f0 = 1.0, f(b)
        while t > 1e-8 and f(b - t * step) > f0 - 0.25 * t * (grad @ step):  # backtracking (Armijo)
            t /= 2
        b = b - t * step
    return b


def parity_offsets(logits: torch.Tensor, groups: torch.Tensor, n_groups: int, target: torch.Tensor, *,
                   iters: int = 100, tol: float = 1e-7) -> torch.Tensor:
    """n_groups x K offsets b with mean_{i in g} softmax(logits_i + b_g) = target for every non-empty group g
    (rows of empty groups stay 0), in the dtype of ``logits``. ``target``: K positive frequencies summing to 1."""
    k = logits.shape[1]
    target = torch.as_tensor(target, dtype=torch.float64, device=logits.device)
    if target.shape != (k,) or bool((target <= 0).any()) or abs(float(target.sum()) - 1) > 1e-6:
        raise ConfigError(f"parity target must be {k} positive frequencies summing to 1; got {target.tolist()}")
    b = torch.zeros((n_groups, k), dtype=torch.float64, device=logits.device)
    for g in range(n_groups):
        rows = logits[groups == g].double()
        if len(rows):
            b[g] = _group_offset(rows, target, iters, tol)
    return b.to(logits.dtype)
