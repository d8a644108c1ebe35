"""Fidelity metrics (§6) against brute-force and closed-form computations."""
import numpy as np
import pytest
import scipy.stats
from scipy.optimize import linprog
from scipy.spatial.distance import cdist

from fairdistill import metrics as M
from fairdistill.errors import DataError, FairDistillError


def _lp_ot(x, y, a, b):
    cost = cdist(x, y, "cityblock")
    n, m = cost.shape
    rows = np.kron(np.eye(n), np.ones(m))
    cols = np.kron(np.ones(n), np.eye(m))
    res = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.r_[a, b], bounds=(0, None), method="highs")
    return res.fun


def test_wasserstein_matches_linear_program():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 3)), rng.normal(1.0, size=(6, 3))
    wy = rng.random(6) * 5
    assert M.wasserstein_distance(x, y, weights_y=wy) == pytest.approx(
        _lp_ot(x, y, np.full(9, 1 / 9), wy / wy.sum()), rel=1e-9)


def test_wasserstein_one_dimensional_closed_form():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.exponential(size=50)
    assert M.wasserstein_distance(x, y) == pytest.approx(np.mean(np.abs(np.sort(x) - np.sort(y))))
    wx, wy = rng.random(50), rng.random(30)
    assert M.wasserstein_distance(x, y[:30], wx, wy) == pytest.approx(
        scipy.stats.wasserstein_distance(x, y[:30], wx, wy))


def test_wasserstein_iteration_cap_is_an_error():
    rng = np.random.default_rng(2)
    with pytest.raises(FairDistillError, match="num_iter_max"):
        M.wasserstein_distance(rng.normal(size=(60, 2)), rng.normal(size=(60, 2)), num_iter_max=5)


def test_clustering_cost_brute_force():
    rng = np.random.default_rng(3)
    x, c = rng.normal(size=(257, 4)), rng.normal(size=(7, 4))
    expect = cdist(x, c, "sqeuclidean").min(axis=1).sum()
    assert M.clustering_cost(x, c, chunk=10) == pytest.approx(expect)
    assert M.clustering_cost(x, x[:7]) == pytest.approx(cdist(x, x[:7], "sqeuclidean").min(1).sum())


def _prdc_brute(real, fake, k):
    drr, dff, dfr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    r_real = np.sort(drr, axis=1)[:, k]
    r_fake = np.sort(dff, axis=1)[:, k]
    inside = dfr < r_real[None, :]
    return {"density": inside.sum() / (k * len(fake)), "coverage": inside.any(0).mean(),
            "precision": inside.any(1).mean(), "recall": (dfr < r_fake[:, None]).any(0).mean()}


def test_density_coverage_brute_force_and_chunking():
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(300, 5)), rng.normal(0.3, 1.2, size=(200, 5))
    expect = _prdc_brute(real, fake, 5)
    for chunk in (7, 10_000):
        got = M.density_coverage(real, fake, k=5, chunk=chunk)
        for key in expect:
            assert got[key] == pytest.approx(expect[key]), key
    # subsampling is seeded
    a = M.density_coverage(real, fake, max_rows=150, seed=1)
    assert a == M.density_coverage(real, fake, max_rows=150, seed=1)


def test_real_balls_reused_equal_separate_calls():
    # one set of real balls scored against several subsampled synthetic sets returns exactly what separate calls
    # return (each draws its subsample from the same generator state); recall=False skips recall only
    rng = np.random.default_rng(6)
    real = rng.normal(size=(400, 4))
    fakes = [rng.normal(0.2 * i, 1.0, size=(300 + 50 * i, 4)) for i in range(3)]
    balls = M.RealBalls(real, k=5, max_rows=250, seed=3)
    for fake in fakes:
        expect = M.density_coverage(real, fake, k=5, max_rows=250, seed=3)
        assert balls.score(fake) == expect
        quick = balls.score(fake, recall=False)
        assert np.isnan(quick.pop("recall")) and quick == {k: v for k, v in expect.items() if k != "recall"}
    # and the reused balls match an independent brute force on the same subsamples
    sub = np.random.default_rng(3)
    x = real[np.sort(sub.choice(400, 250, replace=False))]
    y = fakes[2][np.sort(sub.choice(len(fakes[2]), 250, replace=False))]
    got, expect = balls.score(fakes[2]), _prdc_brute(x, y, 5)
    for key in expect:
        assert got[key] == pytest.approx(expect[key]), key


