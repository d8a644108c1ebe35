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
Warm start: the previous MM iteration's λ is tried first, which usually certifies at once (two oracle calls, one LP).

``solver="highs"`` solves the aggregated n x G LP in one go with HiGHS (the test oracle).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ...errors import ConfigError

SOLVERS = ("accpm", "highs")
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
    """Rows per cost chunk: about 8 MiB of float64 cost entries (cache-friendly; faster than bigger chunks)."""
    return max(256, int(2 ** 20 // max(1, m)))


class CellNearest:
    """c_ig = min_{j in g} C_ij and j*_ig = argmin for cells g whose points are ``centers[cell_start[g]:
    cell_start[g+1]]``, with C_ij = c_X(X_i, x̂_j) + 1[d_i != d_g] + 1[y_i != y_g] (encoding.py).

    The n x m cost is computed ``chunk_rows`` rows at a time (torch kernel on ``device``) and never stored; the
    chosen entries are recomputed exactly in float64, so c depends neither on the chunking nor on the kernel's
    rounding. Across calls (MM iterations) exact bounds skip most of the work (Hamerly / Yinyang k-means): blocks
    are the cells (default; measured fastest) or, with ``block``, pieces of at most that many points; with the metric δ(x, x') = ‖x − x'‖₁ (L1) or ‖x − x'‖₂
    (squared L2) keep per (row, block) the distance u_ib to the block's nearest point and a lower bound l_ib on the
    distance to its other points. When the points move by δ_j, l_ib drops by max_{j in b} δ_j (triangle
    inequality), u_ib is recomputed exactly, and only the (row, block) pairs with u_ib > l_ib are searched again.
    The result equals a fresh search (up to exact ties in the argmin, which do not change c).
    """

    def __init__(self, X: np.ndarray, cell_start: np.ndarray, d: np.ndarray, y: np.ndarray, n_labels: int,
                 cost: str = "l1", chunk_rows: int | None = None, device: str = "cpu", prune: bool = True,
                 block: int | None = None):
        self.X = np.asarray(X, dtype=np.float64)
        self.cell_start = np.asarray(cell_start, dtype=np.int64)
        if np.any(np.diff(self.cell_start) < 1):
            raise ConfigError("every (group, label) cell needs at least one coreset point")
        self.G = len(self.cell_start) - 1
        self.m = int(self.cell_start[-1])
        self.cost, self.device, self.prune = cost, device, prune
        self.chunk = int(chunk_rows or default_chunk(self.m))
        g = np.arange(self.G)
        self.mismatch = ((np.asarray(d)[:, None] != (g // n_labels)[None, :]).astype(np.float64)
                         + (np.asarray(y)[:, None] != (g % n_labels)[None, :]))
        starts = []
        for c in range(self.G):  # blocks of <= block points, never across cells
            lo, hi = int(self.cell_start[c]), int(self.cell_start[c + 1])
            k = -(-(hi - lo) // max(1, block)) if (prune and block) else 1
            starts += [lo + (hi - lo) * i // k for i in range(k)]
        self.block_start = np.array(starts + [self.m], dtype=np.int64)
        self.block_cell = np.searchsorted(self.cell_start, self.block_start[:-1], side="right") - 1
        self.cell_first_block = np.searchsorted(self.block_start[:-1], self.cell_start[:-1])
        self.B = len(self.block_start) - 1
        self.centers = None
        self.last_fraction = 1.0
        self._slack = 1e-9 if cost == "l1" else 1e-6  # sqrt of a rounded squared distance is less accurate

    # ---- kernels
    def _metric(self, cx):
        return cx if self.cost == "l1" else np.sqrt(cx)

    def _exact(self, rows, pts, centers):
        diff = self.X[rows] - centers[pts]
        return np.abs(diff).sum(-1) if self.cost == "l1" else (diff * diff).sum(-1)

    def _dist(self, xb: np.ndarray, centers: np.ndarray) -> np.ndarray:
        import torch

        dev = torch.device(self.device)
        xt = torch.as_tensor(xb, device=dev)
        C = torch.as_tensor(centers, device=dev)
        if self.cost == "l1":
            D = torch.cdist(xt, C, p=1)
        else:
            D = ((xt * xt).sum(1, keepdim=True) + (C * C).sum(1)[None, :] - 2.0 * xt @ C.T).clamp_min_(0.0)
        return D.cpu().numpy() if dev.type != "cpu" else D.numpy()

    def _search(self, rows: np.ndarray, blocks: list[int], centers: np.ndarray):
        """Full search of ``blocks`` (consecutive) for ``rows``: nearest point, exact distance, second-best bound."""
        lo, hi = int(self.block_start[blocks[0]]), int(self.block_start[blocks[-1] + 1])
        for a in range(0, len(rows), self.chunk):
            r = rows[a:a + self.chunk]
            D = self._dist(self.X[r], centers[lo:hi])
            ar = np.arange(len(r))
            for b in blocks:
                s, e = int(self.block_start[b]) - lo, int(self.block_start[b + 1]) - lo
                blk = D[:, s:e]
                j1 = blk.argmin(1)
                if e - s > 1:
                    blk[ar, j1] = np.inf
                    v2 = self._metric(blk.min(1))
                    self.lower[r, b] = v2 - self._slack * (1.0 + v2)  # kernel rounding
                else:
                    self.lower[r, b] = np.inf
                self.jstar[r, b] = j1 + s + lo
                self.cx[r, b] = self._exact(r, self.jstar[r, b], centers)

    def __call__(self, centers: np.ndarray):
        """(c (n x G), jstar (n x G)) for these point features."""
        centers = np.array(centers, dtype=np.float64)
        n = len(self.X)
        if self.centers is None or not self.prune:
            self.jstar = np.empty((n, self.B), dtype=np.int32 if self.m < 2 ** 31 else np.int64)
            self.cx = np.empty((n, self.B))
            self.lower = np.empty((n, self.B))
            self._search(np.arange(n), list(range(self.B)), centers)
            self.last_fraction = 1.0
        else:
            diff = centers - self.centers
            move = np.abs(diff).sum(1) if self.cost == "l1" else np.sqrt((diff * diff).sum(1))
            if np.any(move > 0):
                self.lower -= np.maximum.reduceat(move, self.block_start[:-1])[None, :]
                ii, bb = np.nonzero(move[self.jstar] > 0)
                step = max(1, 2 ** 22 // max(1, self.X.shape[1]))
                for a in range(0, len(ii), step):
                    i, b = ii[a:a + step], bb[a:a + step]
                    self.cx[i, b] = self._exact(i, self.jstar[i, b], centers)
                need = self._metric(self.cx) > self.lower
                for b in range(self.B):
                    rows = np.flatnonzero(need[:, b])
                    if len(rows):
                        self._search(rows, [b], centers)
                self.last_fraction = float(need.mean())
            else:
                self.last_fraction = 0.0
        self.centers = centers
        first = self.cell_first_block
        if self.B == self.G:
            cx, jstar = self.cx, self.jstar.astype(np.int64)
        else:
            cx = np.minimum.reduceat(self.cx, first, axis=1)
            jstar = np.empty((n, self.G), dtype=np.int64)
            for g in range(self.G):
                lo, hi = first[g], (first[g + 1] if g + 1 < self.G else self.B)
                k = self.cx[:, lo:hi].argmin(1)
                jstar[:, g] = self.jstar[np.arange(n), lo + k]
        return cx + self.mismatch, jstar


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
                 margin: float = 1e-9):
        self.c = np.ascontiguousarray(c, dtype=np.float64)
        self.cT = np.ascontiguousarray(self.c.T)
        self.A = np.asarray(A, dtype=np.float64)
        self.n, self.G = self.c.shape
        self.h = len(self.A)
        self.tol, self.max_steps, self.k0, self.margin = tol, max_steps, k0, margin
        self.calls = 0
        self.lp_calls = 0
        self.used_margin = margin

    # ---- oracle
    def _reduced(self, lam: np.ndarray, second: bool = False):
        """Per row: min_g (c_ig − μ_g), its argmin g* (first on ties) and, optionally, the second-smallest value.
        A loop over the G columns of cᵀ: faster than argmin along a short axis."""
        mu = self.A.T @ lam if self.h else np.zeros(self.G)
        best = self.cT[0] - mu[0]
        g = np.zeros(self.n, dtype=np.int64)
        sec = np.full(self.n, np.inf) if second else None
        for k in range(1, self.G):
            v = self.cT[k] - mu[k]
            better = v < best
            if second:
                np.minimum(sec, np.where(better, best, v), out=sec)
            g[better] = k
            np.minimum(best, v, out=best)
        return best, g, sec

    def oracle(self, lam: np.ndarray):
        """φ(λ), supergradient −Ã T(λ), greedy cells g*."""
        self.calls += 1
        best, g, _ = self._reduced(lam)
        phi = float(best.sum() / self.n)
        T = np.bincount(g, minlength=self.G) / self.n
        return phi, -(self.A @ T), g

    def _tolerance(self, value: float, lam: np.ndarray) -> float:
        return self.tol * max(1.0, abs(value)) + 2.0 * self.used_margin * float(np.sum(lam)) / self.n

    # ---- primal recovery
    def recover(self, lam: np.ndarray, k: int, method: str = "highs-ds"):
        """Greedy plan at λ with the k smallest-gap rows re-split by the exact LP. None if that LP is infeasible."""
        best, g, sec = self._reduced(lam, second=k < self.n)
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

    # ---- main
    def solve(self, lam0: np.ndarray | None = None, radius: float | None = None) -> InnerResult:
        t0 = time.perf_counter()
        n, h = self.n, self.h
        if h == 0:
            phi, _, g = self.oracle(np.zeros(0))
            plan = Plan(cell=g, q=np.ones(n))
            return InnerResult(plan, plan.value(self.c), phi, np.zeros(0), True, self.calls, 0, 0,
                               time.perf_counter() - t0, 0.0)
        S, off = [], []  # cuts: φ(λ) <= off_k + S_k·λ
        st = {"best": -np.inf, "lam": np.zeros(h), "plan": None, "value": np.inf, "plam": None}

        def evaluate(lam):
            phi, s, g = self.oracle(lam)
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
            return phi

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

        evaluate(np.zeros(h))
        if lam0 is not None and len(lam0) == h and np.any(lam0 > 0):
            evaluate(np.asarray(lam0, dtype=np.float64))
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
