"""Intersectional metrics (§5): smoothed rates, DF, Foulds' eps-DF, IF_alpha and the bootstrap."""
import itertools

import numpy as np
import pytest

from fairdistill import metrics as M
from fairdistill.errors import ConfigError
from fairdistill.metrics import MetricWarning

# two axes -> groups (0,0), (0,1), (1,0); (1,1) absent
S = np.array([[0, 0]] * 6 + [[0, 1]] * 4 + [[1, 0]] * 5)
Y = np.array([1, 1, 1, 1, 0, 0] + [1, 0, 0, 0] + [0, 0, 0, 0, 0])
P = np.array([1, 1, 1, 0, 1, 0] + [0, 0, 1, 0] + [1, 0, 0, 0, 0])
# TPR counts: (0,0) TP 3 of P 4; (0,1) TP 0 of P 1; (1,0) no positives
TP, POS = np.array([3, 0, 0]), np.array([4, 1, 0])


def test_group_tpr_smoothing_by_hand():
    t = M.group_tpr(Y, P, sensitive_features=S)
    assert list(t.index) == [(0, 0), (0, 1), (1, 0)]
    np.testing.assert_allclose(t["rate"], (TP + 2) / (POS + 4))
    np.testing.assert_allclose(M.group_tpr(Y, P, sensitive_features=S, smoothing="foulds")["rate"],
                               (TP + 0.5) / (POS + 1))
    raw = M.group_tpr(Y, P, sensitive_features=S, smoothing="none")
    np.testing.assert_allclose(raw["rate"], [0.75, 0.0, np.nan])
    # FPR: negatives (0,0) 2 with 1 predicted 1; (0,1) 3 with 1; (1,0) 5 with 1
    np.testing.assert_allclose(M.group_tpr(Y, P, sensitive_features=S, rate="fpr")["rate"],
                               (np.array([1, 1, 1]) + 2) / (np.array([2, 3, 5]) + 4))


def test_differential_fairness_and_extremes():
    m = (TP + 2) / (POS + 4)  # 5/8, 2/5, 1/2
    assert M.differential_fairness(Y, P, sensitive_features=S) == pytest.approx(np.log(m.max() / m.min()))
    assert M.worst_group_tpr(Y, P, sensitive_features=S) == pytest.approx(0.4)
    assert M.best_group_tpr(Y, P, sensitive_features=S) == pytest.approx(0.625)
    f = (np.array([1, 1, 1]) + 2) / (np.array([2, 3, 5]) + 4)
    eo = max(np.log(m.max() / m.min()), np.log(f.max() / f.min()))
    assert M.differential_fairness(Y, P, sensitive_features=S, mode="eo") == pytest.approx(eo)
    with pytest.warns(MetricWarning):  # raw: (0,1) has TPR 0 -> +inf; (1,0) left out
        assert M.differential_fairness(Y, P, sensitive_features=S, smoothing="none") == np.inf


def test_if_alpha_project_and_reference_formulas():
    m = (TP + 2) / (POS + 4)
    hw, hb = 1 - m.min(), 1 - m.max()  # 0.6, 0.375
    for alpha in (0.0, 0.5, 1.0):
        assert M.if_alpha(Y, P, sensitive_features=S, alpha=alpha) == pytest.approx(
            alpha * hw + (1 - alpha) * hw / hb)
        assert M.if_alpha_reference(Y, P, sensitive_features=S, alpha=alpha) == pytest.approx(
            alpha * hw + (1 - alpha) * hb / hw)
    # the project's IF is the max over group pairs of alpha*max harm + (1-alpha)*harm ratio
    harms = 1 - m
    pairs = [0.5 * max(a, b) + 0.5 * max(a, b) / min(a, b) for a, b in itertools.combinations(harms, 2)]
    assert M.if_alpha(Y, P, sensitive_features=S) == pytest.approx(max(pairs))
    with pytest.raises(ConfigError):
        M.if_alpha(Y, P, sensitive_features=S, alpha=1.5)
    # a perfect group without smoothing has harm 0 -> +inf
    with pytest.warns(MetricWarning):
        assert M.if_alpha([1, 1, 1, 1], [1, 1, 0, 1], sensitive_features=[0, 0, 1, 1], smoothing="none") == np.inf