def test_density_coverage_same_distribution_sanity():
    # E[density] = 1 exactly for identical distributions (a fresh point falls in a real k-NN ball with probability
    # k/N by exchangeability); one replicate fluctuates by ~0.05 in 64-d, so average three
    rng = np.random.default_rng(5)
    outs = [M.density_coverage(rng.normal(size=(2000, 64)), rng.normal(size=(2000, 64)), k=5) for _ in range(3)]
    assert np.mean([o["density"] for o in outs]) == pytest.approx(1.0, abs=0.08)
    assert min(o["coverage"] for o in outs) > 0.95
    shifted = M.density_coverage(rng.normal(size=(2000, 64)), rng.normal(1.0, size=(2000, 64)), k=5)
    assert shifted["density"] < 0.2 and shifted["coverage"] < 0.3


def test_density_coverage_edge_cases():
    with pytest.raises(DataError):
        M.density_coverage(np.zeros((5, 2)), np.zeros((3, 2)), k=5)
    with pytest.warns(M.MetricWarning):
        assert np.isnan(M.density_coverage(np.zeros((10, 2)), np.zeros((0, 2)))["density"])
    # duplicated real rows: NND_k = 0, the open ball is empty
    out = M.density_coverage(np.zeros((10, 2)), np.zeros((4, 2)))
    assert out["density"] == 0 and out["coverage"] == 0
    # ... also in many standardised dimensions, where rounding differs between k-NN routines: 20 distinct rows with
    # 5 duplicates each have empty balls, so copies of them are inside none
    rng = np.random.default_rng(0)
    base = np.c_[rng.integers(18, 70, (20, 3)), np.eye(3)[rng.integers(0, 3, (20, 7))].reshape(20, -1)]
    base = (base - base.mean(0)) / base.std(0)
    out = M.density_coverage(np.repeat(base, 6, axis=0), base, k=5)
    assert out["density"] == 0 and out["coverage"] == 0
    # copies of distinct real rows: the counts equal the brute-force ones exactly (no tie counted inside)
    real = np.c_[rng.normal(size=(400, 3)), np.eye(4)[rng.integers(0, 4, (400, 6))].reshape(400, -1)]
    real = (real - real.mean(0)) / real.std(0)
    fake = real[rng.choice(400, 300)]
    got, expect = M.density_coverage(real, fake, k=5), _prdc_brute(real, fake, 5)
    assert got["density"] == expect["density"] and got["coverage"] == expect["coverage"]


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("estimator", ["biased", "unbiased", "weighted"])
@pytest.mark.parametrize("bandwidth", ["default", "median"])
def test_mmd_matches_torch(estimator, bandwidth):
    from fairdistill.nn import mmd as tmmd
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(40, 6)), rng.normal(0.5, size=(30, 6))
    wx, wy = (rng.random(40), rng.random(30)) if estimator == "weighted" else (None, None)
    sig = tmmd.DEFAULT_SIGMAS if bandwidth == "default" else "median"
    value, sigmas = M.mmd(x, y, bandwidth=sig, estimator="biased" if estimator == "weighted" else estimator,
                          weights_x=wx, weights_y=wy, chunk=7, return_bandwidth=True)
    tt = lambda a: None if a is None else torch.from_numpy(a)  # noqa: E731
    expect = tmmd.mmd2(tt(x), tt(y), sig, estimator=estimator, weights_x=tt(wx), weights_y=tt(wy)).item()
    assert value == pytest.approx(expect, rel=1e-9, abs=1e-12)
    if bandwidth == "median":
        np.testing.assert_allclose(sigmas, tmmd.median_bandwidths(tt(x), tt(y)))
    assert M.fidelity.DEFAULT_SIGMAS == tmmd.DEFAULT_SIGMAS and M.fidelity.MEDIAN_FACTORS == tmmd.MEDIAN_FACTORS


def test_mmd_unbiased_near_zero_for_same_distribution():
    rng = np.random.default_rng(7)
    same = [M.mmd(rng.normal(size=(200, 3)), rng.normal(size=(200, 3)), bandwidth="median") for _ in range(5)]
    diff = M.mmd(rng.normal(size=(200, 3)), rng.normal(0.7, size=(200, 3)), bandwidth="median")
    assert abs(np.mean(same)) < 0.01 and diff > 10 * max(abs(v) for v in same)
    x = rng.normal(size=(50, 3))
    assert M.mmd(x, x, estimator="biased") == pytest.approx(0.0, abs=1e-12)
    # uniform weights equal the biased estimator
    assert M.mmd(x, x[:20] + 1, weights_x=np.full(50, 2.0)) == pytest.approx(M.mmd(x, x[:20] + 1, estimator="biased"))
