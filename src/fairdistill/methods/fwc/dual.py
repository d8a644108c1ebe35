"""FWC's inner problem F(C) and its FairWASP-style dual solver (METHODS.md §6, steps 2-4).

Problem. Rows i = 1..n (mass 1/n), coreset points j = 1..m grouped in cells g = (d, y) (G = |D||Y|), cost C_ij:

    F(C) = min_P <C, P>   s.t.  P 1_m = 1_n / n,  P >= 0,  Ã T >= 0,  T_g = Σ_{i, j in g} P_ij,

where Ã (h x G, h = 2|D||Y|) holds the parity rows of ``fairness_matrix``. Only the cheapest point of each cell can
receive mass from a row, so with c_ig = min_{j in g} C_ij (nearest.py: computed row by row, never storing C)
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
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ...errors import ConfigError, SolverError, check_choice
from ...jit import kernel
from .parallel import parallel_map, task_ranges

SOLVERS = ("accpm", "highs")
HIGHS_OPTIONS = ("margin", "tol")  # the InnerSolver options that solver="highs" uses
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


def _plan_from_lp(rows: np.ndarray, q: np.ndarray, base: Plan) -> Plan:
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
def _too_tight(n: int, margin: float) -> SolverError:
    """The failure a user can cause: no plan on the n rows meets the parity rows with the margin (ε too small)."""
    return SolverError(f"the parity constraints are too tight for an exactly feasible plan on {n} rows at the "
                       f"solver's margin {margin:g}; use a larger epsilon")


@dataclass
class _SolveState:
    """What one ``InnerSolver.solve`` knows so far: the cuts φ(λ) <= offsets_k + cuts_k·λ of every oracle call,
    the best dual value ``best`` = max φ (at ``lam``), the best exactly feasible plan (``value``, with the dual point
    ``plam`` that certifies it) and ``k``, the row count of the next repair LP."""

    lam: np.ndarray
    k: int
    best: float = -np.inf
    plan: Plan | None = None
    value: float = np.inf
    plam: np.ndarray | None = None
    cuts: list = field(default_factory=list)
    offsets: list = field(default_factory=list)

    def record(self, lam: np.ndarray, phi: float, s: np.ndarray, g: np.ndarray, c: np.ndarray) -> None:
        """Add the oracle's answer at λ (φ(λ), supergradient s, greedy cells g; costs c): its cut, λ if it is the
        best dual point so far, and the greedy plan if it is feasible and complementary slack (hence optimal)."""
        self.cuts.append(s)
        self.offsets.append(phi - s @ lam)
        if phi > self.best:
            self.best, self.lam = phi, lam.copy()
        AT = -s
        if AT.min() >= 0 and abs(lam @ AT) <= 1e-15 * max(1.0, abs(phi)):
            plan = Plan(cell=g, q=np.ones(len(g)))
            self.offer(plan, plan.value(c), lam.copy())

    def offer(self, plan: Plan, value: float, lam: np.ndarray) -> None:
        """Keep ``plan`` (primal value ``value``, dual point ``lam``) if it is better than the best plan so far."""
        if value < self.value:
            self.plan, self.value, self.plam = plan, value, lam

    def certified(self, tolerance: Callable[[float, np.ndarray], float]) -> bool:
        """Weak duality: the best plan's value exceeds the best dual value by at most ``tolerance(value, plam)``."""
        return self.plan is not None and self.value - self.best <= tolerance(self.value, self.plam)


@kernel
def _reduce_rows(a, b, c, mu, best, g, sec, g2):
    """Rows a..b−1: best_i = min_k (c_ik − μ_k), g_i its first argmin, sec_i / g2_i the runner-up (a value equal
    to the best counts as runner-up; inf and 0 with one cell)."""
    for i in range(a, b):
        bst, gg, sc, s2 = c[i, 0] - mu[0], 0, np.inf, 0
        for k in range(1, c.shape[1]):
            v = c[i, k] - mu[k]
            if v < bst:
                sc, s2, bst, gg = bst, gg, v, k
            elif v < sc:
                sc, s2 = v, k
        best[i], g[i], sec[i], g2[i] = bst, gg, sc, s2


