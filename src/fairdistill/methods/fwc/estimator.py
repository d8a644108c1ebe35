"""The ``fwc`` and ``fairwasp`` methods (METHODS.md §6).

FWC: m weighted points (d̂_j, x̂_j, ŷ_j, θ_j), Σθ = m, minimising the Wasserstein distance (L1 or squared L2 cost
on Z = (D, X, Y)) to the training rows subject to the demographic-parity ratio constraint
|p_θ(y|d)/p_T(y) − 1| <= ε for every group d and label y. Labels per point are fixed first (allocation.py), the
features are then optimised by majorization–minimization (mm.py) whose inner LP is solved exactly (dual.py).
FairWASP: the special case m = n, Ẑ = Z: one inner solve that reweights the training rows.
"""
from __future__ import annotations

import time
import warnings
from contextlib import contextmanager

import numpy as np

from ...dataset import FairDataset, SyntheticSet
from ...errors import ConfigError, DataError, SolverError
from ..base import GROUPS, Method, resolve_size
from ...params import Param
from .allocation import allocate_cells, cell_counts
from .dual import SOLVERS, fairness_matrix, solve_inner
from .encoding import COSTS, Encoded, encode
from .equalized import EqualizedOdds
from .mm import UPDATES, init_centers, j_max, run_mm, snap_to_rows
from .nearest import aggregate


def _epsilon_check(v) -> str | None:
    return None if v > 0 else "must be a number > 0 (the parity-ratio tolerance), or inf for no fairness constraint"


def _chunk_check(v) -> str | None:
    return None if v is None or v >= 1 else "must be >= 1 (rows per task of the nearest-point search)"


_COMMON = (
    Param("epsilon", float, 0.05, "parity tolerance ε: |p_θ(y|d)/p_T(y) − 1| <= ε for all groups d, labels y "
          "(default 0.05; inf = no constraint)", check=_epsilon_check),
    Param("cost", str, "l1", "ground cost on Z = (D, X, Y): 'l1' (default, as the paper) or 'sqeuclidean'",
          choices=COSTS),
    Param("solver", str, "accpm", "inner LP solver: 'accpm' (cutting-plane dual + exact repair, default) or "
          "'highs' (the whole aggregated LP in HiGHS; slower, a reference)", choices=SOLVERS),
    GROUPS,
    Param("chunk_rows", int, None, "rows per task of the CPU nearest-point search (default: about four tasks per "
          "thread, at most 32768 rows each)", check=_chunk_check),
)


@contextmanager
def _naming_epsilon(method: Method):
    """Re-raise a ``SolverError`` of the inner LP (parity constraints too tight) with the method's name and the
    tolerance(s) the user set, which are the values to change."""
    try:
        yield
    except SolverError as err:
        eps = f"epsilon={method.epsilon:g}"
        if getattr(method, "constraint", "dp") == "eo" and method.eo_epsilon is not None:
            eps += f", eo_epsilon={method.eo_epsilon:g}"
        raise SolverError(f"{method.name} {eps}: {err}") from err


def _check_cells(enc: Encoded) -> np.ndarray:
    counts = cell_counts(enc)
    return np.flatnonzero(counts == 0)


