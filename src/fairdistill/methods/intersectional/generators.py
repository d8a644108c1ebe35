"""The three deterministic generators of hierarchical augmentation (no noise input).

One call combines p parent batches X_1..X_p (a tensor of shape p x B x d, one row-aligned batch per parent):
- ``simple``:       x = sum_i lambda_i X_i,   lambda in R^p, initialised to 1/p (the mean of the parents);
- ``intermediate``: x = w * sum_i X_i,        w in R^d, initialised N(0, 1) (elementwise product);
- ``complex``:      x = sum_i W X_i = W sum_i X_i, one shared bias-free linear map W in R^{d x d}
                    (torch's default Linear initialisation, as the reference uses ``nn.Linear(d, d, bias=False)``).
"""
from __future__ import annotations

import torch
from torch import nn

from ...errors import check_choice

VARIANTS = ("simple", "intermediate", "complex")


class SimpleGenerator(nn.Module):
    """Convex-at-init combination of the parents: sum_i lambda_i X_i."""

    def __init__(self, p: int, d: int, generator: torch.Generator | None = None):
        super().__init__()
        self.lam = nn.Parameter(torch.full((p,), 1.0 / p))

    def forward(self, parents: torch.Tensor) -> torch.Tensor:
        return torch.einsum("p,pbd->bd", self.lam, parents)


class IntermediateGenerator(nn.Module):
    """Per-feature scaling of the parents' sum: w * sum_i X_i."""

    def __init__(self, p: int, d: int, generator: torch.Generator | None = None):
        super().__init__()
        self.w = nn.Parameter(torch.randn(d, generator=generator))

    def forward(self, parents: torch.Tensor) -> torch.Tensor:
        return self.w * parents.sum(0)


class ComplexGenerator(nn.Module):
    """One shared linear map applied to each parent and summed: W sum_i X_i."""

    def __init__(self, p: int, d: int, generator: torch.Generator | None = None):
        super().__init__()
        self.lin = nn.Linear(d, d, bias=False)
        bound = 1.0 / d ** 0.5  # kaiming_uniform(a=sqrt(5)) of nn.Linear, drawn from ``generator`` for determinism
        with torch.no_grad():
            self.lin.weight.copy_(torch.rand(d, d, generator=generator) * 2 * bound - bound)

    def forward(self, parents: torch.Tensor) -> torch.Tensor:
        return self.lin(parents.sum(0))


_CLASSES = {"simple": SimpleGenerator, "intermediate": IntermediateGenerator, "complex": ComplexGenerator}


def make_generator(variant: str, p: int, d: int, generator: torch.Generator | None = None) -> nn.Module:
    """A generator of the named variant for p parents and d features."""
    check_choice(variant, "variant", VARIANTS)
    return _CLASSES[variant](p, d, generator)
