"""Estimators: hierarchical intersectional augmentation + equal sampling, and equal sampling alone.

``EqualSampling``: draw, once and with replacement, exactly ``n_per_cell`` rows from every (group, label) cell present
(group = the full tuple of sensitive axes) -> a balanced training set of n_per_cell x #cells rows.

``IntersectionalAugmentation`` (METHODS.md section 8): z-score X with the training statistics, train one generator per
label on the group hierarchy (``training``), generate ``n_per_cell`` rows for every group present and each label
(n_per_cell draws per parent, one generator call), map them back to the input scale, append them to the real rows
(origin 0 = real, 1 = generated), then equal-sample ``n_per_cell`` rows per (group, label) cell from that pool.
The result is 2 x n_per_cell x |G| rows. ``augmented_`` keeps the whole real + generated pool, ``generators_`` the
trained generators and ``history_`` the selection trace.

Edge cases [project]: a (group, label) cell without real rows gets only generated rows (no target term in the loss,
parents from level-2+ ancestors when needed); a single sensitive axis has no parents: ``single_axis="error"`` (default)
raises, ``single_axis="equal-sampling"`` returns the equal-sampled real set; more than ``max_groups`` groups raises.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ...dataset import FairDataset, SyntheticSet, group_ids
from ...errors import ConfigError, DataError
from ...torchutil import resolve_device
from ..base import Method
from ...params import Param, positive
from .generators import VARIANTS
from .hierarchy import GroupHierarchy
from .training import BANDWIDTHS, SELECTIONS, GeneratorConfig, discriminator_score, draw, generate, train_generators


def equal_sample(s: np.ndarray, y: np.ndarray, n_per_cell: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices: ``n_per_cell`` draws with replacement from every non-empty (group tuple, label) cell, shuffled."""
    s = np.asarray(s).reshape(len(s), -1)
    cell, _ = group_ids(np.concatenate([s, np.asarray(y).reshape(-1, 1)], axis=1))
    idx = np.concatenate([rng.choice(np.flatnonzero(cell == c), n_per_cell, replace=True)
                          for c in range(cell.max() + 1)]) if len(cell) else np.zeros(0, np.int64)
    return rng.permutation(idx)


def _check_binary(data: FairDataset, name: str) -> None:
    present = np.unique(data.y)
    if data.n_classes != 2 or len(present) != 2:
        raise DataError(f"{name} needs a binary label with both classes in the training data; {data.name} has "
                        f"classes {present.tolist()} of n_classes={data.n_classes}")


N_PER_CELL = Param("n_per_cell", int, 1000, "rows per (group, label) cell after equal sampling; default 1000 as in "
                   "the reference", check=positive)


#: the reference classifier (METHODS.md §8): d -> 128 -> 64 -> 32 -> 2, dropout 0.5, Adam 1e-3, batch 1000, 50 epochs
REFERENCE_MLP = {"model": "mlp", "repeats": 5, "options": {"hidden": [128, 64, 32], "dropout": 0.5, "epochs": 50,
                                                           "batch_size": 1000, "lr": 1e-3, "patience": 0}}


