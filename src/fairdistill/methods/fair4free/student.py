"""Fair4Free's data-free student: Gaussian noise -> latent code (METHODS.md §7, paper Alg. 2 and Table 4).

student: n ~ N(0, I_noise) -> Linear(noise, h) -> ReLU -> Linear(h, 2 z_dim) = [mu' | log sigma'^2];  z' = mu' + sigma' eps
loss per batch = Dist(z, z') + kl_weight * mean_batch KL(N(mu', sigma'^2) || N(0, I)),
where z ~ q(z | x_i, s_i) are fresh teacher samples of a batch of training rows and z' uses fresh noise per row.

Dist:
- ``"paper"``: mean_batch sum_d |z - z'| (L1 on the arbitrary row pairing). Row i's noise is independent of (x_i, s_i),
  so the minimiser is a constant mu' at the coordinate-wise median of the teacher latents: the student collapses.
- ``"mmd"``: biased MMD^2 between the sets {z_i} and {z'_i}, sum of Gaussian kernels with bandwidths = median pairwise
  distance x {1/4, 1/2, 1, 2, 4} (``fairdistill.nn.mmd``; the median is taken over 256 rows of each set); order-free.
- ``"swd"``: sliced Wasserstein, p = 1: project both sets on ``n_proj`` random unit directions, sort, mean |difference|.
"""
from __future__ import annotations

import torch
from torch import nn

from ...errors import ConfigError, check_choice
from ...nn.mmd import median_bandwidths, mmd2
from .teacher import kl_standard_normal, reparameterise

LOSSES = ("paper", "mmd", "swd")


class Student(nn.Module):
    """noise_dim -> hidden -> 2 z_dim (paper Table 4: 64 -> 32 -> 2 x 8); ReLU between [project: unstated]."""

    def __init__(self, z_dim: int = 8, noise_dim: int = 64, hidden: int = 32):
        super().__init__()
        self.z_dim, self.noise_dim = z_dim, noise_dim
        self.net = nn.Sequential(nn.Linear(noise_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * z_dim))

    def forward(self, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(noise)
        return h[:, :self.z_dim], h[:, self.z_dim:]

    def noise(self, n: int, generator: torch.Generator | None, device=None) -> torch.Tensor:
        return torch.randn((n, self.noise_dim), generator=generator, device=device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None, chunk: int = 65536) -> torch.Tensor:
        """n latent codes z' = mu' + sigma' eps (randomness drawn on the CPU ``generator``, then moved)."""
        dev = next(self.parameters()).device
        out = []
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            mu, logvar = self(self.noise(m, generator).to(dev))
            eps = torch.randn(mu.shape, generator=generator).to(dev)
            out.append(mu + eps * (0.5 * logvar).exp())
        return torch.cat(out) if out else torch.zeros((0, self.z_dim), device=dev)


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_proj: int = 128, p: int = 1,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Sliced W_p^p between equal-size sets: mean over random unit directions of mean |sort(x.u) - sort(y.u)|^p."""
    if x.shape != y.shape:
        raise ConfigError(f"sliced_wasserstein needs equal-size sets; got {tuple(x.shape)} and {tuple(y.shape)}")
    u = torch.randn((x.shape[1], n_proj), generator=generator, device=x.device, dtype=x.dtype)
    u = u / u.norm(dim=0, keepdim=True)
    diff = (torch.sort(x @ u, dim=0).values - torch.sort(y @ u, dim=0).values).abs()
    return diff.pow(p).mean()


def distillation_distance(kind: str, z: torch.Tensor, z_student: torch.Tensor,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Dist(z, z') for ``kind`` in LOSSES (see the module docstring)."""
    check_choice(kind, "student_loss", LOSSES)
    if kind == "paper":
        return (z - z_student).abs().sum(1).mean()
    if kind == "mmd":  # median heuristic on 256 rows of each set: same bandwidths, O(256^2) instead of O(B^2)
        return mmd2(z, z_student, sigmas=median_bandwidths(z, z_student, max_rows=256))
    return sliced_wasserstein(z, z_student, generator=generator)  # "swd"


def student_epoch(student: Student, opt: torch.optim.Optimizer, mu_t: torch.Tensor, logvar_t: torch.Tensor, *,
                  batch_size: int, loss: str, kl_weight: float, generator: torch.Generator) -> dict[str, float]:
    """One pass over the teacher posteriors (mu_t, logvar_t of the training rows) in random batches."""
    n = mu_t.shape[0]
    perm = torch.randperm(n, generator=generator).to(mu_t.device)
    tot = {"loss": 0.0, "dist": 0.0, "kl": 0.0}
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        b = len(idx)
        z = reparameterise(mu_t[idx], logvar_t[idx], generator)
        mu_s, logvar_s = student(student.noise(b, generator, mu_t.device))
        z_s = reparameterise(mu_s, logvar_s, generator)
        dist = distillation_distance(loss, z, z_s, generator)
        kl = kl_standard_normal(mu_s, logvar_s)
        total = dist + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        for key, val in (("loss", total), ("dist", dist), ("kl", kl)):
            tot[key] += float(val.detach()) * b
    return {k: v / n for k, v in tot.items()}
