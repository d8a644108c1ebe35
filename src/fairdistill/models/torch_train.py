"""One training loop for every torch downstream classifier.

Weighted empirical risk: with weights normalised to mean 1 over the training set, each minibatch minimises
mean_i w_i * CE(f(x_i), y_i), an unbiased estimate of sum_i w_i CE_i / sum_i w_i.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..progress import Progress


@dataclass
class TrainConfig:
    epochs: int = 300
    batch_size: int = 256
    optimizer: str = "sgd"  # "sgd" | "adam"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_decay_epoch: int | None = None  # at the start of this epoch: lr x 0.1 and a fresh optimiser (no momentum)
    patience: int | None = None  # early stopping on validation loss (needs validation data)
    desc: str = "train"
    progress: bool = True  # False for inner loops called many times (DC's network updates)


def train_classifier(net: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None,
                     cfg: TrainConfig, generator: torch.Generator, *,
                     augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                     valid: tuple[torch.Tensor, torch.Tensor] | None = None,
                     on_epoch: Callable[[int, torch.nn.Module], None] | None = None) -> dict:
    """Train ``net`` in place; return {"epochs_run", "best_epoch", "best_valid_loss"}.

    With ``cfg.patience`` and ``valid``, the weights of the epoch with the lowest validation loss are restored.
    Batches are drawn with ``generator`` (on CPU) so runs are reproducible.
    """
    n = len(X)
    w = torch.ones(n, device=X.device) if w is None else (w / w.mean()).to(X.device, torch.float32)
    params = [p for p in net.parameters() if p.requires_grad]

    def optimiser(lr: float) -> torch.optim.Optimizer:
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)

    opt = optimiser(cfg.lr)
    best = (float("inf"), -1, None)
    bad = 0
    epoch = 0
    prog = Progress(range(cfg.epochs), cfg.desc) if cfg.progress else None
    for epoch in prog if prog is not None else range(cfg.epochs):
        if cfg.lr_decay_epoch is not None and epoch == cfg.lr_decay_epoch:
            opt = optimiser(cfg.lr * 0.1)  # as the reference evaluation: a new optimiser, its momentum reset
        net.train()
        order = torch.randperm(n, generator=generator).to(X.device)
        total = 0.0
        for start in range(0, n, cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            xb = X[idx]
            if augment is not None:
                xb = augment(xb, generator)
            loss = (F.cross_entropy(net(xb), y[idx], reduction="none") * w[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        if prog is not None:
            prog.set(loss=total / n)
        if on_epoch is not None:
            on_epoch(epoch, net)
        if cfg.patience is not None and valid is not None:
            vloss = float(F.cross_entropy(predict_logits(net, valid[0]), valid[1]))
            if vloss < best[0] - 1e-7:
                best = (vloss, epoch, {k: v.detach().clone() for k, v in net.state_dict().items()})
                bad = 0
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
    if best[2] is not None:
        net.load_state_dict(best[2])
    return {"epochs_run": epoch + 1, "best_epoch": best[1], "best_valid_loss": best[0]}


@torch.no_grad()
def predict_logits(net: torch.nn.Module, X: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    net.eval()
    return torch.cat([net(X[i:i + batch_size]) for i in range(0, len(X), batch_size)]) if len(X) else \
        torch.zeros((0, 1))


def softmax_np(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.float(), dim=1).cpu().numpy()
