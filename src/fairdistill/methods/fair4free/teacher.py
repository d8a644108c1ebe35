"""Fair4Free's teacher: a FairDisCo-style VAE for mixed tabular rows (METHODS.md §7).

encoder: [x, onehot(s)] -> Linear(., h) -> ReLU -> Linear(h, 2 z_dim) = [mu | log sigma^2];  z = mu + sigma * eps
decoder: [z, onehot(s)] -> Linear(., h) -> ReLU -> Linear(h, dim x): logits of every one-hot block, the mean of every
numeric column.
Optional y head (``y_classes > 0``, Fair4Free's ``y_mode="head"`` [project]): the encoder reads [x, onehot(y),
onehot(s)] and z -> Linear(z_dim, h) -> ReLU -> Linear(h, K) gives logits of y from z alone (never s), adding
CE(y_head(z), y) to RE: z must then carry the label, and y of a generated row depends on s only through z.
loss = RE + w_KL * KL + beta * V^2 (w_KL = 1: the paper's ELBO; w_KL < 1: a beta-VAE), with
RE = sum over columns of CE(block logits, one-hot target)  [categorical]  or  1/2 (x - x_hat)^2  [numeric, standardised;
     a unit-variance Gaussian up to a constant], averaged over the batch;
KL = mean_batch(-1/2 sum_d (1 + log sigma^2 - mu^2 - sigma^2)).
The penalty is skipped when beta <= 1 (FairDisCo's rule), so lg_beta <= 0 trains a plain conditional VAE.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import DataError
from ...models.torch_train import TrainConfig, train_classifier
from .penalty import independence_penalty

CATEGORICAL, NUMERIC = "categorical", "numeric"


@dataclass(frozen=True)
class Block:
    """One original column inside the encoded row: ``kind`` is "categorical" (one-hot) or "numeric" (1 value)."""

    name: str
    kind: str
    start: int
    stop: int

    @property
    def width(self) -> int:
        return self.stop - self.start


def layout_from_encoder(encoder, n_features: int) -> list[Block]:
    """Blocks from a dataset encoder's ``.blocks`` = [(column, kind, slice, categories)], checked against X."""
    out = []
    for entry in encoder.blocks:
        name, kind, sl = entry[0], entry[1], entry[2]
        if kind not in (CATEGORICAL, NUMERIC):
            raise DataError(f"column {name!r} has encoder kind {kind!r} which Fair4Free cannot model; encode it as "
                            f"'categorical' (one-hot) or 'numeric' (standardised)")
        start, stop = sl.start or 0, sl.stop
        if kind == NUMERIC and stop - start != 1:
            raise DataError(f"numeric column {name!r} spans {stop - start} features; a numeric block must be 1 wide")
        out.append(Block(str(name), kind, int(start), int(stop)))
    covered = sorted((b.start, b.stop) for b in out)
    pos = 0
    for a, b in covered:
        if a != pos:
            break
        pos = b
    if pos != n_features:
        raise DataError(f"the encoder's blocks cover features 0..{pos} but X has {n_features} columns; pass the "
                        f"encoder that produced X (meta['encoder'])")
    return out


def numeric_layout(n_features: int) -> list[Block]:
    """Every feature an independent numeric column (data without an encoder)."""
    return [Block(f"x{j}", NUMERIC, j, j + 1) for j in range(n_features)]