class FWC(Method):
    """Fair Wasserstein Coresets (Xiong et al., NeurIPS 2024): a small weighted set close in Wasserstein distance
    to the data whose weighted label distribution is the same in every group up to ε."""

    name = "fwc"
    summary = "Fair Wasserstein Coresets: weighted points near the data in W1, demographic parity up to ε"
    modalities = ("tabular",)
    params = (
        Param("size", "size", 0.05, "coreset size m: a fraction of the training rows (< 1) or a count "
              "(default 0.05)"),
        *_COMMON,
        Param("update", str, "auto", "feature update: 'median' (optimal for L1), 'mean' (optimal for sqeuclidean), "
              "'medoid' (real rows only) or 'auto' (median for l1, mean for sqeuclidean; default)", choices=UPDATES),
        Param("max_iter", int, 100, "maximum majorization–minimization iterations (inner solves; default 100)",
              check=lambda v: None if v >= 1 else "must be >= 1"),
        Param("tol", float, 1e-7, "MM stopping tolerance: stop after iteration k+1 when the objective decrease "
              "F_k − F_{k+1} <= tol·F_k (also at a fixed point X̂ᵏ⁺¹ = X̂ᵏ or after max_iter); default 1e-7 "
              "(METHODS.md §6); larger values stop earlier at a slightly higher objective (benchmarks/fwc-scale.md)",
              check=lambda v: None if v >= 0 else "must be >= 0 (a relative objective decrease)"),
        Param("drop_empty", bool, False, "drop points that end with weight θ_j = 0 (default: keep them)"),
        Param("constraint", str, "dp", "'dp': demographic parity only (the paper; default); 'eo': experimental, "
              "also equalized-odds-style rows on an auxiliary logistic-regression classifier h fitted on the training "
              "rows: |p_θ(h=1|y,d)/p_T(h=1|y) − 1| <= eo_epsilon for every group d and label y (binary labels; "
              "cells follow h(x̂) as the points move, so the objective is not monotone)", choices=("dp", "eo")),
        Param("eo_epsilon", float, None, "tolerance of the 'eo' rows (default: epsilon; inf = none)",
              check=lambda v: None if v is None or v > 0 else "must be > 0 (or unset for epsilon)"),
        Param("init_sample", int, 20_000, "k-means initialisation fits each (group, label) cell on at most this "
              "many rows (seeded sample; 0 = all rows; default 20000: at n = 1e6 about 6x faster than 100000, "
              "final objective within 1e-4 relative; benchmarks/fwc-scale.md)",
              check=lambda v: None if v >= 0 else "must be >= 0"),
    )

    def _check_params(self, params) -> None:
        if params["eo_epsilon"] is not None and params["constraint"] != "eo":
            raise ConfigError(f"fwc: eo_epsilon={params['eo_epsilon']} applies only with constraint='eo' "
                              f"(--constraint eo); set that, or drop eo_epsilon")

    def _fit(self, data: FairDataset) -> SyntheticSet:
        from ...torchutil import resolve_device

        enc = encode(data, self.groups, self.cost)
        m = resolve_size(self.size, enc.n)
        alloc = allocate_cells(m, enc)
        empty = _check_cells(enc)
        if len(empty):
            names = [(enc.group_tuples[g // enc.n_labels], int(enc.labels[g % enc.n_labels])) for g in empty]
            warnings.warn(f"FWC: (group, label) cell(s) {names} have no training rows; one point each is placed at "
                          "the median of the group's rows so the parity constraints stay feasible", stacklevel=3)
        K = enc.n_labels
        cell = enc.cells
        cell_start = np.concatenate([[0], np.cumsum(alloc)])
        point_cell = np.repeat(np.arange(len(alloc)), alloc)
        t_init = time.perf_counter()
        centers = init_centers(enc.X, cell, enc.d, alloc, K, self.seed, self.init_sample)
        update = self.update if self.update != "auto" else ("median" if self.cost == "l1" else "mean")
        if update == "medoid":
            centers = snap_to_rows(enc.X, centers, cell, point_cell, self.cost)
        t_init = time.perf_counter() - t_init
        A = fairness_matrix(enc.n_groups, enc.p_target, self.epsilon)
        device = str(resolve_device(self.device))
        odds = None
        if self.constraint == "eo":
            odds = EqualizedOdds(enc.X, enc.d, enc.y, point_cell, enc.n_groups, enc.p_target, self.epsilon,
                                 self.epsilon if self.eo_epsilon is None else self.eo_epsilon, self.seed)
        with _naming_epsilon(self):
            res = run_mm(enc.X, enc.d, enc.y, K, A, centers, cell_start, cost=self.cost, update=update,
                         max_iter=self.max_iter, tol=self.tol, solver=self.solver, chunk_rows=self.chunk_rows,
                         device=device, seed=self.seed, refine=odds)
        theta = res.theta
        viol = j_max(theta, point_cell, K, enc.p_target)
        keep = theta > 0 if self.drop_empty else np.ones(m, bool)
        pts = point_cell[keep]
        s = enc.sensitive_codes(pts // K, data.s.shape[1])
        origin = None
        if update == "medoid":  # real rows, except the points created for empty cells
            origin = np.isin(pts, empty).astype(np.int8)
        prov = {
            "m": m, "n": enc.n, "epsilon": self.epsilon, "cost": self.cost, "update": update,
            "allocation": alloc.tolist(), "empty_cells": empty.tolist(),
            "cells": [[list(enc.group_tuples[g // K]), int(enc.labels[g % K])] for g in range(len(alloc))],
            "objective": res.objective, "iterations": res.iterations, "stop": res.stop, "tol": self.tol,
            "init_seconds": round(t_init, 4),
            "seconds_per_iteration": [round(t, 4) for t in res.seconds], "inner": res.inner,
            "j_max": viol, "n_zero_weight": int((theta <= 0).sum()), "constraint": self.constraint,
        }
        if odds is not None:
            prov.update(eo_violation=odds.violation(theta, res.centers), eo_dropped=[list(c) for c in res.cells.dropped],
                        eo_q=odds.q.tolist())
            if res.cells.dropped:
                names = [(enc.group_tuples[a], int(enc.labels[b])) for a, b in res.cells.dropped]
                warnings.warn(f"FWC constraint='eo': every point of (group, label) cell(s) {names} falls on one side "
                              f"of h, so their equalized-odds rows could not be enforced (violation "
                              f"{prov['eo_violation']:.3f}); a larger size gives each cell more points",
                              stacklevel=3)
        return SyntheticSet.from_dataset(data, X=res.centers[keep].astype(np.float32),
                                         y=enc.labels[pts % K], s=s, weights=theta[keep], origin=origin,
                                         provenance=prov, name=f"{data.name}-fwc")


class FairWASP(Method):
    """FairWASP (Xiong et al., AAAI 2024): reweight the training rows (θ_i >= 0, Σθ = n) to be as close as possible
    in Wasserstein distance to the data while meeting the same parity constraint as FWC.

    One inner solve with m = n points: the nearest-row search per cell is O(n²·p) time (row by row, O(n·G) memory):
    at n = 50,000, p = 25 about 25 s on one CPU thread, 12 s on two (one-off, the fwc-scale generator)."""

    name = "fairwasp"
    summary = "FairWASP: Wasserstein-optimal reweighting of the training rows to demographic parity up to ε"
    modalities = ("tabular",)
    params = _COMMON

    def _fit(self, data: FairDataset) -> SyntheticSet:
        from ...torchutil import resolve_device

        enc = encode(data, self.groups, self.cost)
        K = enc.n_labels
        empty = _check_cells(enc)
        if len(empty):
            names = [(enc.group_tuples[g // K], int(enc.labels[g % K])) for g in empty]
            raise DataError(f"FairWASP: (group, label) cell(s) {names} have no rows, so no reweighting reaches parity; "
                            "use 'fwc' (which adds a point) or regroup with --groups single:<axis>")
        cell = enc.cells
        perm = np.argsort(cell, kind="stable")
        counts = np.bincount(cell, minlength=enc.n_groups * K)
        cell_start = np.concatenate([[0], np.cumsum(counts)])
        A = fairness_matrix(enc.n_groups, enc.p_target, self.epsilon)
        c, jstar = aggregate(enc.X, enc.X[perm], cell_start, enc.d, enc.y, K, self.cost, self.chunk_rows,
                             str(resolve_device(self.device)))
        with _naming_epsilon(self):
            res = solve_inner(c, A, self.solver)
        rows, pts, w = res.plan.triplets(jstar)
        theta_sorted = np.bincount(pts, weights=w, minlength=enc.n)  # n·Σ_i P_ij with m = n
        theta = np.empty(enc.n)
        theta[perm] = theta_sorted
        viol = j_max(theta, cell, K, enc.p_target)
        prov = {"objective": res.value, "dual": res.dual, "j_max": viol, "epsilon": self.epsilon,
                "solver_seconds": round(res.seconds, 4), "oracle_calls": res.oracle_calls, "lp_calls": res.lp_calls}
        return SyntheticSet.from_dataset(data, weights=theta, origin=np.zeros(enc.n, np.int8), provenance=prov,
                                         name=f"{data.name}-fairwasp")
