"""MMD training of the label-wise generators, and model selection.

For label k and group g, with P_i ~ D_{g\\i | Y=k} (i = 1..p), T ~ D_{g | Y=k} and G = f_k(P_1..P_p):
    L_{g,k} = MMD^2_b(T, G) + sum_i MMD^2_b(Q_i, G)
where MMD^2_b is the biased (V-statistic) estimate with a sum of Gaussian kernels and Q_i = P_i (reference: the
generator's input batch doubles as the parent target) or a fresh draw from the same parent cell
(``fresh_parent_targets=True``). ``parent_grad=True`` (the paper's loss) lets gradients flow through every term;
``parent_grad=False`` detaches the parent terms, reproducing the reference code (its ``torch.tensor([...])`` sum),
so only the target term trains f_k. An empty target cell drops the target term [project]; with ``parent_grad=False``
that step then has no gradient and is skipped.

Schedule (reference): ``rounds`` x ``steps``; each step draws a group uniformly and takes one Adam step per label.
After every round the generators are scored and the best round per label is kept:
- ``selection="discriminator"``: for each group, ``select_rows`` real + ``select_rows`` generated rows; an sklearn MLP
  (hidden (50, 20), Adam lr 0.01, 67/33 split) separates them; the score is the mean over groups of
  |balanced accuracy - 0.5| (0 = indistinguishable);
- ``selection="mmd"``: mean over groups of the unbiased MMD^2 between fresh real and fresh generated rows.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ...errors import check_choice
from ...nn.mmd import DEFAULT_SIGMAS, median_bandwidths, mmd2
from ...progress import Progress, log
from ...seeding import random_state
from .generators import make_generator
from .hierarchy import GroupHierarchy


BANDWIDTHS = ("reference", "median")
SELECTIONS = ("discriminator", "mmd")


@dataclass
class GeneratorConfig:
    rounds: int = 20
    steps: int = 50
    batch: int = 128
    lr: float = 0.1
    bandwidth: str = "reference"  # "reference" (sigmas 1, 10, ..., 50) | "median"
    parent_grad: bool = True
    fresh_parent_targets: bool = False
    selection: str = "discriminator"  # "discriminator" | "mmd"
    select_rows: int = 512


def resolve_sigmas(bandwidth: str, X: torch.Tensor, rng: np.random.Generator) -> tuple[float, ...]:
    """Kernel bandwidths: the reference set, or the median heuristic on (up to 2048) training rows, fixed once."""
    check_choice(bandwidth, "bandwidth", BANDWIDTHS)
    if bandwidth == "reference":
        return DEFAULT_SIGMAS
    idx = torch.as_tensor(rng.choice(len(X), size=min(len(X), 2048), replace=False), device=X.device)
    half = len(idx) // 2
    return median_bandwidths(X[idx[:half]], X[idx[half:]])


def draw(X: torch.Tensor, idx: np.ndarray, n: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` rows of ``X[idx]`` drawn with replacement."""
    pick = idx[rng.integers(0, len(idx), size=n)]
    return X[torch.as_tensor(pick, device=X.device)]


def draw_parents(hier: GroupHierarchy, X: torch.Tensor, group, label: int, n: int,
                 rng: np.random.Generator) -> torch.Tensor:
    """p x n x d: ``n`` rows from each parent cell of (group, label)."""
    return torch.stack([draw(X, idx, n, rng) for _, idx in hier.parents(group, label)])


def hierarchical_loss(G: torch.Tensor, T: torch.Tensor | None, parent_targets: Sequence[torch.Tensor],
                      sigmas, parent_grad: bool = True) -> tuple[torch.Tensor, dict]:
    """MMD^2(T, G) + sum_i MMD^2(Q_i, G); parent terms detached when ``parent_grad`` is False.

    Returns (loss, {"target": float | None, "parents": [float]}). Without T the target term is 0 * sum(G), so the
    loss always has a graph (its gradient is exactly zero when the parent terms are detached).
    """
    target = mmd2(T, G, sigmas) if T is not None else 0.0 * G.sum()
    parents = [mmd2(Q, G, sigmas) for Q in parent_targets]
    psum = torch.stack(parents).sum()
    loss = target + (psum if parent_grad else psum.detach())
    return loss, {"target": None if T is None else float(target.detach()),
                  "parents": [float(v.detach()) for v in parents]}


@torch.no_grad()
def generate(gen: torch.nn.Module, hier: GroupHierarchy, X: torch.Tensor, group, label: int, n: int,
             rng: np.random.Generator) -> torch.Tensor:
    """``n`` generated rows for (group, label): n draws per parent, one generator call."""
    gen.eval()
    return gen(draw_parents(hier, X, group, label, n, rng))


