"""FWC outer loop: weighted medians, the ε = ∞ reduction to Lloyd, monotone objective, final parity."""
import numpy as np
import pytest

from fairdistill.methods.fwc.dual import fairness_matrix
from fairdistill.methods.fwc.encoding import pairwise_cost
from fairdistill.methods.fwc.median import MedianUpdater, weighted_median
from fairdistill.methods.fwc.mm import init_centers, medoid_update, run_mm, weighted_mean_update
from fairdistill.metrics import parity_violation


def _brute_median(v, w):
    """Smallest value whose cumulative weight (over values <= it) reaches half the total."""
    tot = w.sum()
    for u in np.unique(v):
        if w[v <= u].sum() >= 0.5 * tot:
            return u


def test_weighted_median_matches_definition_and_minimises_l1():
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = int(rng.integers(1, 12))
        V = rng.integers(0, 5, (s, 3)).astype(float)  # many ties
        w = rng.integers(1, 4, s).astype(float)
        med = weighted_median(V, w)
        for k in range(3):
            assert med[k] == _brute_median(V[:, k], w)
            grid = np.unique(V[:, k])
            costs = [(w * np.abs(V[:, k] - u)).sum() for u in grid]
            assert (w * np.abs(V[:, k] - med[k])).sum() == pytest.approx(min(costs))


def test_median_updater_equals_per_point_medians_with_split_rows():
    rng = np.random.default_rng(1)
    n, m, p = 400, 9, 4
    X = np.round(rng.standard_normal((n, p)), 1)
    assign = rng.integers(0, m - 1, n)  # point m-1 receives nothing
    w = np.ones(n)
    extra_rows = np.array([3, 3, 17])
    extra_j = np.array([2, 5, 0])
    w[[3, 17]] = [0.25, 0.5]
    extra_w = np.array([0.5, 0.25, 0.5])
    rows = np.r_[np.arange(n), extra_rows]
    pts = np.r_[assign, extra_j]
    ww = np.r_[w, extra_w]
    centers = rng.standard_normal((m, p))
    out = MedianUpdater(X)(rows, pts, ww, centers)
    for j in range(m):
        sel = pts == j
        if not sel.any():
            np.testing.assert_array_equal(out[j], centers[j])
            continue
        for k in range(p):
            assert out[j, k] == _brute_median(X[rows[sel], k], ww[sel])


def test_weighted_mean_and_medoid_updates():
    rng = np.random.default_rng(2)
    n, m, p = 120, 5, 3
    X = rng.standard_normal((n, p))
    rows, pts, w = np.arange(n), rng.integers(0, m, n), rng.random(n) + 0.1
    centers = rng.standard_normal((m, p))
    mean = weighted_mean_update(X, rows, pts, w, centers)
    med = medoid_update(X, rows, pts, w, centers, "l1", np.random.default_rng(0))
    for j in range(m):
        sel = pts == j
        np.testing.assert_allclose(mean[j], (w[sel, None] * X[sel]).sum(0) / w[sel].sum(), rtol=1e-12)
        cand = np.vstack([centers[j:j + 1], X[sel]])
        tot = pairwise_cost(cand, X[sel], "l1") @ w[sel]
        assert (pairwise_cost(med[j:j + 1], X[sel], "l1") @ w[sel])[0] == pytest.approx(tot.min())


def _problem(rng, n=600, p=3):
    d = rng.integers(0, 2, n)
    X = rng.standard_normal((n, p))
    X[:, 0] += 2 * d
    y = (X[:, 0] + rng.standard_normal(n) > 1).astype(np.int64)
    return X, d, y