class EqualSampling(Method):
    """Equal sampling alone: n_per_cell real rows per (intersectional group, label) cell, with replacement."""

    name = "equal-sampling"
    evaluation = REFERENCE_MLP
    summary = "n rows per (intersectional group, label) cell, drawn with replacement (no generation)"
    modalities = ("tabular",)
    params = (N_PER_CELL,)

    def _fit(self, data: FairDataset) -> SyntheticSet:
        idx = equal_sample(data.s, data.y, self.n_per_cell, self.rng())
        out = data.subset(idx)
        return SyntheticSet.from_dataset(out, weights=np.ones(len(idx)), origin=np.zeros(len(idx), np.int8),
                                         provenance={"cells": int(len(idx) // self.n_per_cell)})


class IntersectionalAugmentation(Method):
    """Hierarchical intersectional augmentation (Maheshwari et al., arXiv 2405.14521) followed by equal sampling."""

    name = "intersectional"
    evaluation = REFERENCE_MLP
    summary = "generate rows for every intersectional group from its parent groups (MMD), then equal-sample"
    modalities = ("tabular",)
    example = "adult --sensitive sex race"
    params = (
        replace(N_PER_CELL, help=N_PER_CELL.help.replace("sampling;", "sampling, and generated rows per cell;")),
        Param("variant_pos", str, "simple", "generator for label 1: simple (weighted mean of parents), intermediate "
              "(per-feature scale of their sum), complex (linear map of their sum); default simple (reference, equal "
              "opportunity)", choices=VARIANTS),
        Param("variant_neg", str, "intermediate", "generator for label 0 (same choices); default intermediate "
              "(reference, equal opportunity)", choices=VARIANTS),
        Param("rounds", int, 20, "training rounds; the generators are scored after each and the best kept",
              check=positive),
        Param("steps", int, 50, "generator steps per round (one random group per step, one step per label)",
              check=positive),
        Param("batch", int, 128, "rows drawn per parent / target cell in each step", check=positive),
        Param("lr", float, 0.1, "Adam learning rate of the generators", check=positive),
        Param("bandwidth", str, "reference", "MMD kernel bandwidths: reference (sigmas 1,10,...,50, for z-scored "
              "features) or median (median pairwise distance x 1/4..4, fixed once on the training rows)",
              choices=BANDWIDTHS),
        Param("parent_grad", bool, True, "let gradients flow through the parent MMD terms (the paper's loss); "
              "false reproduces the reference code, where only the target term trains"),
        Param("fresh_parent_targets", bool, False, "draw a fresh parent batch as the MMD target of each parent term; "
              "false (reference) reuses the generator's input batch"),
        Param("selection", str, "discriminator", "round selection: discriminator (real-vs-generated MLP balanced "
              "accuracy closest to 0.5) or mmd (unbiased MMD^2 between fresh real and generated rows)",
              choices=SELECTIONS),
        Param("max_groups", int, 64, "error when the sensitive axes form more intersectional groups than this",
              check=positive),
        Param("single_axis", str, "error", "with one sensitive axis there are no parents: error (default) or "
              "equal-sampling (return equal sampling of the real rows)", choices=("error", "equal-sampling")),
        Param("score_real_vs_generated", bool, True, "after training, record the real-vs-generated MLP balanced "
              "accuracy per (group, label) in the provenance (0.5 = indistinguishable)"),
    )

    def config(self) -> GeneratorConfig:
        return GeneratorConfig(rounds=self.rounds, steps=self.steps, batch=self.batch, lr=self.lr,
                               bandwidth=self.bandwidth, parent_grad=self.parent_grad,
                               fresh_parent_targets=self.fresh_parent_targets, selection=self.selection)

    def _fit(self, data: FairDataset) -> SyntheticSet:
        _check_binary(data, self.name)
        if data.s.shape[1] < 2:
            if self.single_axis == "equal-sampling":
                out = EqualSampling(n_per_cell=self.n_per_cell, seed=self.seed).fit(data).synthetic_
                out.provenance = {"single_axis_fallback": "equal-sampling", "cells": out.provenance["cells"]}
                return out
            raise ConfigError(f"intersectional needs >= 2 sensitive axes to form parent groups; {data.name} has "
                              f"{data.sensitive_names}; give >= 2 axes (--sensitive, e.g. sex race on adult; "
                              f"`fairdistill datasets NAME` lists a dataset's) or set single_axis='equal-sampling' "
                              f"(--single-axis equal-sampling)")
        device = resolve_device(self.device)
        hier = GroupHierarchy(data.s, data.y, labels=(0, 1), max_groups=self.max_groups)
        mean = data.X.mean(0)
        std = data.X.std(0)
        std = np.where(std > 0, std, 1.0).astype(np.float32)
        Z = torch.as_tensor((data.X - mean) / std, dtype=torch.float32, device=device)
        gens, history = train_generators(hier, Z, {0: self.variant_neg, 1: self.variant_pos}, self.config(),
                                         seed=self.seed, desc=f"{self.name}:{data.name}")
        rng = np.random.default_rng([self.seed, 1])
        gX, gy, gs, realness = [], [], [], []
        for g in hier.groups:
            for k in (0, 1):
                fake = generate(gens[k], hier, Z, g, k, self.n_per_cell, rng)
                tidx = hier.target(g, k)
                if self.score_real_vs_generated and len(tidx):
                    m = min(512, self.n_per_cell)
                    real = draw(Z, tidx, m, rng).cpu().numpy()
                    realness.append({"group": list(g), "label": k, "real_rows": int(len(tidx)),
                                     "bacc": discriminator_score(real, fake[:m].cpu().numpy(), self.seed)})
                gX.append(fake.cpu().numpy() * std + mean)
                gy.append(np.full(self.n_per_cell, k))
                gs.append(np.tile(np.asarray(g), (self.n_per_cell, 1)))
        pool = SyntheticSet.from_dataset(
            data, X=np.concatenate([data.X, *gX]).astype(np.float32), y=np.concatenate([data.y, *gy]),
            s=np.concatenate([data.s, *gs]),
            origin=np.r_[np.zeros(len(data), np.int8), np.ones(sum(len(a) for a in gy), np.int8)])
        idx = equal_sample(pool.s, pool.y, self.n_per_cell, self.rng())
        out = pool.subset(idx)
        out.weights = np.ones(len(idx))
        self.augmented_, self.generators_, self.hierarchy_ = pool, gens, hier
        self.history_ = history
        out.provenance = {
            "groups": [list(g) for g in hier.groups], "ancestor_fallbacks": hier.fallbacks,
            "empty_target_cells": [[list(g), k] for g in hier.groups for k in (0, 1) if not len(hier.target(g, k))],
            "sigmas": history["sigmas"], "best_round": {str(k): v for k, v in history["best_round"].items()},
            "selection_scores": [{str(k): v for k, v in r.items()} for r in history["rounds"]],
            "real_vs_generated": realness,
            "real_vs_generated_bacc": float(np.mean([r["bacc"] for r in realness])) if realness else None,
            "generated_share": float(out.origin.mean()) if len(out) else 0.0,
        }
        return out