def discriminator_score(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> float:
    """Balanced accuracy of a real-vs-generated MLP (hidden (50, 20), Adam lr 0.01) on a 33% held-out split.

    0.5 = indistinguishable, 1.0 = perfectly separable.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    Z = np.concatenate([real, fake]).astype(np.float64)
    lab = np.r_[np.zeros(len(real), int), np.ones(len(fake), int)]
    ztr, zte, ltr, lte = train_test_split(Z, lab, test_size=0.33, random_state=random_state(seed), stratify=lab)
    clf = MLPClassifier(hidden_layer_sizes=(50, 20), learning_rate_init=0.01, max_iter=200,
                        random_state=random_state(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(ztr, ltr)
    return float(balanced_accuracy_score(lte, clf.predict(zte)))


def selection_score(gen: torch.nn.Module, hier: GroupHierarchy, X: torch.Tensor, label: int, cfg: GeneratorConfig,
                    sigmas, rng: np.random.Generator, seed: int) -> float:
    """Mean over groups with real rows of label ``label`` of the selection criterion (lower is better)."""
    scores = []
    for g in hier.groups:
        idx = hier.target(g, label)
        if len(idx) == 0:
            continue
        real = draw(X, idx, cfg.select_rows, rng)
        fake = generate(gen, hier, X, g, label, cfg.select_rows, rng)
        if cfg.selection == "discriminator":
            scores.append(abs(discriminator_score(real.cpu().numpy(), fake.cpu().numpy(), seed) - 0.5))
        else:
            scores.append(float(mmd2(real, fake, sigmas, estimator="unbiased")))
    return float(np.mean(scores)) if scores else float("inf")


def train_generators(hier: GroupHierarchy, X: torch.Tensor, variants: dict[int, str], cfg: GeneratorConfig,
                     seed: int = 0, desc: str = "intersectional") -> tuple[dict[int, torch.nn.Module], dict]:
    """Train one generator per label (``variants``: label -> variant) and keep each label's best round.

    Returns ({label: generator in eval mode}, history) with history = {"sigmas", "rounds": [{label: score}],
    "best_round": {label: round}, "last_loss": {label: float}}.
    """
    check_choice(cfg.selection, "selection", SELECTIONS)
    rng = np.random.default_rng(seed)
    tgen = torch.Generator().manual_seed(seed)
    sigmas = resolve_sigmas(cfg.bandwidth, X, rng)
    p, d = hier.p, X.shape[1]
    labels = sorted(variants)
    gens = {k: make_generator(variants[k], p, d, tgen).to(X.device) for k in labels}
    opts = {k: torch.optim.Adam(gens[k].parameters(), lr=cfg.lr) for k in labels}
    best = {k: (float("inf"), -1, copy.deepcopy(gens[k].state_dict())) for k in labels}
    history: dict = {"sigmas": list(sigmas), "rounds": [], "best_round": {}, "last_loss": {}}
    crit = ("|real-vs-generated balanced accuracy - 0.5|" if cfg.selection == "discriminator" else
            "unbiased MMD² of generated to real rows")
    log(f"[{desc}] after each round, score_y<label> = the generators' selection score, {crit} (lower is "
        f"better; the best round is kept)")
    prog = Progress(range(cfg.rounds), desc)
    for r in prog:
        for _ in range(cfg.steps):
            g = hier.groups[int(rng.integers(len(hier.groups)))]
            for k in labels:
                gen = gens[k]
                gen.train()
                P = draw_parents(hier, X, g, k, cfg.batch, rng)
                tidx = hier.target(g, k)
                T = draw(X, tidx, cfg.batch, rng) if len(tidx) else None
                if T is None and not cfg.parent_grad:
                    continue  # detached parents and no target: nothing to learn from
                Q = draw_parents(hier, X, g, k, cfg.batch, rng) if cfg.fresh_parent_targets else P
                loss, _ = hierarchical_loss(gen(P), T, list(Q), sigmas, cfg.parent_grad)
                opts[k].zero_grad(set_to_none=True)
                loss.backward()
                opts[k].step()
                history["last_loss"][k] = float(loss.detach())
        scores = {}
        for k in labels:
            scores[k] = selection_score(gens[k], hier, X, k, cfg, sigmas, rng, seed + r)
            if scores[k] < best[k][0]:
                best[k] = (scores[k], r, copy.deepcopy(gens[k].state_dict()))
        history["rounds"].append(scores)
        prog.set(**{f"score_y{k}": v for k, v in scores.items()})
    for k in labels:
        gens[k].load_state_dict(best[k][2])
        gens[k].eval()
        history["best_round"][k] = best[k][1]
    return gens, history