class InnerSolver:
    """Solves F(C) from the aggregated costs ``c`` (n x G) and the parity rows ``A`` (h x G); see module doc."""

    def __init__(self, c: np.ndarray, A: np.ndarray, *, tol: float = 1e-9, max_steps: int = 200, k0: int = 64,
                 margin: float = 1e-9, newton_steps: int = 6):
        self.c = np.ascontiguousarray(c, dtype=np.float64)
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
        its cell (``_reduce_rows`` on row ranges in parallel). Returns (best, g*, second, second cell); the last two
        are None unless ``second``."""
        mu = self.A.T @ lam if self.h else np.zeros(self.G)
        best, sec = np.empty(self.n), np.empty(self.n)  # the kernel writes every entry
        g, g2 = np.empty(self.n, dtype=np.int64), np.empty(self.n, dtype=np.int64)
        parallel_map(lambda ab: _reduce_rows(ab[0], ab[1], self.c, mu, best, g, sec, g2),
                     task_ranges(self.n, 1 << 16))
        return (best, g, sec, g2) if second else (best, g, None, None)

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
        """Greedy plan at λ with the k smallest-gap rows re-split by the exact LP. None if that LP is infeasible;
        ``SolverError`` if its plan misses exact feasibility even with the margin raised 100- and 10,000-fold."""
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
            plan = _plan_from_lp(free, out[0], Plan(cell=g, q=np.ones(self.n)))
            if self.h == 0 or (self.A @ plan.cell_mass(self.G)).min() >= 0.0:
                self.used_margin = max(self.used_margin, margin)
                return plan, out[1]
            margin *= 100.0
        raise _too_tight(self.n, self.margin)  # rounding broke exact feasibility even at 100^2 x the margin

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
        """Solve F(C) = min Σ_ig c_ig Q_ig s.t. Σ_g Q_ig = 1/n, Q >= 0, Ã Σ_i Q_i. >= 0 through its dual
        max_{λ >= 0} φ(λ) (module doc).

        Starts at ``lam0`` (the previous MM iteration's multipliers, polished by Newton steps; None or all zero:
        λ = 0) and, when ``lam0`` is given, tries the exact-feasibility repair there (``_warm_start``); otherwise
        runs analytic-centre cutting planes in the box 0 <= λ <= R (R = ``radius``, default 10·max c, doubled while
        the best λ touches it), repairing every few steps (``_cutting_planes``). The stopping certificate is the
        weak duality gap: value(plan) − max φ <= tol·max(1, |value|) (plus the margin's share, ``_tolerance``), so
        the exactly feasible plan is optimal to that tolerance. When the cutting planes stall, the repair LP grows
        up to all n rows (the full LP).

        Returns an ``InnerResult``: the plan, its value, the best dual value, the dual point that certifies the plan
        (the next call's ``lam0``), whether the gap met the tolerance, oracle and LP calls, the repair LP's rows, the
        seconds and the final R. Raises ``SolverError`` when even the full LP has no plan that meets the parity
        rows with the margin (epsilon too small for the data).
        """
        t0 = time.perf_counter()
        if self.h == 0:
            phi, _, g, _ = self.oracle(np.zeros(0))
            plan = Plan(cell=g, q=np.ones(self.n))
            return InnerResult(plan, plan.value(self.c), phi, np.zeros(0), True, self.calls, 0, 0,
                               time.perf_counter() - t0, 0.0)
        st = _SolveState(lam=np.zeros(self.h), k=min(self.k0, self.n))
        if self._warm_start(st, lam0):
            return self._result(st, t0, radius or 0.0)
        return self._cutting_planes(st, t0, radius)

    def _evaluate(self, st: _SolveState, lam: np.ndarray, reduced=None):
        """One oracle call at λ, recorded in ``st``; returns (φ(λ), T(λ))."""
        phi, s, g, T = self.oracle(lam, reduced)
        st.record(lam, phi, s, g, self.c)
        return phi, T

    def _repair(self, st: _SolveState, grow: bool = True) -> bool:
        """Exact-feasibility repair at the best λ with ``st.k`` free rows; the plan and its LP multipliers go into
        ``st``. An infeasible repair LP grows k 4-fold (``grow``; else returns False: while λ is still rough, more
        cutting planes are cheaper than a bigger LP), a repair that does not certify doubles k for the next one.
        True when certified."""
        while True:
            out = self.recover(st.lam, st.k)
            if out is not None:
                break
            if st.k >= self.n:
                raise _too_tight(self.n, self.margin)
            if not grow:
                return False
            st.k = min(self.n, 4 * st.k)
        plan, lam_r = out
        st.offer(plan, plan.value(self.c), lam_r)
        self._evaluate(st, lam_r)
        done = st.certified(self._tolerance)
        if not done:
            st.k = min(self.n, 2 * st.k)
        return done

    def _warm_start(self, st: _SolveState, lam0: np.ndarray | None) -> bool:
        """Evaluate the start: λ = 0 without a usable ``lam0``; else ``lam0`` and up to ``newton_steps`` Newton
        steps from it (stopping when φ drops or λ needs no step; every point evaluated, so its cut stays valid).
        Then, when ``lam0`` was given, one repair without growing k. True when the start is already certified."""
        if not (lam0 is not None and len(lam0) == self.h and np.any(lam0 > 0)):
            self._evaluate(st, np.zeros(self.h))
        else:
            lam = np.asarray(lam0, dtype=np.float64)
            if self.newton_steps == 0:
                self._evaluate(st, lam)
            for _ in range(self.newton_steps):
                best, g, sec, g2 = self._reduced(lam, second=True)
                self._pass = (lam, (best, g, sec, g2))
                prev = st.best
                phi, T = self._evaluate(st, lam, self._pass[1])
                downhill = phi < prev  # then leave it to the repair and the cutting planes
                lam = None if downhill else self._newton_step(lam, T, sec - best, g, g2)
                if lam is None:
                    break
        return st.certified(self._tolerance) or (lam0 is not None and self._repair(st, grow=False))

    def _cutting_planes(self, st: _SolveState, t0: float, radius: float | None) -> InnerResult:
        """Analytic-centre cutting planes in 0 <= λ <= R from the cuts in ``st``, a repair every max(3, h/2) steps
        and whenever the localisation set has no interior; R doubles while the best λ sits on the box. Ends
        certified, or after growing the repair LP to all n rows."""
        n, h = self.n, self.h
        R = float(radius or 10.0 * max(float(self.c.max()), 1e-12))
        while R <= 1.25 * float(st.lam.max()):
            R *= 2.0
        x = np.full(h, 0.5 * R)
        every = max(3, h // 2)
        steps = 0
        while True:
            while steps < self.max_steps:
                M = np.vstack([np.asarray(st.cuts), np.eye(h), -np.eye(h)])
                b = np.concatenate([st.best - np.asarray(st.offsets), np.zeros(h), -np.full(h, R)])
                xc = analytic_centre(M, b, x)
                if xc is None:
                    break
                x = xc
                self._evaluate(st, x)
                steps += 1
                if steps % every == 0 and self._repair(st, grow=False):
                    return self._result(st, t0, R)
            if self._repair(st):
                return self._result(st, t0, R)
            if st.lam.max() >= (1 - 1e-6) * R and R < 1e12:
                R *= 2.0
                x = np.minimum(np.maximum(st.lam, 1e-3 * R), 0.5 * R)
                steps = max(0, steps - 20)
                continue
            while st.k < n and not st.certified(self._tolerance):  # exhaust: grow the repaired set to the full LP
                st.k = min(n, 4 * st.k)
                self._repair(st)
            return self._result(st, t0, R)

    def _result(self, st: _SolveState, t0: float, R: float) -> InnerResult:
        return InnerResult(st.plan, float(st.value), float(st.best), st.plam, st.certified(self._tolerance),
                           self.calls, self.lp_calls, int(st.k), time.perf_counter() - t0, float(R))


def solve_highs(c: np.ndarray, A: np.ndarray, method: str = "highs", margin: float = 1e-9,
                tol: float = 1e-9) -> InnerResult:
    """The aggregated n x G LP in one HiGHS call (``method`` "highs", "highs-ipm" or "highs-ds"), with the same
    exact-feasibility ``margin`` as the repair step; its multipliers give the dual value, and the result is
    certified when the gap is within ``tol`` (as ``InnerSolver``). Raises ``SolverError`` when no plan meets the
    parity rows with the margin."""
    t0 = time.perf_counter()
    n = len(c)
    solver = InnerSolver(c, A, tol=tol, margin=margin)
    if len(A) == 0:
        return solver.solve()
    out = solver.recover(np.zeros(len(A)), n, method=method)
    if out is None:
        raise _too_tight(n, margin)
    plan, lam = out
    phi = solver.oracle(lam)[0]
    val = plan.value(c)
    return InnerResult(plan, val, phi, lam, val - phi <= solver._tolerance(val, lam), 1, solver.lp_calls, n,
                       time.perf_counter() - t0, 0.0)


def solve_inner(c: np.ndarray, A: np.ndarray, solver: str = "accpm", lam0: np.ndarray | None = None,
                **kw) -> InnerResult:
    """Solve F(C) with ``solver``: "accpm" (cutting planes + exact repair, warm-started from ``lam0``; ``kw`` are
    ``InnerSolver``'s options) or "highs" (one HiGHS LP; ignores ``lam0``; ``kw`` may hold margin and tol)."""
    check_choice(solver, "solver", SOLVERS)
    if solver == "accpm":
        return InnerSolver(c, A, **kw).solve(lam0)
    other = sorted(set(kw) - set(HIGHS_OPTIONS))
    if other:
        raise ConfigError(f"solver='highs' accepts only the options {list(HIGHS_OPTIONS)}; got {other} "
                          "(the others belong to solver='accpm')")
    return solve_highs(c, A, **kw)
