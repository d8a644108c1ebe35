"""FWC's inner problem F(C) and its FairWASP-style dual solver (METHODS.md §6, steps 2-4).

Problem. Rows i = 1..n (mass 1/n), coreset points j = 1..m grouped in cells g = (d, y) (G = |D||Y|), cost C_ij:

    F(C) = min_P <C, P>   s.t.  P 1_m = 1_n / n,  P >= 0,  Ã T >= 0,  T_g = Σ_{i, j in g} P_ij,

where Ã (h x G, h = 2|D||Y|) holds the parity rows of ``fairness_matrix``. Only the cheapest point of each cell can
receive mass from a row, so with c_ig = min_{j in g} C_ij (``aggregate``, computed in row chunks, never storing C)
F(C) is the LP in Q in R^{n x G}: min Σ c_ig Q_ig, Σ_g Q_ig = 1/n, Q >= 0, Ã Σ_i Q_i. >= 0.

Dual. For λ in R^h_+ with μ = Ãᵀλ, φ(λ) = (1/n) Σ_i min_g (c_ig − μ_g) is concave, piecewise linear, and
max_λ φ(λ) = F(C) (LP duality). The oracle returns φ(λ), the greedy cell g*_i = argmin_g (c_ig − μ_g), the cell
masses T(λ) and the supergradient −Ã T(λ), in O(nG).

Solver (``solver="accpm"``). Analytic-centre cutting planes on λ (Goffin–Vial): localisation set
{0 <= λ <= R} ∩ {cuts s_kᵀλ >= best − φ_k + s_kᵀλ_k} (s_k the supergradient at λ_k, best the best φ so far); query
the analytic centre (infeasible-start Newton on the log barrier, falling back to a Chebyshev centre LP), call the
oracle, add the deep cut. R starts at 10·max c_ig and doubles when the best λ sits on the box.
Stopping is by an optimality certificate rather than the model's upper bound: every few steps the primal is recovered
at the best λ — greedy assignment for all rows except the k rows with the smallest gap between their best and
second-best reduced cost, whose split is the small LP over k·G variables (HiGHS dual simplex) with the fixed rows'
cell masses as right-hand side ("exact-feasibility repair"; k starts at 64 and grows ×4 when that LP is infeasible,
×2 when it does not certify). The repaired plan is exactly feasible, and its LP multipliers λ_R are a dual point:
if value(plan) − max(best, φ(λ_R)) <= tol·max(1, |value|) the plan is optimal to that tolerance (weak duality).
Warm start: from the previous MM iteration's λ, a few Newton steps on the binding parity rows (``_newton_step``:
∂T/∂μ estimated from the rows nearest a cell boundary, as in semi-discrete transport) bring the residual within the
repair LP's reach, which then usually certifies at once (n = 1e6: 3-5 oracle passes and one 64-row LP, against
13-23 passes and 3-5 LPs for cutting planes alone); the cutting planes take over whenever it does not.

``solver="highs"`` solves the aggregated n x G LP in one go with HiGHS (the test oracle).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ...errors import ConfigError

SOLVERS = ("accpm", "highs")
NEWTON_BAND = 0.002  # share of rows (smallest best-to-runner-up gaps) that estimates ∂T/∂μ
_HIGHS_TOL = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


# --------------------------------------------------------------------------------------------- constraints
def fairness_matrix(n_groups: int, p_target: np.ndarray, epsilon: float) -> np.ndarray:
    """Ã (2|D||Y| x |D||Y|): rows (d, y, +) = (1+ε)p_T(y) − 1[y'=y] and (d, y, −) = 1[y'=y] − (1−ε)p_T(y) on the
    cells (d, y') of group d. Ã T >= 0 ⇔ |T_{d,y}/Σ_y' T_{d,y'} / p_T(y) − 1| <= ε. ε = inf gives no rows."""
    p = np.asarray(p_target, dtype=np.float64)
    K = len(p)
    G = n_groups * K
    if not np.isfinite(epsilon):
        return np.zeros((0, G))
    A = np.zeros((2 * G, G))
    for d in range(n_groups):
        blk = slice(d * K, (d + 1) * K)
        for y in range(K):
            r = 2 * (d * K + y)
            A[r, blk] = (1.0 + epsilon) * p[y]
            A[r, d * K + y] -= 1.0
            A[r + 1, blk] = -(1.0 - epsilon) * p[y]
            A[r + 1, d * K + y] += 1.0
    return A


def parity_violation(weights: np.ndarray, d: np.ndarray, y: np.ndarray, p_target: np.ndarray,
                     n_groups: int) -> float:
    """J_max = max_{d,y} |p_w(y|d)/p_T(y) − 1| (METRICS.md §4), skipping groups with no weight."""
    K = len(p_target)
    W = np.bincount(np.asarray(d) * K + np.asarray(y), weights=weights, minlength=n_groups * K).reshape(n_groups, K)
    tot = W.sum(1)
    ok = tot > 0
    pos = np.asarray(p_target) > 0
    if not ok.any():
        return 0.0
    return float(np.abs(W[ok][:, pos] / tot[ok, None] / np.asarray(p_target)[pos] - 1.0).max())


# ---------------------------------------------------------------------------------------------- aggregation
def default_chunk(m: int) -> int:
    """Rows per cost chunk against m points: about 8 MiB of float64 cost entries (cache-friendly; faster than
    bigger chunks). The pruned searches of one block (m = its size) get proportionally more rows."""
    return max(256, int(2 ** 20 // max(1, m)))


_POOLS: dict[int, ThreadPoolExecutor] = {}


def worker_threads() -> int:
    """Threads for the numpy work split by ``parallel_map``: torch's intra-op thread count (the run's budget)."""
    import torch

    return max(1, int(torch.get_num_threads()))


def parallel_map(fn, items) -> list:
    """``[fn(x) for x in items]`` on ``worker_threads()`` Python threads (numpy releases the GIL in the ufuncs,
    gathers and sorts used here, so this is real parallelism); serial with one thread or one item."""
    items = list(items)
    k = worker_threads()
    if k == 1 or len(items) < 2:
        return [fn(x) for x in items]
    if k not in _POOLS:
        _POOLS[k] = ThreadPoolExecutor(k, thread_name_prefix="fairdistill-fwc")
    return list(_POOLS[k].map(fn, items))


def row_ranges(n: int, step: int) -> list[tuple[int, int]]:
    """Consecutive (start, stop) ranges of at most ``step`` rows covering range(n)."""
    return [(a, min(n, a + step)) for a in range(0, n, max(1, step))]


UNIT_ROUNDOFF32 = 2.0 ** -24
PRECISIONS = ("auto", "float32", "float64")


class CellNearest:
    """c_ig = min_{j in g} C_ij and j*_ig = argmin for cells g whose points are ``centers[cell_start[g]:
    cell_start[g+1]]``, with C_ij = c_X(X_i, x̂_j) + 1[d_i != d_g] + 1[y_i != y_g] (encoding.py); (d_g, y_g) =
    (g // K, g % K), or the rows of ``cell_dy`` when the cells refine (group, label) cells (equalized.py).

    The n x m cost is computed in row chunks (torch kernel on ``device``; ``chunk_rows`` rows, default about 8 MiB
    of entries per block searched) and never stored; the chosen entries are recomputed exactly in float64
    (``_exact``), so c depends neither on the chunking nor on the kernel's rounding. Across calls (MM iterations)
    exact bounds skip most of the work (Yinyang k-means, with the metric δ(x, x') = ‖x − x'‖₁ (L1) or ‖x − x'‖₂
    (squared L2)): every cell is split into blocks (the whole cell by default; with ``block``, pieces of at most that
    many points; ``run_mm`` uses ``mm.PRUNE_BLOCK``); per (row, cell) keep u_ig = δ to j*_ig (exact) and per
    (row, block) a lower bound l_ib on δ to the block's points other than j* (stored cell- and block-major: cx and
    jstar are G x n, lower is B x n). When the points move by δ_j, l_ib drops by max_{j in b} δ_j (triangle inequality),
    u_ig is recomputed exactly where j* moved, and only the (row, block) pairs with u_ig > l_ib are searched again;
    a block whose nearest point cannot beat u (by its kernel bound) costs no exact recomputation, and a block that
    loses j* to another block takes the old u into its bound. The result equals a fresh exact search (up to exact
    ties, broken towards the first point, which do not change c).

    Float32 search (``precision`` "auto" = "float32" for L1; squared L2 always searches in float64, whose
    expanded formula cancels). The kernel computes D̃_ij = fl32(‖fl32(x_i) − fl32(x̂_j)‖₁). With u = 2⁻²⁴,
    r_i = ‖x_i − fl32(x_i)‖₁, ρ_j = ‖x̂_j − fl32(x̂_j)‖₁ (both 0 for float32 data and medians of it) and
    γ_p = p·u/(1 − p·u): the p differences are each rounded once and summed in some order (p − 1 roundings of
    non-negative terms), so |D̃ − D'| <= γ_p·D' for D' the distance of the rounded vectors, and |D' − D| <= r_i + ρ_j;
    hence D_ij >= D̃_ij·(1 − γ_p) − r_i − ρ_j =: L(D̃_ij), increasing in D̃ (``_bound``, which also subtracts the
    float64 slack). For the float32 argmin j₁ of a block with second-smallest value D̃₂, every other point has
    D >= L(D̃₂); if the exact D_ij₁ is below that, j₁ is the block's exact argmin and L(D̃₂) a valid bound.
    Otherwise (a float32 near-tie, rare; counted in ``tie_rows``) the row's block is recomputed exactly in float64.
    So c, j* (up to exact ties) and the bounds are those of an exact float64 search; only the skipped work differs.
    ``last_fraction``: the share of the n x m kernel distances the last call computed.
    """

    def __init__(self, X: np.ndarray, cell_start: np.ndarray, d: np.ndarray, y: np.ndarray, n_labels: int,
                 cost: str = "l1", chunk_rows: int | None = None, device: str = "cpu", prune: bool = True,
                 block: int | None = None, precision: str = "auto", cell_dy: np.ndarray | None = None):
        if precision not in PRECISIONS:
            raise ConfigError(f"precision={precision!r} is unknown; choose one of {list(PRECISIONS)}")
        self.X = np.asarray(X, dtype=np.float64)
        self.cell_start = np.asarray(cell_start, dtype=np.int64)
        if np.any(np.diff(self.cell_start) < 1):
            raise ConfigError("every (group, label) cell needs at least one coreset point")
        self.G = len(self.cell_start) - 1
        self.m = int(self.cell_start[-1])
        self.cost, self.device, self.prune = cost, device, prune
        self.chunk_rows = chunk_rows
        g = np.arange(self.G)  # cell g holds (group, label) = (g // K, g % K), or cell_dy[g] when cells are refined
        gd, gy = (g // n_labels, g % n_labels) if cell_dy is None else np.asarray(cell_dy, dtype=np.int64).T
        self.mismatch = ((np.asarray(d)[:, None] != gd[None, :]).astype(np.float64)
                         + (np.asarray(y)[:, None] != gy[None, :]))
        starts = []
        for c in range(self.G):  # blocks of <= block points, never across cells
            lo, hi = int(self.cell_start[c]), int(self.cell_start[c + 1])
            k = -(-(hi - lo) // max(1, block)) if (prune and block) else 1
            starts += [lo + (hi - lo) * i // k for i in range(k)]
        self.block_start = np.array(starts + [self.m], dtype=np.int64)
        self.block_cell = np.searchsorted(self.cell_start, self.block_start[:-1], side="right") - 1
        self.cell_first_block = np.searchsorted(self.block_start[:-1], self.cell_start[:-1])
        self.B = len(self.block_start) - 1
        self.blocks_per_cell = np.diff(np.r_[self.cell_first_block, self.B])
        self.point_block = np.repeat(np.arange(self.B), np.diff(self.block_start))
        self.centers = None
        self.last_fraction = 1.0
        self._slack = 1e-9 if cost == "l1" else 1e-6  # sqrt of a rounded squared distance is less accurate
        self.fast32 = cost == "l1" and precision != "float64"
        if self.fast32:
            self.X32 = self.X.astype(np.float32)
            self.xround = np.abs(self.X - self.X32).sum(1)  # r_i
            p = self.X.shape[1]
            self.gamma = p * UNIT_ROUNDOFF32 / (1.0 - p * UNIT_ROUNDOFF32)
        self.tie_rows = 0  # float32 near-ties resolved exactly (last call)

    # ---- kernels
    def _metric(self, cx):
        return cx if self.cost == "l1" else np.sqrt(cx)

    def _finish(self, diff: np.ndarray) -> np.ndarray:
        """Σ_k |diff_k| (L1) or Σ_k diff_k² (squared L2) over the last axis, overwriting ``diff``: one summation
        order for every exact cost, so the same pair always gets the same float64 value."""
        np.abs(diff, out=diff) if self.cost == "l1" else np.multiply(diff, diff, out=diff)
        return diff.sum(-1)

    def _exact(self, rows, pts, centers):
        return self._finish(self.X[rows] - centers[pts])

    def _exact_rows(self, a: int, b: int, pts, centers):
        """``_exact(range(a, b), pts)`` without gathering X (same values: same subtraction and summation order)."""
        diff = centers[pts]
        return self._finish(np.subtract(self.X[a:b], diff, out=diff))

    def _exact_block(self, rows, lo: int, hi: int, centers):
        """Exact costs of ``rows`` to points lo..hi−1 (k x (hi − lo)); entry (i, j) equals ``_exact(i, lo + j)``."""
        return self._finish(self.X[rows][:, None, :] - centers[None, lo:hi, :])

    def _top2(self, xb: np.ndarray, C):
        """Kernel distances from the rows ``xb`` to the points C (torch): per row the nearest point's index and
        value and the second-smallest value (inf for a one-point block), as numpy arrays."""
        import torch

        xt = torch.as_tensor(xb, device=C.device)
        if self.cost == "l1":
            D = torch.cdist(xt, C, p=1)
        else:
            D = ((xt * xt).sum(1, keepdim=True) + (C * C).sum(1)[None, :] - 2.0 * xt @ C.T).clamp_min_(0.0)
        v1, j1 = D.min(1)
        if D.shape[1] > 1:
            D[torch.arange(len(D), device=D.device), j1] = float("inf")
            v2 = D.min(1).values.cpu().numpy()
        else:
            v2 = np.full(len(D), np.inf)
        return j1.cpu().numpy(), v1.cpu().numpy(), v2

    def _bound(self, v: np.ndarray, rows: np.ndarray, b: int) -> np.ndarray:
        """Lower bound (metric units, float64 slack included) on the exact cost behind kernel values ``v``."""
        v = v.astype(np.float64)
        if self.fast32:  # L(D̃)
            v = v * (1.0 - self.gamma) - self.xround[rows] - self._cround[b]
        v = self._metric(np.maximum(v, 0.0))
        return v - self._slack * (1.0 + v)

    def _search(self, rows: np.ndarray, b: int, centers: np.ndarray, old_j: np.ndarray, cur_x: np.ndarray):
        """Search block b for ``rows``: its nearest point j₁, e₁ = exact cost to j₁ (inf where the kernel's bound
        shows j₁ cannot beat ``cur_x``, the cell's best exact cost so far), a lower bound on the metric to every
        other point of b and one on every point of b. e₁ reuses the stored cost when j₁ is the stored j*."""
        import torch

        lo, hi = int(self.block_start[b]), int(self.block_start[b + 1])
        g = int(self.block_cell[b])
        src = self.X32 if self.fast32 else self.X
        C = torch.as_tensor(centers[lo:hi].astype(src.dtype), device=torch.device(self.device))
        chunk = int(self.chunk_rows or default_chunk(hi - lo))
        out_j = np.empty(len(rows), dtype=np.int64)
        out_e = np.full(len(rows), np.inf)
        out_other = np.full(len(rows), np.inf)
        out_all = np.empty(len(rows))
        for a in range(0, len(rows), chunk):
            r = rows[a:a + chunk]
            sl = slice(a, a + len(r))
            j1, v1, v2 = self._top2(src[r], C)
            j = j1 + lo
            low1 = self._bound(v1, r, b)
            low2 = self._bound(v2, r, b) if hi - lo > 1 else v2
            keep = old_j[r] == j
            cand = np.flatnonzero(keep | (low1 <= self._metric(cur_x[r])))
            ex = np.full(len(r), np.inf)
            ex[keep] = self.cx[g, r[keep]]
            new = cand[~keep[cand]]
            if len(new):
                ex[new] = self._exact(r[new], j[new], centers)
            if self.fast32 and hi - lo > 1:  # float32 near-tie inside the block: decide it in float64
                tie = cand[self._metric(ex[cand]) >= low2[cand]]
                if len(tie):
                    self.tie_rows += len(tie)
                    E = self._exact_block(r[tie], lo, hi, centers)
                    k1 = E.argmin(1)
                    j[tie] = k1 + lo
                    ex[tie] = E[np.arange(len(tie)), k1]
                    E[np.arange(len(tie)), k1] = np.inf
                    w2 = self._metric(E.min(1))
                    low2[tie] = w2 - self._slack * (1.0 + w2)
            me = self._metric(ex[cand])
            low1[cand] = np.minimum(low2[cand], me - self._slack * (1.0 + me))
            out_j[sl], out_e[sl], out_other[sl], out_all[sl] = j, ex, low2, low1
        return out_j, out_e, out_other, out_all

    def _refresh(self, centers: np.ndarray, move: np.ndarray):
        """cx_gi = exact cost to j*_gi for every pair whose point moved (all pairs, row-contiguous, when most did)."""
        moved = move[self.jstar] > 0
        step = max(256, 2 ** 16 // max(1, self.X.shape[1]))
        if moved.mean() > 0.25:
            def work(ab):
                a, b = ab
                for k in range(self.G):
                    self.cx[k, a:b] = self._exact_rows(a, b, self.jstar[k, a:b], centers)

            parallel_map(work, row_ranges(len(self.X), step))
            return
        gg, ii = np.nonzero(moved)

        def work_pairs(ab):
            i, g = ii[ab[0]:ab[1]], gg[ab[0]:ab[1]]
            self.cx[g, i] = self._exact(i, self.jstar[g, i], centers)

        parallel_map(work_pairs, row_ranges(len(ii), step))

    def __call__(self, centers: np.ndarray):
        """(c (n x G), jstar (n x G)) for these point features."""
        centers = np.array(centers, dtype=np.float64)
        n = len(self.X)
        self.tie_rows = 0
        if self.fast32:  # ρ_j, then its maximum per block
            cr = np.abs(centers - centers.astype(np.float32)).sum(1)
            self._cround = np.maximum.reduceat(cr, self.block_start[:-1])
        full = self.centers is None or not self.prune
        if full:
            self.jstar = np.full((self.G, n), -1, dtype=np.int32 if self.m < 2 ** 31 else np.int64)
            self.cx = np.full((self.G, n), np.inf)
            self.lower = np.empty((self.B, n))
            self.last_fraction = 1.0
        else:
            diff = centers - self.centers
            move = np.abs(diff).sum(1) if self.cost == "l1" else np.sqrt((diff * diff).sum(1))
            if not np.any(move > 0):
                self.last_fraction = 0.0
                self.centers = centers
                return self._output()
            self.lower -= np.maximum.reduceat(move, self.block_start[:-1])[:, None]
            self._refresh(centers, move)
        all_rows = np.arange(n)
        work = 0
        for g in range(self.G):
            old_j = self.jstar[g]
            cur_j, cur_x = old_j.copy(), self.cx[g].copy()
            first = int(self.cell_first_block[g])
            blocks = range(first, first + int(self.blocks_per_cell[g]))
            need = None if full else self._metric(self.cx[g])[None, :] > self.lower[first:blocks.stop]
            found = []
            for b in blocks:
                rows = all_rows if full else np.flatnonzero(need[b - first])
                work += len(rows) * int(self.block_start[b + 1] - self.block_start[b])
                if len(rows) == 0:
                    continue
                j, e, other, every = self._search(rows, b, centers, old_j, cur_x)
                cj, ce = cur_j[rows], cur_x[rows]
                better = (e < ce) | ((e == ce) & (j < cj))  # first point on exact ties
                cur_j[rows[better]] = j[better]
                cur_x[rows[better]] = e[better]
                found.append((b, rows, j, other, every))
            for b, rows, j, other, every in found:  # b's bound excludes the new j* only if j* is b's nearest
                self.lower[b, rows] = np.where(cur_j[rows] == j, other, every)
            if not full:  # j* left an unsearched block: that block's bound must now cover the old j*
                i = np.flatnonzero(cur_j != old_j)
                ob = self.point_block[old_j[i]]
                keep = ~need[ob - first, i]
                i, ob = i[keep], ob[keep]
                mo = self._metric(self.cx[g, i])
                self.lower[ob, i] = np.minimum(self.lower[ob, i], mo - self._slack * (1.0 + mo))
            self.jstar[g] = cur_j
            self.cx[g] = cur_x
        self.last_fraction = work / (n * self.m)
        self.centers = centers
        return self._output()

    def _output(self):
        c = np.add(self.cx.T, self.mismatch, out=np.empty(self.mismatch.shape))
        return c, np.ascontiguousarray(self.jstar.T, dtype=np.int64)


def aggregate(X: np.ndarray, centers: np.ndarray, cell_start: np.ndarray, d: np.ndarray, y: np.ndarray,
              n_labels: int, cost: str = "l1", chunk_rows: int | None = None, device: str = "cpu"):
    """One fresh ``CellNearest`` search: (c (n x G) float64, jstar (n x G) int64)."""
    return CellNearest(X, cell_start, d, y, n_labels, cost, chunk_rows, device)(centers)


# ---------------------------------------------------------------------------------------------- the plan
@dataclass
class Plan:
    """Aggregated plan in count units q = n·Q: row i sends ``q[i]`` to cell ``cell[i]`` (its main cell) and the
    few split rows send the rest as ``(extra_rows, extra_cells, extra_q)``. Every row's q sums to 1."""

    cell: np.ndarray
    q: np.ndarray
    extra_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    extra_cells: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    extra_q: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n(self) -> int:
        return len(self.cell)

    def cell_mass(self, G: int) -> np.ndarray:
        """T_g = Σ_i Q_ig (sums to 1)."""
        return (np.bincount(self.cell, self.q, minlength=G)
                + np.bincount(self.extra_cells, self.extra_q, minlength=G)) / self.n

    def value(self, c: np.ndarray) -> float:
        """<c, Q>."""
        v = np.take_along_axis(c, self.cell[:, None], 1)[:, 0] @ self.q
        return float((v + c[self.extra_rows, self.extra_cells] @ self.extra_q) / self.n)

    def triplets(self, jstar: np.ndarray):
        """(rows, points, weights in count units) of the transport plan P = Q mapped through j*_ig."""
        rows = np.concatenate([np.arange(self.n), self.extra_rows])
        cells = np.concatenate([self.cell, self.extra_cells])
        return rows, jstar[rows, cells], np.concatenate([self.q, self.extra_q])

    def dense(self, G: int) -> np.ndarray:
        """Q as a dense n x G array (tests)."""
        Q = np.zeros((self.n, G))
        Q[np.arange(self.n), self.cell] = self.q
        np.add.at(Q, (self.extra_rows, self.extra_cells), self.extra_q)
        return Q / self.n


@dataclass
class InnerResult:
    """Solution of F(C): plan, primal value, best dual value, multipliers and solver statistics."""

    plan: Plan
    value: float
    dual: float
    lam: np.ndarray
    certified: bool
    oracle_calls: int = 0
    lp_calls: int = 0
    lp_rows: int = 0
    seconds: float = 0.0
    radius: float = 0.0

    @property
    def gap(self) -> float:
        return self.value - self.dual


def _plan_from_lp(rows: np.ndarray, q: np.ndarray, base: Plan, n: int) -> Plan:
    """Merge the LP's split of ``rows`` (q: k x G, rows sum to 1) into a greedy plan."""
    q = np.where(q > 1e-12, q, 0.0)
    q /= q.sum(1, keepdims=True)
    main = q.argmax(1)
    cell = base.cell.copy()
    qq = base.q.copy()
    cell[rows] = main
    qq[rows] = q[np.arange(len(rows)), main]
    q[np.arange(len(rows)), main] = 0.0
    ri, gi = np.nonzero(q)
    return Plan(cell=cell, q=qq, extra_rows=rows[ri].astype(np.int64), extra_cells=gi.astype(np.int64),
                extra_q=q[ri, gi])


def restricted_lp(c_rows: np.ndarray, A: np.ndarray, fixed_mass: np.ndarray, margin: float = 0.0,
                  method: str = "highs-ds", options: dict | None = None):
    """The aggregated LP over k free rows (count units): min Σ c q, Σ_g q_ig = 1, q >= 0,
    Ã (fixed_mass + Σ_i q_i.) >= margin. Variables (q (k·G), T (G)) with T_g = Σ_i q_ig.

    Returns (q (k x G), λ (h,), objective, seconds) or None when infeasible.
    """
    k, G = c_rows.shape
    h = len(A)
    nv = k * G + G
    obj = np.concatenate([c_rows.ravel(), np.zeros(G)])
    ar = np.arange(k * G)
    rows = np.concatenate([ar // G, k + ar % G, k + np.arange(G)])
    cols = np.concatenate([ar, ar, k * G + np.arange(G)])
    vals = np.concatenate([np.ones(2 * k * G), -np.ones(G)])
    A_eq = sp.csr_matrix((vals, (rows, cols)), shape=(k + G, nv))
    b_eq = np.concatenate([np.ones(k), np.zeros(G)])
    kw = {}
    if h:
        kw["A_ub"] = sp.hstack([sp.csr_matrix((h, k * G)), sp.csr_matrix(-A)]).tocsr()
        kw["b_ub"] = A @ fixed_mass - margin
    t0 = time.perf_counter()
    res = linprog(obj, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method=method,
                  options=dict(_HIGHS_TOL if options is None else options), **kw)
    secs = time.perf_counter() - t0
    if res.status == 2:
        return None
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed on the FWC repair LP ({res.message})")
    lam = np.maximum(-res.ineqlin.marginals, 0.0) if h else np.zeros(0)
    return res.x[:k * G].reshape(k, G), lam, float(res.fun), secs


# ------------------------------------------------------------------------------------------ analytic centre
def analytic_centre(M: np.ndarray, b: np.ndarray, x0: np.ndarray, iters: int = 80) -> np.ndarray | None:
    """argmax_x Σ_r log(M_r x − b_r) by Newton's method, started at ``x0`` (feasible or not: infeasible-start
    Newton with slacks); falls back to a Chebyshev-centre LP. None when the set has (numerically) no interior."""
    x = np.array(x0, dtype=np.float64)
    s = M @ x - b
    feasible = bool(np.all(s > 0))
    if not feasible:
        floor = 1e-3 * max(1e-12, float(np.abs(s).max()))
        s = np.maximum(s, floor)
    for _ in range(iters):
        rp = (M @ x - s - b) if not feasible else np.zeros_like(s)
        w = 1.0 / s
        H = (M * (w * w)[:, None]).T @ M
        rhs = M.T @ (w - rp * w * w)
        try:
            dx = np.linalg.solve(H, rhs)
        except np.linalg.LinAlgError:
            dx = np.linalg.lstsq(H, rhs, rcond=None)[0]
        ds = M @ dx + rp
        neg = ds < 0
        tmax = min(1.0, 0.99 * float(np.min(-s[neg] / ds[neg]))) if neg.any() else 1.0
        if not feasible:
            x = x + tmax * dx
            if tmax >= 1.0:
                s = M @ x - b
                feasible = bool(np.all(s > 0))
                if not feasible:
                    s = np.maximum(s, 1e-3 * max(1e-12, float(np.abs(s).max())))
            else:
                s = s + tmax * ds
            continue
        dec = float(dx @ H @ dx)
        if dec < 1e-14:
            return x
        f0 = -np.log(s).sum()
        t = tmax
        while t > 1e-12:
            s_new = M @ (x + t * dx) - b
            if np.all(s_new > 0) and -np.log(s_new).sum() <= f0 - 0.25 * t * dec:
                break
            t *= 0.5
        if t <= 1e-12:
            return x
        x = x + t * dx
        s = M @ x - b
    if feasible:
        return x
    # Chebyshev centre: max r s.t. M x − b >= r ‖M_r‖
    norms = np.linalg.norm(M, axis=1)
    res = linprog(np.r_[np.zeros(M.shape[1]), -1.0], A_ub=np.c_[-M, norms[:, None]], b_ub=-b,
                  bounds=[(None, None)] * M.shape[1] + [(0, None)], method="highs")
    if res.status != 0 or res.x[-1] <= 1e-12 * max(1.0, float(np.abs(b).max())):
        return None
    return analytic_centre(M, b, res.x[:-1], iters) if np.all(M @ res.x[:-1] - b > 0) else None


# -------------------------------------------------------------------------------------------------- solver
class InnerSolver:
    """Solves F(C) from the aggregated costs ``c`` (n x G) and the parity rows ``A`` (h x G); see module doc."""

    def __init__(self, c: np.ndarray, A: np.ndarray, *, tol: float = 1e-9, max_steps: int = 200, k0: int = 64,
                 margin: float = 1e-9, newton_steps: int = 6):
        self.c = np.ascontiguousarray(c, dtype=np.float64)
        self.cT = np.ascontiguousarray(self.c.T)
        self.A = np.asarray(A, dtype=np.float64)
        self.n, self.G = self.c.shape
        self.h = len(self.A)
        self.tol, self.max_steps, self.k0, self.margin = tol, max_steps, k0, margin
        self.newton_steps = newton_steps
        self._pass = None  # (λ, _reduced(λ, second=True)) of the last Newton pass, reused by recover
        self.calls = 0
        self.lp_calls = 0
        self.used_margin = margin

    # ---- oracle
    def _reduced(self, lam: np.ndarray, second: bool = False):
        """Per row: min_g (c_ig − μ_g), its argmin g* (first on ties) and, optionally, the second-smallest value and
        its cell. A loop over the G columns of cᵀ (faster than argmin along a short axis), on row ranges in
        parallel. Returns (best, g*, second, second cell); the last two are None unless ``second``."""
        mu = self.A.T @ lam if self.h else np.zeros(self.G)
        best = np.empty(self.n)
        g = np.zeros(self.n, dtype=np.int64)
        sec = np.full(self.n, np.inf) if second else None
        g2 = np.zeros(self.n, dtype=np.int64) if second else None

        def work(ab):
            a, b = ab
            bst, gg = best[a:b], g[a:b]
            np.subtract(self.cT[0, a:b], mu[0], out=bst)
            v = np.empty(b - a)
            better = np.empty(b - a, dtype=bool)
            if second:
                sc, s2, below = sec[a:b], g2[a:b], np.empty(b - a, dtype=bool)
            for k in range(1, self.G):
                np.subtract(self.cT[k, a:b], mu[k], out=v)
                np.less(v, bst, out=better)
                if second:  # the runner-up becomes the old best where v wins, else v where v beats it
                    np.less(v, sc, out=below)
                    np.copyto(s2, k, where=below)
                    np.minimum(sc, v, out=sc)
                    np.copyto(sc, bst, where=better)
                    np.copyto(s2, gg, where=better)
                np.copyto(gg, k, where=better)
                np.minimum(bst, v, out=bst)

        parallel_map(work, row_ranges(self.n, 1 << 15))
        return best, g, sec, g2

    def oracle(self, lam: np.ndarray, reduced=None):
        """φ(λ), supergradient −Ã T(λ), greedy cells g* and the cell masses T(λ) (from ``reduced``, a
        ``_reduced(λ)`` already computed, when given)."""
        self.calls += 1
        best, g = (reduced or self._reduced(lam))[:2]
        phi = float(best.sum() / self.n)
        T = np.bincount(g, minlength=self.G) / self.n
        return phi, -(self.A @ T), g, T

    def _tolerance(self, value: float, lam: np.ndarray) -> float:
        return self.tol * max(1.0, abs(value)) + 2.0 * self.used_margin * float(np.sum(lam)) / self.n

    # ---- primal recovery
    def recover(self, lam: np.ndarray, k: int, method: str = "highs-ds"):
        """Greedy plan at λ with the k smallest-gap rows re-split by the exact LP. None if that LP is infeasible."""
        if self._pass is not None and np.array_equal(self._pass[0], lam):
            best, g, sec, _ = self._pass[1]
        else:
            best, g, sec, _ = self._reduced(lam, second=k < self.n)
        if k >= self.n:
            free = np.arange(self.n)
        else:
            free = np.sort(np.argpartition(sec - best, k)[:k])
        fixed = np.ones(self.n, bool)
        fixed[free] = False
        fixed_mass = np.bincount(g[fixed], minlength=self.G).astype(np.float64)
        margin = self.margin
        for _ in range(3):
            out = restricted_lp(self.c[free], self.A, fixed_mass, margin, method=method)
            self.lp_calls += 1
            if out is None:
                return None
            plan = _plan_from_lp(free, out[0], Plan(cell=g, q=np.ones(self.n)), self.n)
            if self.h == 0 or (self.A @ plan.cell_mass(self.G)).min() >= 0.0:
                self.used_margin = max(self.used_margin, margin)
                return plan, out[1]
            margin *= 100.0
        raise RuntimeError("FWC repair LP: could not reach exact feasibility; the parity constraints are too tight "
                           "for the solver tolerance")

    # ---- Newton polish of a warm start
    def _newton_step(self, lam: np.ndarray, T: np.ndarray, gap: np.ndarray, g: np.ndarray, g2: np.ndarray):
        """One Newton step on the binding parity rows, or None when λ needs none (semi-discrete transport view).

        Raising μ_{g'} by t moves to g' the rows whose best cell is g, runner-up g' and gap < t, so
        ∂T/∂μ ≈ L = diag(W1) − W with W_{gg'} the density (rows per unit gap, over n) of such rows in both
        directions, estimated on the ``NEWTON_BAND`` smallest gaps. With r = Ã T and S the rows with λ_r > 0 (the
        binding set stays that of the start: parity rows come in near-parallel pairs, so adding violated ones makes
        the system near-singular), solve Ã_S L Ã_Sᵀ Δ = −r_S (least squares) and project λ_S + Δ on λ >= 0. Only
        proposes the next point: certification still comes from weak duality, so a poor step costs one oracle call,
        never accuracy. None once every residual is within the repair LP's reach (k0/8 rows) or S is empty.
        """
        r = self.A @ T
        S = lam > 0
        if not S.any() or np.abs(np.r_[r[S], np.minimum(r[~S], 0.0)]).max() * self.n <= 0.125 * self.k0:
            return None
        sample = gap[::max(1, self.n // 65536)]  # the band's width from a regular subsample of the gaps
        q = min(len(sample) - 1, max(16, int(NEWTON_BAND * len(sample))))
        eps = float(np.partition(sample, q)[q])
        if not np.isfinite(eps) or eps <= 0.0:
            return None
        band = gap <= eps
        W = np.zeros((self.G, self.G))
        np.add.at(W, (g[band], g2[band]), 1.0 / (self.n * eps))
        W = 0.5 * (W + W.T)  # one side of each boundary: rows in g within t of g' plus those in g' within t of g, halved
        L = np.diag(W.sum(1)) - W
        AS = self.A[S]
        step = np.linalg.lstsq(AS @ L @ AS.T, -r[S], rcond=None)[0]
        new = lam.copy()
        new[S] = np.maximum(lam[S] + step, 0.0)
        return new

    # ---- main
    def solve(self, lam0: np.ndarray | None = None, radius: float | None = None) -> InnerResult:
        t0 = time.perf_counter()
        n, h = self.n, self.h
        if h == 0:
            phi, _, g, _ = self.oracle(np.zeros(0))
            plan = Plan(cell=g, q=np.ones(n))
            return InnerResult(plan, plan.value(self.c), phi, np.zeros(0), True, self.calls, 0, 0,
                               time.perf_counter() - t0, 0.0)
        S, off = [], []  # cuts: φ(λ) <= off_k + S_k·λ
        st = {"best": -np.inf, "lam": np.zeros(h), "plan": None, "value": np.inf, "plam": None}

        def evaluate(lam, reduced=None):
            phi, s, g, T = self.oracle(lam, reduced)
            S.append(s)
            off.append(phi - s @ lam)
            if phi > st["best"]:
                st["best"], st["lam"] = phi, lam.copy()
            AT = -s
            if AT.min() >= 0 and abs(lam @ AT) <= 1e-15 * max(1.0, abs(phi)):  # greedy plan feasible, compl. slack
                plan = Plan(cell=g, q=np.ones(n))
                val = plan.value(self.c)
                if val < st["value"]:
                    st.update(value=val, plan=plan, plam=lam.copy())
            return phi, T

        def certified():
            return st["plan"] is not None and st["value"] - st["best"] <= self._tolerance(st["value"], st["plam"])

        k = [min(self.k0, n)]

        def attempt(grow: bool = True):
            while True:
                out = self.recover(st["lam"], k[0])
                if out is not None:
                    break
                if k[0] >= n:
                    raise RuntimeError("FWC inner LP is infeasible; check that every (group, label) cell has a point")
                if not grow:  # λ still rough: more cutting planes are cheaper than a bigger repair LP
                    return False
                k[0] = min(n, 4 * k[0])
            plan, lam_r = out
            val = plan.value(self.c)
            if val < st["value"]:
                st.update(value=val, plan=plan, plam=lam_r)
            evaluate(lam_r)
            if not certified():
                k[0] = min(n, 2 * k[0])
            return certified()

        warm = lam0 is not None and len(lam0) == h and np.any(lam0 > 0)
        if not warm:
            evaluate(np.zeros(h))
        else:
            lam = np.asarray(lam0, dtype=np.float64)
            if self.newton_steps == 0:
                evaluate(lam)
            for _ in range(self.newton_steps):  # polish λ₀ before the repair (the cuts stay valid)
                best, g, sec, g2 = self._reduced(lam, second=True)
                self._pass = (lam, (best, g, sec, g2))
                prev = st["best"]
                phi, T = evaluate(lam, self._pass[1])
                downhill = phi < prev  # then leave it to the repair and the cutting planes
                lam = None if downhill else self._newton_step(lam, T, sec - best, g, g2)
                if lam is None:
                    break
        if certified() or (lam0 is not None and attempt(grow=False)):
            return self._result(st, t0, radius or 0.0, k[0])
        R = float(radius or 10.0 * max(float(self.c.max()), 1e-12))
        while R <= 1.25 * float(st["lam"].max()):
            R *= 2.0
        x = np.full(h, 0.5 * R)
        every = max(3, h // 2)
        steps = 0
        while True:
            while steps < self.max_steps:
                best = st["best"]
                M = np.vstack([np.asarray(S), np.eye(h), -np.eye(h)])
                b = np.concatenate([best - np.asarray(off), np.zeros(h), -np.full(h, R)])
                xc = analytic_centre(M, b, x)
                if xc is None:
                    break
                x = xc
                evaluate(x)
                steps += 1
                if steps % every == 0 and attempt(grow=False):
                    return self._result(st, t0, R, k[0])
            if attempt():
                return self._result(st, t0, R, k[0])
            if st["lam"].max() >= (1 - 1e-6) * R and R < 1e12:
                R *= 2.0
                x = np.minimum(np.maximum(st["lam"], 1e-3 * R), 0.5 * R)
                steps = max(0, steps - 20)
                continue
            while k[0] < n and not certified():  # exhaust: grow the repaired set up to the full LP
                k[0] = min(n, 4 * k[0])
                attempt()
            return self._result(st, t0, R, k[0])

    def _result(self, st, t0, R, k) -> InnerResult:
        return InnerResult(st["plan"], float(st["value"]), float(st["best"]), st["plam"], self._is_cert(st),
                           self.calls, self.lp_calls, int(k), time.perf_counter() - t0, float(R))

    def _is_cert(self, st) -> bool:
        return st["plan"] is not None and st["value"] - st["best"] <= self._tolerance(st["value"], st["plam"])


def solve_highs(c: np.ndarray, A: np.ndarray, method: str = "highs", margin: float = 1e-9) -> InnerResult:
    """The aggregated n x G LP in one HiGHS call (``method`` "highs", "highs-ipm" or "highs-ds"), with the same
    exact-feasibility margin as the repair step; its multipliers give the dual value."""
    t0 = time.perf_counter()
    n = len(c)
    solver = InnerSolver(c, A, margin=margin)
    if len(A) == 0:
        return solver.solve()
    out = solver.recover(np.zeros(len(A)), n, method=method)
    if out is None:
        raise RuntimeError("FWC inner LP is infeasible; check that every (group, label) cell has a point")
    plan, lam = out
    phi = solver.oracle(lam)[0]
    val = plan.value(c)
    return InnerResult(plan, val, phi, lam, val - phi <= solver._tolerance(val, lam), 1, solver.lp_calls, n,
                       time.perf_counter() - t0, 0.0)


def solve_inner(c: np.ndarray, A: np.ndarray, solver: str = "accpm", lam0: np.ndarray | None = None,
                **kw) -> InnerResult:
    """Solve F(C) with ``solver`` ("accpm": cutting planes + exact repair; "highs": one HiGHS LP)."""
    if solver == "accpm":
        return InnerSolver(c, A, **kw).solve(lam0)
    if solver == "highs":
        return solve_highs(c, A)
    raise ConfigError(f"solver={solver!r} is unknown; choose one of {list(SOLVERS)}")