def test_if_alpha_from_rates_matches_both_readings_on_random_predictions():
    rng = np.random.default_rng(3)
    for _ in range(5):
        y, p, g = rng.integers(0, 2, 300), rng.integers(0, 2, 300), rng.integers(0, 5, 300)
        kw = dict(sensitive_features=g)
        w, b = M.worst_group_tpr(y, p, **kw), M.best_group_tpr(y, p, **kw)
        for alpha in (0.0, 0.3, 1.0):
            assert M.if_alpha_from_rates(w, b, alpha=alpha) == pytest.approx(M.if_alpha(y, p, alpha=alpha, **kw))
            assert M.if_alpha_from_rates(w, b, alpha=alpha, reference=True) == pytest.approx(
                M.if_alpha_reference(y, p, alpha=alpha, **kw))
    with pytest.raises(ConfigError):
        M.if_alpha_from_rates(0.4, 0.6, alpha=-0.1)


def test_if_alpha_grows_with_disparity_and_reference_does_not():
    y = np.ones(200, dtype=int)
    g = np.repeat([0, 1], 100)
    vals, refs = [], []
    for hit in (80, 60, 40):  # group 1's TPR falls, group 0 stays at 0.9
        p = np.r_[np.arange(100) < 90, np.arange(100) < hit].astype(int)
        vals.append(M.if_alpha(y, p, sensitive_features=g, alpha=0.0))
        refs.append(M.if_alpha_reference(y, p, sensitive_features=g, alpha=0.0))
    assert vals[0] < vals[1] < vals[2] and refs[0] > refs[1] > refs[2]


def test_foulds_epsilon_df_brute_force():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 3, size=(400, 2))
    p = (rng.random(400) < 0.2 + 0.2 * s[:, 0]).astype(int)
    eps = M.differential_fairness_outcomes(None, p, sensitive_features=s)
    best = 0.0
    groups = {tuple(r) for r in s}
    prob = {}
    for g in groups:
        sel = (s == g).all(axis=1)
        p1 = (p[sel].sum() + 0.5) / (sel.sum() + 1)
        prob[g] = (1 - p1, p1)
    for g, h in itertools.permutations(groups, 2):
        for o in (0, 1):
            best = max(best, abs(np.log(prob[g][o]) - np.log(prob[h][o])))
    assert eps == pytest.approx(best)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    n = 2000
    y = rng.integers(0, 2, n)
    g = rng.integers(0, 2, n)
    p = (rng.random(n) < np.where(g == 1, 0.8, 0.6)).astype(int)

    def acc(yt, yp, *, sensitive_features):
        return M.accuracy(yt, yp)

    mean, lo, hi = M.bootstrap(acc, y, p, g, n=300, seed=3)
    assert (mean, lo, hi) == M.bootstrap(acc, y, p, g, n=300, seed=3)
    full = M.accuracy(y, p)
    se = np.sqrt(full * (1 - full) / n)
    assert lo < full < hi and mean == pytest.approx(full, abs=3 * se / np.sqrt(300) + 1e-3)
    assert (hi - lo) / (2 * 1.645) == pytest.approx(se, rel=0.2)  # normal 90 % interval width
    m, lo, hi = M.bootstrap(M.differential_fairness, y, p, g, n=100, seed=0)
    assert lo <= m <= hi and lo > 0


