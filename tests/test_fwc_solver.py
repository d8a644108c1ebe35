"""FWC inner problem: aggregation, the cutting-plane dual solver, exact repair, against HiGHS and the full LP."""
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from fairdistill.dataset import FairDataset
from fairdistill.errors import ConfigError, FairDistillError, SolverError
from fairdistill.methods.fwc.dual import InnerSolver, fairness_matrix, solve_highs, solve_inner
from fairdistill.methods.fwc.encoding import code_block, encode, pairwise_cost
from fairdistill.methods.fwc.nearest import CellNearest, aggregate
from fairdistill.metrics import parity_violation


def _random_problem(rng, n, n_groups, n_labels, bias=1.0):
    """Aggregated costs of a biased problem: rows of group d prefer label-0 cells of their own group."""
    G = n_groups * n_labels
    d = rng.integers(0, n_groups, n)
    y = np.where(rng.random(n) < 0.3 + 0.4 * d / max(1, n_groups - 1), 1, 0)
    if n_labels > 2:
        y = np.where(rng.random(n) < 0.3, rng.integers(0, n_labels, n), y)
    c = rng.random((n, G)) * 3.0 * bias
    c += (d[:, None] != np.arange(G) // n_labels) + (y[:, None] != np.arange(G) % n_labels)
    p = np.bincount(y, minlength=n_labels) / n
    return c, d, y, p


def _check_plan(res, c, A, n):
    Q = res.plan.dense(c.shape[1])
    assert np.all(Q >= 0)
    np.testing.assert_allclose(Q.sum(1), 1.0 / n, rtol=0, atol=1e-15)
    T = Q.sum(0)
    if len(A):
        assert (A @ T).min() >= -1e-12
    assert abs((c * Q).sum() - res.value) <= 1e-12 * max(1, abs(res.value))


@pytest.mark.parametrize("n_groups,n_labels,eps", [(2, 2, 0.05), (3, 2, 0.01), (2, 3, 0.1), (4, 3, 0.05)])
def test_dual_equals_primal_equals_highs(n_groups, n_labels, eps):
    rng = np.random.default_rng(n_groups * 10 + n_labels)
    for trial in range(3):
        n = int(rng.integers(200, 2000))
        c, d, y, p = _random_problem(rng, n, n_groups, n_labels)
        A = fairness_matrix(n_groups, p, eps)
        res = solve_inner(c, A, "accpm")
        ref = linprog(c.ravel(), A_ub=sp.kron(np.ones((1, n)), -A).tocsr(), b_ub=np.zeros(len(A)),
                      A_eq=sp.kron(sp.eye(n), np.ones((1, c.shape[1]))).tocsr(), b_eq=np.full(n, 1.0 / n),
                      bounds=(0, None), method="highs")
        assert ref.status == 0
        assert res.certified
        assert abs(res.value - ref.fun) <= 1e-6 * abs(ref.fun)
        assert abs(res.dual - ref.fun) <= 1e-6 * abs(ref.fun)
        assert res.dual <= res.value + 1e-15
        _check_plan(res, c, A, n)
        T = res.plan.cell_mass(c.shape[1])
        cells = np.arange(len(T))
        assert parity_violation(cells % n_labels, cells // n_labels, T, p) <= eps + 1e-9
        hi = solve_highs(c, A)
        assert abs(hi.value - ref.fun) <= 1e-6 * abs(ref.fun)
        _check_plan(hi, c, A, n)


def test_biased_problem_is_constrained_and_tight():
    """On biased data the unconstrained plan violates parity; the solution meets ε and is tight (J_max = ε)."""
    rng = np.random.default_rng(3)
    n = 5000
    c, d, y, p = _random_problem(rng, n, 2, 2, bias=0.2)
    free = solve_inner(c, fairness_matrix(2, p, np.inf))
    Tf = free.plan.cell_mass(4)
    cells = np.arange(4)
    assert parity_violation(cells % 2, cells // 2, Tf, p) > 0.2
    A = fairness_matrix(2, p, 0.05)
    res = solve_inner(c, A)
    J = parity_violation(cells % 2, cells // 2, res.plan.cell_mass(4), p)
    assert 0.05 - 1e-6 <= J <= 0.05 + 1e-9
    assert res.value > free.value
    ref = solve_highs(c, A, method="highs-ipm")
    assert abs(res.value - ref.value) <= 1e-6 * ref.value


def test_warm_start_gives_the_same_optimum():
    rng = np.random.default_rng(4)
    c, d, y, p = _random_problem(rng, 3000, 3, 2, bias=0.3)
    A = fairness_matrix(3, p, 0.02)
    cold = solve_inner(c, A)
    c2 = c + 0.01 * rng.random(c.shape)
    warm = solve_inner(c2, A, lam0=cold.lam)
    again = solve_inner(c2, A)
    assert warm.certified and again.certified
    assert abs(warm.value - again.value) <= 1e-9 * again.value


def test_aggregated_lp_equals_full_transport_lp():
    """F(C) over the full n x m plan (no aggregation) equals the aggregated optimum."""
    rng = np.random.default_rng(5)
    n, p_dim = 60, 3
    X = rng.standard_normal((n, p_dim))
    d = rng.integers(0, 2, n)
    y = (X[:, 0] + d > 0.5).astype(int)
    alloc = np.array([2, 3, 2, 3])
    cell_start = np.r_[0, np.cumsum(alloc)]
    centers = rng.standard_normal((alloc.sum(), p_dim))
    pc = np.repeat(np.arange(4), alloc)
    c, jstar = aggregate(X, centers, cell_start, d, y, 2, "l1")
    Cfull = pairwise_cost(X, centers, "l1") + (d[:, None] != pc // 2) + (y[:, None] != pc % 2)
    pt = np.bincount(y, minlength=2) / n
    A = fairness_matrix(2, pt, 0.05)
    m = alloc.sum()
    onehot = np.eye(4)[pc]  # m x G
    ref = linprog(Cfull.ravel(), A_ub=-sp.kron(np.ones((1, n)), A @ onehot.T).tocsr(), b_ub=np.zeros(len(A)),
                  A_eq=sp.kron(sp.eye(n), np.ones((1, m))).tocsr(), b_eq=np.full(n, 1.0 / n), bounds=(0, None),
                  method="highs")
    res = solve_inner(c, A)
    assert abs(res.value - ref.fun) <= 1e-9 * ref.fun


@pytest.mark.parametrize("cost", ["l1", "sqeuclidean"])
def test_aggregation_matches_encoded_z_and_chunking(cost):
    rng = np.random.default_rng(6)
    n = 300
    data = FairDataset(X=rng.standard_normal((n, 4)), y=rng.integers(0, 3, n),
                       s=np.c_[rng.integers(0, 2, n), rng.integers(0, 2, n)], sensitive_names=["a", "b"])
    enc = encode(data, "joint", cost)
    assert enc.n_groups == 4 and enc.n_labels == 3
    np.testing.assert_array_equal(enc.z()[:, enc.x_slice], enc.X)  # D block (4 one-hot columns) comes first
    np.testing.assert_array_equal(enc.cells, enc.d * 3 + enc.y)
    binary = encode(FairDataset(X=data.X, y=data.y, s=data.s[:, :1], sensitive_names=["a"]), "joint", cost)
    np.testing.assert_array_equal(binary.z()[:, binary.x_slice], binary.X)  # D is one 0/1 column
    np.testing.assert_array_equal(binary.z()[:, 0], binary.d)
    alloc = np.array([2, 1, 3, 1, 2, 2, 1, 1, 2, 3, 1, 1])
    cell_start = np.r_[0, np.cumsum(alloc)]
    pc = np.repeat(np.arange(12), alloc)
    centers = rng.standard_normal((alloc.sum(), 4))
    c, jstar = aggregate(enc.X, centers, cell_start, enc.d, enc.y, 3, cost)
    c2, j2 = aggregate(enc.X, centers, cell_start, enc.d, enc.y, 3, cost, chunk_rows=7)
    np.testing.assert_array_equal(c, c2)
    np.testing.assert_array_equal(jstar, j2)
    Zc = enc.z(centers, pc // 3, pc % 3)
    Cfull = pairwise_cost(enc.z(), Zc, cost)
    for g in range(12):
        blk = Cfull[:, cell_start[g]:cell_start[g + 1]]
        np.testing.assert_allclose(c[:, g], blk.min(1), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(Cfull[np.arange(n), jstar[:, g]], blk.min(1), rtol=1e-12, atol=1e-12)


def test_mismatch_costs_one():
    for cost in ("l1", "sqeuclidean"):
        for k in (2, 3, 5):
            B = code_block(np.arange(k), k, cost)
            C = pairwise_cost(B, B, cost)
            np.testing.assert_allclose(C, 1 - np.eye(k), atol=1e-12)


def test_no_constraint_is_row_argmin():
    rng = np.random.default_rng(7)
    c, d, y, p = _random_problem(rng, 500, 2, 2)
    res = solve_inner(c, fairness_matrix(2, p, np.inf))
    Q = res.plan.dense(4)
    expect = np.zeros_like(Q)
    expect[np.arange(500), c.argmin(1)] = 1 / 500
    np.testing.assert_array_equal(Q, expect)
    assert res.value == pytest.approx(c.min(1).mean(), rel=1e-14)


def test_solver_without_warm_start_never_calls_a_big_lp():
    """The repair LP stays small: a few hundred rows, not n."""
    rng = np.random.default_rng(8)
    c, d, y, p = _random_problem(rng, 20000, 2, 2, bias=0.2)
    s = InnerSolver(c, fairness_matrix(2, p, 0.05))
    res = s.solve()
    assert res.certified
    assert res.lp_rows <= 4096


@pytest.mark.parametrize("cost,block", [("l1", None), ("sqeuclidean", None), ("l1", 3), ("sqeuclidean", 3)])
def test_pruned_search_equals_fresh_search_as_points_move(cost, block):
    rng = np.random.default_rng(9)
    n, p = 2000, 5
    X = rng.standard_normal((n, p))
    d, y = rng.integers(0, 2, n), rng.integers(0, 2, n)
    alloc = np.array([7, 5, 9, 4])
    cell_start = np.r_[0, np.cumsum(alloc)]
    centers = rng.standard_normal((alloc.sum(), p))
    near = CellNearest(X, cell_start, d, y, 2, cost, chunk_rows=300, block=block)
    fractions = []
    for step in range(6):
        c, jstar = near(centers)
        c0, _ = aggregate(X, centers, cell_start, d, y, 2, cost)
        np.testing.assert_allclose(c, c0, rtol=1e-13, atol=1e-13)
        fractions.append(near.last_fraction)
        moved = rng.random(len(centers)) < 0.5
        centers = centers + moved[:, None] * rng.standard_normal(centers.shape) * 0.05 / (step + 1)
    assert fractions[0] == 1.0 and max(fractions[1:]) < 0.8


def _tie_problem(rng, n=1500, p=6):
    """Rows and points with exact ties (duplicated points), near-ties (points 1e-7 apart) and zero distances, in
    4 cells."""
    X = rng.standard_normal((n, p)) * 3.0
    alloc = np.array([6, 5, 7, 4])
    cell_start = np.r_[0, np.cumsum(alloc)]
    C = rng.standard_normal((alloc.sum(), p))
    C[1] = C[0]  # exact tie
    C[2] = C[0]
    C[2, 0] += 1e-7  # near-tie
    C[7] = C[6] + 3e-7 * rng.standard_normal(p)
    C[3:5] = X[:2]  # zero distances
    d, y = rng.integers(0, 2, n), rng.integers(0, 2, n)
    return X, C, cell_start, d, y


def _brute(X, C, cell_start, d, y):
    D = np.abs(X[:, None, :] - C[None, :, :]).sum(-1)
    G = len(cell_start) - 1
    g = np.arange(G)
    mis = (d[:, None] != g // 2).astype(float) + (y[:, None] != g % 2)
    return D, np.stack([D[:, cell_start[k]:cell_start[k + 1]].min(1) for k in range(G)], 1), mis


def test_search_with_ties_equals_brute_force_and_sums_in_one_order():
    """c = min over the cell (first point on exact ties), whatever the tasks and blocks; every value equals the
    sequential sum Σ_k |x_ik − x̂_jk| bit for bit (the one summation order), and the torch search (the GPU path,
    here on the CPU) agrees to rounding."""
    rng = np.random.default_rng(10)
    X, C, cs, d, y = _tie_problem(rng)
    D, c_ref, mis = _brute(X, C, cs, d, y)
    cell = np.repeat(np.arange(4), np.diff(cs))
    searches = [CellNearest(X, cs, d, y, 2, "l1", chunk_rows=k, block=b) for k, b in ((97, None), (None, 2))]
    outs = [s(C) for s in searches]
    for c1, j1 in outs:
        np.testing.assert_array_equal(c1, outs[0][0])
        np.testing.assert_allclose(c1, c_ref + mis, rtol=1e-14, atol=1e-14)
        assert np.all(cell[j1] == np.arange(4)[None, :])
        np.testing.assert_allclose(D[np.arange(len(X))[:, None], j1], c_ref, rtol=1e-14, atol=1e-14)
    c1, j1 = outs[0]
    assert not np.any(j1[:, 0] == 1)  # point 1 duplicates point 0: exact ties go to the first point
    for i in rng.integers(0, len(X), 50):
        for g in range(4):
            s = 0.0
            for k in range(X.shape[1]):
                s += abs(X[i, k] - C[j1[i, g], k])
            assert searches[0].cx[i, g] == s
    gpu = CellNearest(X, cs, d, y, 2, "l1", chunk_rows=64)
    gpu._device_search(C)
    np.testing.assert_allclose(gpu._output()[0], c1, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("cost,block", [("l1", None), ("l1", 2), ("sqeuclidean", 2)])
def test_bounds_stay_valid_over_moves(cost, block):
    """Over MM-like moves (all points, some points, tiny moves, points landing on rows, no move) the pruned search
    (whole cells or blocks of 2 points) equals a fresh search bit for bit, and every stored lower bound is below the
    metric to every point of its block other than the row's j*."""
    rng = np.random.default_rng(11)
    X, C, cs, d, y = _tie_problem(rng, n=1200)
    near = CellNearest(X, cs, d, y, 2, cost, chunk_rows=101, block=block)
    fresh = CellNearest(X, cs, d, y, 2, cost, prune=False)
    assert near.B == (4 if block is None else 12)
    moves = [lambda c: c + 0.05 * rng.standard_normal(c.shape),  # all points
             lambda c: c + (rng.random(len(c)) < 0.1)[:, None] * 0.02,  # a few points
             lambda c: c + 1e-9,  # tiny
             lambda c: np.where((np.arange(len(c)) % 5 == 0)[:, None], X[rng.integers(0, len(X), len(c))], c),
             lambda c: c]
    fractions = []
    rows = np.arange(len(X))
    for step in range(10):
        c1, j1 = near(C)
        c0, j0 = fresh(C)
        np.testing.assert_array_equal(c1, c0)
        diff = X[:, None, :] - C[None, :, :]
        D = np.abs(diff).sum(-1) if cost == "l1" else np.sqrt((diff * diff).sum(-1))
        np.testing.assert_array_equal(j1, j0)  # the slack keeps tied points searched, so even j* agrees
        D[rows[:, None], j1] = np.inf  # j* is excluded from its block's bound
        for b in range(near.B):
            lo, hi = near.block_start[b], near.block_start[b + 1]
            assert np.all(D[:, lo:hi].min(1) >= near.lower[:, b])
        fractions.append(near.last_fraction)
        C = moves[step % len(moves)](C)
    assert fractions[0] == 1.0 and 0.0 < np.median(fractions[1:]) < 0.5 and 0.0 in fractions  # no move: no work


def test_search_at_the_ends_of_float64_equals_a_fresh_search():
    """Squared costs that overflow to inf must not freeze a block's bound at inf, a cell whose costs are all inf
    still names one of its points, a move whose squared norm underflows still refreshes the cost, and cells of very
    different sizes are searched over their own points only."""
    def pruned_equals_fresh(X, steps, cell_start, cost="sqeuclidean", block=None):
        n = len(X)
        d, y = np.zeros(n, int), np.zeros(n, int)
        near = CellNearest(X, cell_start, d, y, 1, cost, block=block)
        for C in steps:
            c1, j1 = near(np.asarray(C, float))
            c0, j0 = CellNearest(X, cell_start, d, y, 1, cost, prune=False)(np.asarray(C, float))
            np.testing.assert_array_equal(c1, c0)
            assert np.all((j1 >= cell_start[:-1]) & (j1 < cell_start[1:]))
        return c1

    one = np.array([0, 2])
    c = pruned_equals_fresh(np.zeros((1, 1)), [[[1.2e154], [1.4e154]], [[1.2e154], [1.0e154]]], one)
    assert c[0, 0] == 1e308
    pruned_equals_fresh(np.array([[1e200], [0.0]]), [[[-1e200], [-2e200]]], one)
    c = pruned_equals_fresh(np.zeros((1, 1)), [[[1e-150], [5.0]], [[1e-150 + 1e-163], [5.0]]], one)
    assert c[0, 0] == (1e-150 + 1e-163) ** 2
    rng = np.random.default_rng(13)
    X = rng.standard_normal((300, 3))
    C = rng.standard_normal((60, 3))
    starts = np.r_[0, 50, np.arange(51, 61)]  # one cell of 50 points, ten of one
    for cost, block in (("l1", None), ("l1", 7), ("sqeuclidean", None)):
        pruned_equals_fresh(X, [C, C + 0.01, C[::-1]], starts, cost, block)


def test_reduced_costs_parallel_equal_serial_with_ties():
    import torch

    rng = np.random.default_rng(12)
    n = 200_003
    c = rng.integers(0, 4, (n, 4)).astype(np.float64)  # many exact ties
    A = fairness_matrix(2, np.array([0.5, 0.5]), 0.05)
    lam = np.abs(rng.standard_normal(len(A)))
    s = InnerSolver(c, A)
    r = c - A.T @ lam
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            best, g, sec, g2 = s._reduced(lam, second=True)
            np.testing.assert_array_equal(g, r.argmin(1))  # first index on ties
            np.testing.assert_array_equal(best, r.min(1))
            np.testing.assert_array_equal(sec, np.sort(r, 1)[:, 1])
            assert np.all(g2 != g)
            np.testing.assert_array_equal(r[np.arange(n), g2], sec)  # the runner-up's cell
    finally:
        torch.set_num_threads(before)


def test_newton_polish_converges_fast_from_a_nearby_start():
    """From λ* perturbed by 2% on the binding rows, each Newton step shrinks the binding residual n·|Ã_S T| at
    least 4-fold (a derivative estimate off by a constant factor, e.g. counting both sides of a cell boundary,
    converges only linearly), and the warm solve certifies the cold solve's optimum with a handful of oracle calls."""
    rng = np.random.default_rng(21)
    n = 100_000
    c, d, y, p = _random_problem(rng, n, 2, 2, bias=0.3)
    A = fairness_matrix(2, p, 0.02)
    ref = solve_inner(c, A)
    lam = ref.lam * np.where(ref.lam > 0, 1.02, 1.0)
    assert np.count_nonzero(ref.lam) >= 1
    s = InnerSolver(c, A)
    residuals = []
    for _ in range(4):
        best, g, sec, g2 = s._reduced(lam, second=True)
        T = np.bincount(g, minlength=4) / n
        r = A @ T
        residuals.append(np.abs(r[(lam > 0) | (r < 0)]).max() * n)
        lam = s._newton_step(lam, T, sec - best, g, g2)
        if lam is None:
            break
    assert residuals[0] > 200
    assert all(b <= a / 4 for a, b in zip(residuals, residuals[1:]) if a > 20)
    assert lam is None  # reached the repair LP's reach within four steps
    warm = InnerSolver(c, A).solve(ref.lam * np.where(ref.lam > 0, 1.02, 1.0))
    assert warm.certified and warm.oracle_calls <= 6 and warm.lp_calls == 1
    assert abs(warm.value - ref.value) <= 1e-9 * ref.value


@pytest.mark.parametrize("solver", ["accpm", "highs"])
def test_too_tight_parity_raises_solver_error(solver):
    """ε = 1e-13 on 300 rows: no plan meets the parity rows with the exact-feasibility margin (the LP needs
    ε·p_T(y)·n_d >= 1e-9 row counts), a user error (SolverError, shown by the CLI in one line), not a crash."""
    rng = np.random.default_rng(13)
    c, d, y, p = _random_problem(rng, 300, 2, 2)
    with pytest.raises(SolverError, match="too tight.*300 rows.*larger epsilon") as err:
        solve_inner(c, fairness_matrix(2, p, 1e-13), solver)
    assert isinstance(err.value, FairDistillError) and isinstance(err.value, RuntimeError)
    assert solve_inner(c, fairness_matrix(2, p, 1e-6), solver).certified  # a feasible ε still solves


def test_highs_solver_takes_margin_and_tol_and_rejects_the_rest():
    rng = np.random.default_rng(14)
    c, d, y, p = _random_problem(rng, 400, 2, 2, bias=0.2)
    A = fairness_matrix(2, p, 0.05)
    slack = [(A @ solve_inner(c, A, "highs", margin=mg).plan.cell_mass(4)).min() * len(c) for mg in (1e-9, 1e-6)]
    assert slack[0] < 1e-8 and slack[1] > 0.99e-6  # the margin (row counts) reaches HiGHS
    assert solve_inner(c, A, "highs").certified
    assert not solve_inner(c, A, "highs", tol=-1.0).certified  # so does tol: a negative one certifies nothing
    with pytest.raises(ConfigError, match=r"solver='highs' accepts only.*\['k0'\]"):
        solve_inner(c, A, "highs", k0=8)
    with pytest.raises(ConfigError, match="unknown"):
        solve_inner(c, A, "simplex")
