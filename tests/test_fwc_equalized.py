"""Experimental equalized-odds-style FWC rows (methods/fwc/equalized.py)."""
import warnings

import numpy as np
import pytest

from fairdistill.bench.fwc import synthetic
from fairdistill.dataset import FairDataset
from fairdistill.errors import ConfigError
from fairdistill.methods import make
from fairdistill.methods.fwc.equalized import EqualizedOdds, odds_rows


def test_odds_rows_are_the_ratio_constraint():
    """A·T >= 0 exactly when q(1−ε) <= T_{d,y,1}/(T_{d,y,0}+T_{d,y,1}) <= q(1+ε) for every (d, y) (random T)."""
    rng = np.random.default_rng(0)
    cell_dy = np.array([[0, 0], [0, 0], [0, 1], [0, 1], [1, 0], [1, 1], [1, 1]])
    cell_v = np.array([0, 1, 0, 1, 1, 0, 1])  # (1, 0) has only h = 1 points: its rows cannot exist
    q, eps = np.array([0.2, 0.7]), 0.1
    A, dropped = odds_rows(q, cell_dy, cell_v, eps)
    assert dropped == [(1, 0)] and A.shape == (6, 7)
    for _ in range(500):
        T = rng.random(7)
        ok = True
        for dd, yy in [(0, 0), (0, 1), (1, 1)]:
            mine = (cell_dy[:, 0] == dd) & (cell_dy[:, 1] == yy)
            r = T[mine & (cell_v == 1)].sum() / T[mine].sum()
            ok &= q[yy] * (1 - eps) <= r <= q[yy] * (1 + eps)
        assert ok == bool(np.all(A @ T >= 0))


def test_infinite_eo_tolerance_reproduces_the_parity_run():
    """With eo_epsilon = inf the refined cells only split each (d, y) cell by h; the aggregated costs and the LP are
    the same, so the whole MM path equals constraint='dp' (this checks the permutation and cell bookkeeping)."""
    data = synthetic(3000, p=6, seed=1)
    dp = make("fwc", size=60, epsilon=0.05, seed=0, max_iter=15).fit(data).synthetic_
    eo = make("fwc", size=60, epsilon=0.05, seed=0, max_iter=15, constraint="eo",
              eo_epsilon=float("inf")).fit(data).synthetic_
    np.testing.assert_allclose(eo.provenance["objective"], dp.provenance["objective"], rtol=1e-12)
    np.testing.assert_allclose(eo.X, dp.X)
    np.testing.assert_allclose(eo.weights, dp.weights, atol=1e-9)


def test_eo_rows_hold_on_the_final_coreset():
    """Independent check on the output: h refitted as the estimator does, the weighted share of points h calls
    positive per (group, label), against q_y from the training rows; parity still within ε."""
    data = synthetic(4000, p=6, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no (d, y) cell may lose its rows here
        syn = make("fwc", size=200, epsilon=0.05, seed=0, max_iter=20, constraint="eo",
                   eo_epsilon=0.03).fit(data).synthetic_
    pv = syn.provenance
    assert pv["j_max"] <= 0.05 + 1e-9
    from sklearn.linear_model import LogisticRegression
    X = np.asarray(data.X, np.float64)
    h = LogisticRegression(max_iter=1000, random_state=0).fit(X, data.y)
    q = np.array([h.predict(X)[data.y == k].mean() for k in (0, 1)])
    np.testing.assert_allclose(pv["eo_q"], q)
    v = h.predict(np.asarray(syn.X, np.float64))
    worst = 0.0
    for d in (0, 1):
        for k in (0, 1):
            sel = (syn.s[:, 0] == d) & (syn.y == k)
            if syn.weights[sel].sum() > 0:
                worst = max(worst, abs((syn.weights[sel] * v[sel]).sum() / syn.weights[sel].sum() / q[k] - 1))
    assert worst <= 0.03 + 1e-6
    assert worst == pytest.approx(pv["eo_violation"], abs=1e-6)


def test_eo_needs_binary_labels():
    rng = np.random.default_rng(3)
    data = FairDataset(X=rng.standard_normal((300, 3)).astype(np.float32), y=rng.integers(0, 3, 300),
                       s=rng.integers(0, 2, (300, 1)), sensitive_names=["g"], n_classes=3)
    with pytest.raises(ConfigError, match="binary labels"):
        make("fwc", size=30, constraint="eo").fit(data)


def test_refined_cells_group_points_by_cell_and_h():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((500, 3))
    y = (X[:, 0] > 0).astype(int)
    point_cell = np.repeat(np.arange(4), 5)
    odds = EqualizedOdds(X, np.zeros(500, int), y, point_cell, 2, np.array([0.5, 0.5]), 0.05, 0.05)
    centers = rng.standard_normal((20, 3))
    cells = odds(centers)
    v = odds.predict(centers)
    for k in range(len(cells.cell_start) - 1):
        pts = cells.order[cells.cell_start[k]:cells.cell_start[k + 1]]
        assert len(pts) > 0
        assert np.all(point_cell[pts] == 2 * cells.cell_dy[k, 0] + cells.cell_dy[k, 1])
        assert np.all(v[pts] == cells.cell_v[k])
    assert sorted(cells.order.tolist()) == list(range(20))
