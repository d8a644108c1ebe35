"""FWC's outer loop: majorization–minimization over the coreset features X̂ (METHODS.md §6, Algorithm 1).

F(C(X̂)) is concave in C, so with Pᵏ optimal for C(X̂ᵏ) the surrogate g(X̂) = <C(X̂), Pᵏ> is >= F(C(X̂)) and tight
at X̂ᵏ; minimising g separately for every point j gives X̂ᵏ⁺¹ with F_{k+1} <= g(X̂ᵏ⁺¹) <= g(X̂ᵏ) = F_k (monotone):

* L1 cost:   x̂_j = coordinate-wise weighted median of {X_i : P_ij > 0} with weights P_ij
             (the smallest value whose cumulative weight reaches half the total);
* L2² cost:  x̂_j = Σ_i P_ij X_i / Σ_i P_ij;
* "medoid":  x̂_j = the row X_i (among the rows j serves, at most ``MEDOID_CANDIDATES`` of them drawn with the
             seed, plus the current x̂_j so the step never increases g) minimising Σ_i' P_i'j c(X_i', X_i).

The D/Y parts of the cost do not depend on x̂_j, so they drop out of the update. Points that receive no mass keep
their features. Stop when X̂ᵏ⁺¹ = X̂ᵏ, when F_k − F_{k+1} <= ``tol``·F_k, or after ``max_iter`` inner solves;
θ = m·Pᵀ1_n comes from the plan of the returned X̂.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ...metrics.groups import parity_violation
from ...progress import Progress, log
from ...seeding import random_state
from .dual import InnerResult, solve_inner
from .encoding import pairwise_cost
from .median import MedianUpdater
from .nearest import CellNearest

MEDOID_CANDIDATES = 1024
# Pruning blocks of at most this many points per cell (CellNearest's Yinyang bounds). By measurement (synthetic
# fwc-scale data, n = 3e5, m = 250, 2 threads, the compiled search): over iterations 16-25 the search costs 0.19 s per
# iteration with blocks of 20 vs 0.20 with 12, 0.21 with 8 or 32; the first (full) search 0.61 s vs 0.87 / 1.45 / 0.69.
PRUNE_BLOCK = 20
UPDATES = ("median", "mean", "medoid", "auto")


# ------------------------------------------------------------------------------------------ initialisation
def init_centers(X: np.ndarray, cell: np.ndarray, d: np.ndarray, alloc: np.ndarray, n_labels: int, seed: int,
                 init_sample: int = 20_000) -> np.ndarray:
    """k-means initialisation per cell: KMeans(m_g) (k-means++, n_init="auto") on the X rows of cell g (a seeded
    sample of ``init_sample`` rows when the cell is larger; 0 = all rows). A cell with no rows gets one point at
    the coordinate-wise median of X over its group's rows. Returns the m points ordered by cell.

    Default 20,000 by measurement (synthetic data, m = 250, 4 cells, 2 shared cores): at n = 1e6 the init takes 13 s
    instead of 78 s with 100,000 rows; at n = 1e5 the final objective (tol = 1e-4) is 17.7982 vs 17.7971 with all
    rows (+6e-5 relative) while 10,000 rows gave +5.5e-4."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(seed)
    out = []
    for g, k in enumerate(alloc):
        rows = np.flatnonzero(cell == g)
        if len(rows) == 0:
            grp = np.flatnonzero(d == g // n_labels)
            out.append(np.median(X[grp], axis=0, keepdims=True) if len(grp) else np.median(X, 0, keepdims=True))
            continue
        if k >= len(rows):
            out.append(X[rows[:k]])
            continue
        if init_sample and len(rows) > init_sample:
            rows = np.sort(rng.choice(rows, init_sample, replace=False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(n_clusters=int(k), n_init="auto", random_state=random_state(seed + g)).fit(X[rows])
        out.append(km.cluster_centers_.astype(np.float64))
    return np.vstack(out)


def snap_to_rows(X: np.ndarray, centers: np.ndarray, cell: np.ndarray, point_cell: np.ndarray,
                 cost: str) -> np.ndarray:
    """Move each point to the nearest row of its own cell (for the medoid update: no new points)."""
    out = centers.copy()
    for g in np.unique(point_cell):
        rows = np.flatnonzero(cell == g)
        if len(rows) == 0:
            continue
        pts = np.flatnonzero(point_cell == g)
        best = np.full(len(pts), np.inf)
        arg = np.zeros(len(pts), np.int64)
        step = max(1, 2 ** 22 // max(1, len(pts) * X.shape[1]))
        for a in range(0, len(rows), step):
            D = pairwise_cost(centers[pts], X[rows[a:a + step]], cost)
            j = D.argmin(1)
            v = D[np.arange(len(pts)), j]
            better = v < best
            best[better], arg[better] = v[better], rows[a + j[better]]
        out[pts] = X[arg]
    return out


# ----------------------------------------------------------------------------------------------- updates
def weighted_mean_update(X, rows, pts, w, centers):
    """x̂_j = Σ_i P_ij X_i / Σ_i P_ij (points without mass keep their value)."""
    import scipy.sparse as sp

    m = len(centers)
    P = sp.csr_matrix((w, (pts, rows)), shape=(m, len(X)))
    mass = np.asarray(P.sum(1)).ravel()
    out = centers.copy()
    has = mass > 0
    out[has] = (P @ X)[has] / mass[has, None]
    return out


def medoid_update(X, rows, pts, w, centers, cost, rng):
    """x̂_j = the candidate row minimising Σ_i P_ij c_X(X_i, x) (current x̂_j is always a candidate)."""
    out = centers.copy()
    order = np.argsort(pts, kind="stable")
    bounds = np.searchsorted(pts[order], np.arange(len(centers) + 1))
    for j in range(len(centers)):
        sel = order[bounds[j]:bounds[j + 1]]
        if len(sel) == 0:
            continue
        r, ww = rows[sel], w[sel]
        cand = r if len(r) <= MEDOID_CANDIDATES else rng.choice(r, MEDOID_CANDIDATES, replace=False)
        C = np.vstack([centers[j:j + 1], X[cand]])
        tot = np.zeros(len(C))
        step = max(1, 2 ** 22 // max(1, len(C) * X.shape[1]))
        for a in range(0, len(r), step):
            tot += pairwise_cost(C, X[r[a:a + step]], cost) @ ww[a:a + step]
        best = int(np.argmin(tot))
        if tot[best] < tot[0]:
            out[j] = C[best]
    return out


# ------------------------------------------------------------------------------------------------ the loop
@dataclass
class MMResult:
    """Final coreset features, plan, weights θ and the run's history."""

    centers: np.ndarray
    theta: np.ndarray
    objective: list[float]
    seconds: list[float]
    iterations: int
    stop: str
    inner: list[dict] = field(default_factory=list)
    result: InnerResult | None = None
    jstar: np.ndarray | None = None
    cells: object | None = None  # the final ``Cells`` when run with ``refine``


def run_mm(X: np.ndarray, d: np.ndarray, y: np.ndarray, n_labels: int, A: np.ndarray, centers: np.ndarray,
           cell_start: np.ndarray, *, cost: str = "l1", update: str = "auto", max_iter: int = 100,
           solver: str = "accpm", tol: float = 1e-7, chunk_rows: int | None = None, device: str = "cpu",
           seed: int = 0, prune: bool = True, block: int | None = PRUNE_BLOCK, refine=None) -> MMResult:
    """Majorization–minimization from ``centers`` (points ordered by cell, ``cell_start`` offsets). ``prune`` and
    ``block`` are the nearest-point search's (``CellNearest``: bounds on or off, pruning block size; the costs,
    hence the whole run, do not depend on them).

    ``refine`` (experimental; ``equalized.EqualizedOdds``): centers -> ``Cells`` recomputed every iteration, for
    cells that depend on the points' features (then ``A`` and ``cell_start`` are unused). The surrogate argument
    no longer holds across a change of cells, so F need not decrease; the tolerance rule uses |F_k − F_{k+1}|."""
    X = np.asarray(X, dtype=np.float64)
    n, m = len(X), len(centers)
    if update == "auto":
        update = "median" if cost == "l1" else "mean"
    centers = np.array(centers, dtype=np.float64)
    median = MedianUpdater(X) if update == "median" else None

    def searcher(starts, cell_dy=None):
        return CellNearest(X, starts, d, y, n_labels, cost, chunk_rows, device, prune=prune, block=block,
                           cell_dy=cell_dy)

    nearest = searcher(cell_start) if refine is None else None
    cells = None
    rng = np.random.default_rng(seed)
    history, secs, inner = [], [], []
    lam = None
    stop = "max_iter"
    prog = Progress(range(max_iter), "FWC", at_most=True)
    for it in prog:
        t0 = time.perf_counter()
        if refine is None:
            c, jstar = nearest(centers)
        else:
            now = refine(centers)
            if now.centers is not None:  # the refinement re-seeded some points
                centers = now.centers
            if cells is None or not now.same_as(cells):  # new cells: fresh search state and a cold inner solve
                nearest, lam = searcher(now.cell_start, now.cell_dy), None
            cells, A = now, now.A
            c, jstar = nearest(centers[cells.order])
            jstar = cells.order[jstar]
        t_cost = time.perf_counter() - t0
        res = solve_inner(c, A, solver, lam0=lam)
        lam = res.lam
        history.append(res.value)
        inner.append({"cost_s": round(t_cost, 4), "searched": round(nearest.last_fraction, 4),
                      "solve_s": round(res.seconds, 4), "oracle_calls": res.oracle_calls,
                      "lp_calls": res.lp_calls, "lp_rows": res.lp_rows, "gap": res.gap, "certified": res.certified})
        prog.set(F=res.value)
        rows, pts, w = res.plan.triplets(jstar)
        done = None
        drop = history[-2] - history[-1] if it > 0 else np.inf
        if it > 0 and (abs(drop) if refine is not None else drop) <= tol * history[-2]:
            done = "objective"
        elif it + 1 == max_iter:
            done = "max_iter"
        if done is None:
            t1 = time.perf_counter()
            if update == "median":
                new = median(rows, pts, w, centers)
            elif update == "mean":
                new = weighted_mean_update(X, rows, pts, w, centers)
            else:
                new = medoid_update(X, rows, pts, w, centers, cost, rng)
            inner[-1]["update_s"] = round(time.perf_counter() - t1, 4)
            if np.array_equal(new, centers):
                done = "fixed_point"
            centers = new
        secs.append(time.perf_counter() - t0)
        if done is not None:
            stop = done
            break
    log(f"[FWC] stopped after {len(history)} iterations ({stop}), objective {history[-1]:.6g}")
    theta = m * np.bincount(pts, weights=w, minlength=m) / n
    return MMResult(centers=centers, theta=theta, objective=history, seconds=secs, iterations=len(history),
                    stop=stop, inner=inner, result=res, jstar=jstar, cells=cells)


def j_max(theta: np.ndarray, point_cell: np.ndarray, n_labels: int, p_target: np.ndarray) -> float:
    """Parity violation J_max of the weighted coreset (METRICS.md §4; ``metrics.parity_violation``): point j has
    weight θ_j, group ``point_cell // n_labels`` and label index ``point_cell % n_labels``."""
    return parity_violation(point_cell % n_labels, point_cell // n_labels, theta, p_target)