@pytest.mark.parametrize("cost", ["l1", "sqeuclidean"])
def test_unconstrained_mm_is_lloyd_with_fixed_labels(cost):
    """ε = ∞: P_ij = 1/n at the row argmin of C, and the update is k-medians (L1) / k-means (L2²) per point."""
    rng = np.random.default_rng(3)
    X, d, y = _problem(rng)
    alloc = np.array([3, 2, 2, 3])
    cell_start = np.r_[0, np.cumsum(alloc)]
    pc = np.repeat(np.arange(4), alloc)
    init = init_centers(X, d * 2 + y, d, alloc, 2, seed=0)
    A = fairness_matrix(2, np.bincount(y) / len(y), np.inf)
    steps = 4
    res = run_mm(X, d, y, 2, A, init, cell_start, cost=cost, max_iter=steps + 1, tol=-np.inf)
    ref = init.copy()
    for _ in range(steps):
        C = pairwise_cost(X, ref, cost) + (d[:, None] != pc // 2) + (y[:, None] != pc % 2)
        lab = C.argmin(1)
        new = ref.copy()
        for j in range(len(ref)):
            rows = X[lab == j]
            if len(rows) == 0:
                continue
            if cost == "l1":
                new[j] = np.sort(rows, axis=0)[(len(rows) + 1) // 2 - 1]  # lower median
            else:
                new[j] = rows.mean(0)
        if np.array_equal(new, ref):
            break
        ref = new
    np.testing.assert_allclose(res.centers, ref, rtol=1e-12, atol=1e-12)
    C = pairwise_cost(X, ref, cost) + (d[:, None] != pc // 2) + (y[:, None] != pc % 2)
    assert res.objective[-1] == pytest.approx(C.min(1).mean(), rel=1e-12)
    np.testing.assert_allclose(res.theta, len(ref) * np.bincount(C.argmin(1), minlength=len(ref)) / len(X))


@pytest.mark.parametrize("cost,update", [("l1", "median"), ("sqeuclidean", "mean"), ("l1", "medoid")])
def test_objective_monotone_and_final_parity(cost, update):
    rng = np.random.default_rng(4)
    X, d, y = _problem(rng, n=1500)
    alloc = np.array([8, 4, 4, 8])
    cell_start = np.r_[0, np.cumsum(alloc)]
    pc = np.repeat(np.arange(4), alloc)
    pt = np.bincount(y) / len(y)
    eps = 0.02
    A = fairness_matrix(2, pt, eps)
    init = init_centers(X, d * 2 + y, d, alloc, 2, seed=1)
    res = run_mm(X, d, y, 2, A, init, cell_start, cost=cost, update=update, max_iter=30)
    F = np.array(res.objective)
    assert len(F) >= 3
    assert np.all(np.diff(F) <= 1e-12 * F[:-1])
    assert F[-1] < F[0]
    J = parity_violation(pc % 2, pc // 2, res.theta, pt)
    assert J <= eps + 1e-9
    assert res.theta.sum() == pytest.approx(len(pc), rel=1e-12)
    # the data itself violates parity by much more than ε, so the constraint is active
    assert parity_violation(y, d, None, pt) > 5 * eps


@pytest.mark.parametrize("n", [300, 20_000])
def test_median_updater_with_fractional_weights(n):
    """Heavy ties (one decimal) with fractional weights; n = 20000 sorts the columns with numpy's unstable
    (vectorised) argsort, whose tie order must not change the medians."""
    rng = np.random.default_rng(5)
    m, p = 6, 3
    X = np.round(rng.standard_normal((n, p)), 1)
    pts = rng.integers(0, m, n)
    w = rng.random(n) + 0.05
    out = MedianUpdater(X)(np.arange(n), pts, w, np.zeros((m, p)))
    for j in range(m):
        sel = pts == j
        for k in range(p):
            assert out[j, k] == _brute_median(X[sel, k], w[sel])


def test_tol_stops_earlier_on_the_same_monotone_path():
    """A larger tol stops at the first iteration whose relative decrease is <= tol; the path up to there is the
    strict run's path (same start, deterministic MM), and F stays monotone."""
    rng = np.random.default_rng(6)
    X, d, y = _problem(rng, n=3000, p=4)
    alloc = np.array([20, 10, 10, 20])
    cell_start = np.r_[0, np.cumsum(alloc)]
    pt = np.bincount(y) / len(y)
    A = fairness_matrix(2, pt, 0.02)
    init = init_centers(X, d * 2 + y, d, alloc, 2, seed=2)
    strict = run_mm(X, d, y, 2, A, init, cell_start, max_iter=60, tol=0.0)
    Fs = np.array(strict.objective)
    dec = -np.diff(Fs) / Fs[:-1]
    tol = float(np.quantile(dec[dec > 0], 0.5))  # a tolerance that some but not all steps meet
    loose = run_mm(X, d, y, 2, A, init, cell_start, max_iter=60, tol=tol)
    F = np.array(loose.objective)
    k = int(np.argmax(dec <= tol)) + 2  # iterations (inner solves) until the first small decrease
    assert loose.stop == "objective" and loose.iterations == k < strict.iterations
    np.testing.assert_allclose(F, Fs[:k], rtol=1e-12)
    assert np.all(np.diff(F) <= 1e-12 * F[:-1])
    assert F[-2] - F[-1] <= tol * F[-2] and np.all(-np.diff(F[:-1]) > tol * F[:-2])
    pc = np.repeat(np.arange(4), alloc)
    assert parity_violation(pc % 2, pc // 2, loose.theta, pt) <= 0.02 + 1e-9


def test_pruning_and_blocks_leave_the_mm_path_unchanged():
    """The search's bounds and pruning blocks only skip work: the whole MM run (objectives, points, weights) equals
    the run that searches every distance every iteration."""
    rng = np.random.default_rng(6)
    X, d, y = _problem(rng, n=2500)
    alloc = np.array([9, 5, 6, 10])
    cell_start = np.r_[0, np.cumsum(alloc)]
    A = fairness_matrix(2, np.bincount(y) / len(y), 0.02)
    for data in (X.astype(np.float32).astype(np.float64), X):
        init = init_centers(data, d * 2 + y, d, alloc, 2, seed=2)
        ref = run_mm(data, d, y, 2, A, init, cell_start, max_iter=12, tol=0.0, prune=False)
        assert ref.iterations >= 5
        for kw in ({"block": None}, {"block": 3}, {}):
            other = run_mm(data, d, y, 2, A, init, cell_start, max_iter=12, tol=0.0, **kw)
            assert other.objective == ref.objective
            np.testing.assert_array_equal(other.centers, ref.centers)
            np.testing.assert_array_equal(other.theta, ref.theta)