class TabularVAE(nn.Module):
    """Conditional VAE with per-column heads (categorical: softmax over the block; numeric: Gaussian mean)."""

    def __init__(self, layout: Sequence[Block], s_dim: int, z_dim: int = 8, hidden: int = 64, y_classes: int = 0):
        super().__init__()
        self.layout = list(layout)
        self.x_dim = max(b.stop for b in self.layout)
        self.s_dim, self.z_dim, self.y_classes = s_dim, z_dim, y_classes
        # y_classes > 0 (y_mode="head"): the encoder also reads onehot(y) and a head z -> logits(y) that never sees s
        self.encoder = nn.Sequential(nn.Linear(self.x_dim + y_classes + s_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * z_dim))
        self.y_head = (nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, y_classes))
                       if y_classes else None)
        self.decoder = nn.Sequential(nn.Linear(z_dim + s_dim, hidden), nn.ReLU(), nn.Linear(hidden, self.x_dim))
        cat = [b for b in self.layout if b.kind == CATEGORICAL]
        self._num_idx = [b.start for b in self.layout if b.kind == NUMERIC]
        # categorical blocks grouped by width so the loss is one log_softmax per width, not per column
        by_width: dict[int, list[int]] = {}
        for b in cat:
            by_width.setdefault(b.width, []).append(b.start)
        self._cat_groups = [(w, torch.tensor(starts)) for w, starts in sorted(by_width.items())]

    def encode(self, x: torch.Tensor, s1h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(torch.cat([x, s1h], 1))
        return h[:, :self.z_dim], h[:, self.z_dim:]

    def decode(self, z: torch.Tensor, s1h: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, s1h], 1))

    def _gather(self, t: torch.Tensor, width: int, starts: torch.Tensor) -> torch.Tensor:
        idx = (starts.to(t.device)[:, None] + torch.arange(width, device=t.device)[None, :]).reshape(-1)
        return t[:, idx].reshape(t.shape[0], len(starts), width)

    def reconstruction(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """RE per row, summed over columns: soft cross-entropy -sum_k x_k log softmax_k per one-hot block (an
        all-zero block, i.e. an unseen category, costs 0) and 1/2 (x - x_hat)^2 per numeric column."""
        re = torch.zeros(x.shape[0], device=x.device, dtype=out.dtype)
        for width, starts in self._cat_groups:
            logp = F.log_softmax(self._gather(out, width, starts), dim=-1)
            re = re - (self._gather(x, width, starts) * logp).sum((1, 2))
        if self._num_idx:
            re = re + 0.5 * ((out[:, self._num_idx] - x[:, self._num_idx]) ** 2).sum(1)
        return re

    def to_rows(self, out: torch.Tensor, decode: str = "argmax", generator: torch.Generator | None = None,
                numeric_sd: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output -> encoded rows: each one-hot block set by argmax (``"sample"``: a draw from its softmax);
        numeric columns = decoder mean (``"sample"``: + N(0, numeric_sd^2), the training residual spread)."""
        rows = torch.zeros_like(out)
        for width, starts in self._cat_groups:
            logits = self._gather(out, width, starts)
            if decode == "sample":
                probs = F.softmax(logits, -1).reshape(-1, width)
                code = torch.multinomial(probs, 1, generator=generator).reshape(logits.shape[:2])
            else:
                code = logits.argmax(-1)
            cols = starts.to(out.device)[None, :] + code
            rows.scatter_(1, cols, 1.0)
        if self._num_idx:
            mean = out[:, self._num_idx]
            if decode == "sample" and numeric_sd is not None:
                mean = mean + numeric_sd * torch.randn(mean.shape, generator=generator, device=mean.device)
            rows[:, self._num_idx] = mean
        return rows


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """mean_batch KL(N(mu, sigma^2) || N(0, I)) = mean_batch -1/2 sum_d (1 + log sigma^2 - mu^2 - sigma^2)."""
    return (-0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)).mean()


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + eps * (0.5 * logvar).exp()


def teacher_epoch(vae: TabularVAE, opt: torch.optim.Optimizer, X: torch.Tensor, S1h: torch.Tensor, G: torch.Tensor,
                  *, batch_size: int, beta: float, penalty: str, generator: torch.Generator,
                  penalty_rows: int | None = None, kl_weight: float = 1.0,
                  Y: torch.Tensor | None = None) -> dict[str, float]:
    """One pass over the rows in a random order; returns the row-averaged RE, KL, V^2 and total loss.

    loss = RE + kl_weight * KL + beta * V^2 (kl_weight 1 = the paper's ELBO; < 1 = a beta-VAE that keeps more
    information in z). With a y head (``vae.y_classes``), X ends with onehot(y), ``Y`` holds the labels and RE gains
    CE(y_head(z), y). The penalty is estimated on the first ``penalty_rows`` rows of each (randomly ordered) batch (all
    when None): an unbiased sub-sample of the batch, O(penalty_rows^2) instead of O(batch_size^2).
    """
    rows = batch_size if not penalty_rows else min(penalty_rows, batch_size)
    n = X.shape[0]
    perm = torch.randperm(n, generator=generator).to(X.device)
    tot = {"loss": 0.0, "re": 0.0, "kl": 0.0, "v2": 0.0}
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        x, s1h, g = X[idx], S1h[idx], G[idx]
        mu, logvar = vae.encode(x, s1h)
        z = reparameterise(mu, logvar, generator)
        re = vae.reconstruction(vae.decode(z, s1h), x).mean()
        if vae.y_head is not None:
            re = re + F.cross_entropy(vae.y_head(z), Y[idx])
        kl = kl_standard_normal(mu, logvar)
        loss = re + kl_weight * kl
        v2 = torch.zeros(())
        if beta > 1:
            r = min(rows, len(idx))
            v2 = independence_penalty(penalty, mu=mu[:r], logvar=logvar[:r], groups=g[:r],
                                      n_groups=vae.s_dim, batch_size=min(rows, batch_size))
            loss = loss + beta * v2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        b = len(idx)
        for key, val in (("loss", loss), ("re", re), ("kl", kl), ("v2", v2)):
            tot[key] += float(val.detach()) * b
    return {k: v / n for k, v in tot.items()}


@torch.no_grad()
def encode_all(vae: TabularVAE, X: torch.Tensor, S1h: torch.Tensor, chunk: int = 8192):
    """Posterior means and log-variances of every row."""
    vae.eval()
    parts = [vae.encode(X[i:i + chunk], S1h[i:i + chunk]) for i in range(0, X.shape[0], chunk)]
    vae.train()
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def numeric_residual_sd(vae: TabularVAE, X: torch.Tensor, S1h: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """Per numeric column, the RMS of x - decoder(mu, s) on the training rows (the spread used by decode="sample")."""
    if not vae._num_idx:
        return torch.zeros(0)
    out = vae.decode(mu, S1h)[:, vae._num_idx]
    return ((out - X[:, vae._num_idx]) ** 2).mean(0).sqrt()


def fit_latent_classifier(z_mu: torch.Tensor, z_logvar: torch.Tensor, y: torch.Tensor, n_classes: int, *,
                          epochs: int, generator: torch.Generator, hidden: int = 64,
                          lr: float = 1e-2, batch_size: int = 1024) -> nn.Module:
    """Small MLP z -> p(y | z) trained on fresh posterior samples z ~ q(z | x, s) of the real rows (y_mode="latent").

    The shared training loop sees rows [mu | log sigma^2] and draws z = mu + sigma * eps per batch (its augment hook).
    """
    d = z_mu.shape[1]
    clf = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)).to(z_mu.device)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adam", lr=lr, desc="latent classifier")
    train_classifier(clf, torch.cat([z_mu, z_logvar], dim=1), y, None, cfg, generator,
                     augment=lambda zz, g: reparameterise(zz[:, :d], zz[:, d:], g))
    clf.eval()
    return clf