def test_zero_weight_groups_do_not_exist():
    # rows of weight 0 are as if absent: a group made only of them does not enter DF, IF or the worst/best TPR
    y, p = np.ones(6, int), np.array([1, 1, 1, 1, 0, 1])
    s = np.array([[0, 0], [0, 0], [1, 1], [1, 1], [0, 1], [0, 1]])
    w = np.array([1, 1, 1, 1, 0, 0])
    for fn in (M.differential_fairness, M.if_alpha, M.worst_group_tpr, M.best_group_tpr,
               M.differential_fairness_outcomes):
        assert fn(y, p, sensitive_features=s, sample_weight=w) == pytest.approx(
            fn(y[:4], p[:4], sensitive_features=s[:4])), fn.__name__
    assert M.differential_fairness(y[:4], p[:4], sensitive_features=s[:4]) == 0.0


def test_if_alpha_one_is_the_worst_harm_even_with_a_perfect_group():
    y, p, s = np.ones(6, int), np.array([1, 1, 1, 0, 1, 1]), np.array([0, 0, 0, 1, 1, 1])
    # harms without smoothing: group 0 0, group 1 1/3; alpha = 1 -> 1/3, alpha < 1 -> +inf (warned)
    assert M.if_alpha(y, p, sensitive_features=s, alpha=1.0, smoothing="none") == pytest.approx(1 / 3)
    with pytest.warns(MetricWarning):
        assert M.if_alpha(y, p, sensitive_features=s, alpha=0.9, smoothing="none") == np.inf


def test_bootstrap_keeps_infinite_values_without_turning_the_band_into_nan():
    """DF without smoothing is inf on resamples where a group has rate 0: the band's end is then inf, not NaN."""
    y = np.array([0, 1] * 20)
    half = lambda yt, yp, sensitive_features: float("inf") if yt[:20].sum() > 10 else 1.0  # noqa: E731
    mean, lo, hi = M.bootstrap(half, y, y, np.zeros(40, int), n=200, seed=0)
    assert mean == np.inf and lo == 1.0 and hi == np.inf
    seen = []

    def rising(yt, yp, sensitive_features):  # a sum without ties; inf on the resamples with the largest
        total = float(np.sum(yt * np.arange(40)))
        seen.append(float("inf") if total > 470 else total)
        return seen[-1]
    _, lo, hi = M.bootstrap(rising, y, y, np.zeros(40, int), n=200, seed=0)
    assert 0.05 < np.isinf(seen).mean() < 0.5  # the high end only: inf
    assert hi == np.inf and lo == np.percentile(seen, 5)  # the finite end stays interpolated (linear)
    assert M.bootstrap(lambda yt, yp, sensitive_features: np.inf, y, y, np.zeros(40, int), n=20) == \
        (np.inf, np.inf, np.inf)


def test_options_and_groups_of_the_wrong_type_are_the_librarys_errors():
    """alpha='0.5' and n='5' raised Python's TypeError; None beside text in the groups raised numpy's."""
    from fairdistill.errors import DataError
    y = np.array([0, 1] * 25)
    g = np.array([0, 1, 1, 0, 1] * 10)
    with pytest.raises(ConfigError, match=r"^alpha='0\.5' must be a number in \[0, 1\]"):
        M.if_alpha(y, y, sensitive_features=g, alpha="0.5")
    for bad in ("5", 2.5, True, 0):
        with pytest.raises(ConfigError, match="must be a whole number of resamples >= 1"):
            M.bootstrap(M.differential_fairness, y, y, g, n=bad)
    with pytest.raises(DataError, match=r"mixes values of types \['int', 'str'\]"):
        M.demographic_parity_ratio(y, y, sensitive_features=np.array([1, "a"] * 25, dtype=object))
    # a missing group value (None beside text, a float NaN) is refused, not counted as a group of its own
    for bad in (np.array([None, "a"] * 25, dtype=object), np.where(np.arange(50) < 5, np.nan, g.astype(float))):
        with pytest.raises(DataError, match=r"^sensitive_features has (25|5) missing value\(s\); fill them or drop"):
            M.demographic_parity_ratio(y, y, sensitive_features=bad)
