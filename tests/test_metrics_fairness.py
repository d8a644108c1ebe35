"""Group-fairness metrics against fairlearn, hand-worked edge cases, DEO and FWC's parity quantities (§2-§4)."""
import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm

from fairdistill import metrics as M
from fairdistill.errors import DataError
from fairdistill.metrics import MetricWarning


def _random(seed, n=500, k=2, weighted=True):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 3, size=(n, k))
    y = rng.integers(0, 2, n)
    p = (rng.random(n) < 0.3 + 0.15 * s[:, 0] + 0.2 * y).astype(int)
    w = rng.random(n) * 2 + 0.1 if weighted else None
    return y, p, s, w


FUNCS = [(M.demographic_parity_difference, flm.demographic_parity_difference),
         (M.demographic_parity_ratio, flm.demographic_parity_ratio),
         (M.equalized_odds_difference, flm.equalized_odds_difference),
         (M.equalized_odds_ratio, flm.equalized_odds_ratio)]


@pytest.mark.parametrize("ours,theirs", FUNCS)
@pytest.mark.parametrize("method", ["between_groups", "to_overall"])
@pytest.mark.parametrize("seed,k,weighted", [(0, 1, False), (1, 1, True), (2, 2, True), (3, 3, False)])
def test_matches_fairlearn(ours, theirs, method, seed, k, weighted):
    y, p, s, w = _random(seed, k=k, weighted=weighted)
    sf = pd.DataFrame(s, columns=[f"a{j}" for j in range(k)]) if k > 1 else s[:, 0]
    kw = {} if "demographic" in ours.__name__ else {"agg": ["worst_case", "mean"][seed % 2]}
    expect = theirs(y, p, sensitive_features=sf, method=method, sample_weight=w, **kw)
    assert ours(y, p, sensitive_features=s if k > 1 else s[:, 0], method=method, sample_weight=w,
                **kw) == pytest.approx(expect, abs=1e-12)


def test_intersectional_groups_are_the_tuples_present():
    y, p, s, w = _random(4, n=300, k=2)
    s = s[~((s[:, 0] == 2) & (s[:, 1] == 0))]  # one combination absent
    y, p, w = y[:len(s)], p[:len(s)], w[:len(s)]
    _, table = M.demographic_parity_difference(y, p, sensitive_features=s, sample_weight=w, return_table=True)
    assert len(table) == 8 and (2, 0) not in table.index
    mf = flm.MetricFrame(metrics=flm.selection_rate, y_true=y, y_pred=p,
                         sensitive_features=pd.DataFrame(s, columns=["a", "b"]),
                         sample_params={"sample_weight": w})
    by = mf.by_group.dropna()
    np.testing.assert_allclose(table["selection_rate"].to_numpy(), by.to_numpy())


def test_hand_worked_rates_and_table():
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    p = np.array([1, 0, 1, 0, 1, 1, 1, 0])
    a = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # group 0: SR 2/4, TPR 1/2, FPR 1/2; group 1: SR 3/4, TPR 1/1, FPR 2/3
    v, t = M.equalized_odds_difference(y, p, sensitive_features=a, return_table=True)
    assert v == pytest.approx(0.5)
    np.testing.assert_allclose(t["selection_rate"], [0.5, 0.75])
    np.testing.assert_allclose(t["fpr"], [0.5, 2 / 3])
    assert M.demographic_parity_ratio(y, p, sensitive_features=a) == pytest.approx(2 / 3)
    assert M.equalized_odds_ratio(y, p, sensitive_features=a) == pytest.approx(0.5)
    assert M.equalized_odds_ratio(y, p, sensitive_features=a, agg="mean") == pytest.approx((0.5 + 0.75) / 2)
    assert M.equal_opportunity_difference(y, p, sensitive_features=a) == pytest.approx(0.5)
    # overall SR = 5/8: to_overall difference max(|1/2-5/8|, |3/4-5/8|) = 1/8, ratio min(0.8, 5/6)
    assert M.demographic_parity_difference(y, p, sensitive_features=a, method="to_overall") == pytest.approx(1 / 8)
    assert M.demographic_parity_ratio(y, p, sensitive_features=a, method="to_overall") == pytest.approx(0.8)
    assert M.demographic_disparity(y, p, sensitive_features=a) == pytest.approx(0.25)
    np.testing.assert_allclose(M.selection_rates(None, p, sensitive_features=a), [0.5, 0.75])


def test_edge_cases_follow_fairlearn():
    y = np.array([0, 0, 1, 1, 0, 1])
    a = np.array([0, 0, 0, 1, 1, 1])
    # constant classifier predicting 1: DPR = 1, DPD = 0
    assert M.demographic_parity_ratio(y, np.ones(6), sensitive_features=a) == 1.0
    # nobody selected: ratio 0/0 -> NaN (fairlearn too), difference 0
    with pytest.warns(MetricWarning):
        assert np.isnan(M.demographic_parity_ratio(y, np.zeros(6), sensitive_features=a))
    assert np.isnan(flm.demographic_parity_ratio(y, np.zeros(6), sensitive_features=a))
    assert M.demographic_parity_difference(y, np.zeros(6), sensitive_features=a) == 0.0
    # single group: difference 0, ratio 1
    p = np.array([1, 0, 1, 0, 1, 1])
    assert M.equalized_odds_difference(y, p, sensitive_features=np.zeros(6)) == 0.0
    assert M.demographic_parity_ratio(y, p, sensitive_features=np.zeros(6)) == 1.0
    # a group with no positives gets TPR 0 (fake disparity) and a warning, like fairlearn's value
    y2, p2, a2 = np.array([0, 0, 1, 1]), np.array([1, 0, 1, 1]), np.array([0, 0, 1, 1])
    with pytest.warns(MetricWarning) as record:
        v, t = M.equalized_odds_difference(y2, p2, sensitive_features=a2, return_table=True)
    assert any("no positives" in str(r.message) for r in record)
    assert v == pytest.approx(flm.equalized_odds_difference(y2, p2, sensitive_features=a2)) == 1.0
    assert t.loc[0, "positives"] == 0 and t.loc[0, "tpr"] == 0.0
    with pytest.raises(DataError):
        M.equalized_odds_difference([0, 1, 2], [0, 1, 1], sensitive_features=[0, 0, 1])


def test_nan_part_is_left_out_of_equalized_odds():
    # nobody among the negatives selected: FPR ratio 0/0; the TPR part carries the value
    y = np.array([1, 1, 0, 1, 1, 0])
    p = np.array([1, 0, 0, 1, 1, 0])
    a = np.array([0, 0, 0, 1, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert M.equalized_odds_ratio(y, p, sensitive_features=a) == pytest.approx(0.5)
        assert flm.equalized_odds_ratio(y, p, sensitive_features=a) == pytest.approx(0.5)


def test_zero_weight_rows_do_not_create_groups():
    y, p, a = np.array([1, 0, 1, 0, 1]), np.array([1, 0, 0, 0, 1]), np.array([0, 0, 1, 1, 2])
    w = np.array([1, 1, 1, 1, 0.0])
    _, t = M.demographic_parity_difference(y, p, sensitive_features=a, sample_weight=w, return_table=True)
    assert list(t.index) == [0, 1]


# ---------------------------------------------------------------- FWC parity quantities (§4)

def test_parity_violation_by_hand():
    y = np.array([1, 1, 0, 0, 1, 0])
    d = np.array([0, 0, 0, 1, 1, 1])
    w = np.array([1.0, 1.0, 2.0, 1.0, 3.0, 0.0])
    # p_w(1|0) = 2/4, p_w(0|0) = 2/4, p_w(1|1) = 3/4, p_w(0|1) = 1/4; p_T = (0.6, 0.4)
    expect = max(abs(0.5 / 0.4 - 1), abs(0.5 / 0.6 - 1), abs(0.75 / 0.4 - 1), abs(0.25 / 0.6 - 1))
    assert M.parity_violation(y, d, w, p_target=[0.6, 0.4]) == pytest.approx(expect)
    assert M.parity_violation(y, d, w, p_target={0: 0.6, 1: 0.4}) == pytest.approx(expect)
    # reweighing to the target marginal within every group gives zero violation
    y, d = np.array([1, 0, 0, 1, 0, 0, 0]), np.array([0, 0, 0, 1, 1, 1, 1])
    p_t = np.array([0.7, 0.3])
    w = p_t[y] / np.bincount(d * 2 + y, minlength=4)[d * 2 + y]  # within each group: sum_y p_T(y) = 1
    assert M.parity_violation(y, d, w, p_target=p_t) == pytest.approx(0.0, abs=1e-12)


def test_tradeoff_and_uncertainty():
    t, dt = M.tradeoff(0.8, 0.15, auc_std=0.02, dd_std=0.03)
    assert t == pytest.approx(0.25)
    assert dt == pytest.approx(np.hypot(0.15 / 0.25 * 0.03, -0.2 / 0.25 * 0.02))
    # Monte Carlo check of the first-order propagation
    rng = np.random.default_rng(0)
    ts = np.hypot(1 - rng.normal(0.8, 0.002, 200_000), rng.normal(0.15, 0.003, 200_000))
    _, dt_small = M.tradeoff(0.8, 0.15, auc_std=0.002, dd_std=0.003)
    assert ts.std() == pytest.approx(dt_small, rel=0.02)
    assert np.isnan(M.tradeoff(0.9, 0.1)[1])


# ---------------------------------------------------------------- FairDD DEO (§3)

def test_deo_hand_computed():
    # groups g0, g1; classes 0, 1, 2
    y = np.array([0, 0, 1, 1, 2, 0, 0, 1, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0, 0, 0, 1, 1, 2, 0])
    g = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    # TPR class0: g0 1/2, g1 2/2 -> gap .5; class1: g0 2/2, g1 2/3 -> 1/3; class2: g0 1/1, g1 1/2 -> .5
    v, t = M.deo_max(y, p, sensitive_features=g, return_table=True)
    assert v == pytest.approx(50.0)
    assert M.deo_avg(y, p, sensitive_features=g) == pytest.approx(100 * (0.5 + 1 / 3 + 0.5) / 3)
    assert len(t) == 6 and t["used"].all()


def test_deo_empty_cells_and_reference():
    y = np.array([0, 0, 1, 1, 0, 0])
    p = np.array([0, 1, 1, 0, 0, 0])
    g = np.array([0, 0, 0, 0, 1, 1])  # group 1 has no rows of class 1
    # project: class 1 has one non-empty group -> excluded; class 0 gap |1/2 - 1| = .5
    assert M.deo_max(y, p, sensitive_features=g) == pytest.approx(50.0)
    assert M.deo_avg(y, p, sensitive_features=g) == pytest.approx(50.0)
    # reference: empty cell has TPR 0 -> class 1 gap |1/2 - 0| = .5 too; a training-only group 2 adds zeros
    assert M.deo_avg(y, p, sensitive_features=g, reference_empty_cells=True) == pytest.approx(50.0, abs=1e-5)
    v = M.deo_max(y, p, sensitive_features=g, reference_empty_cells=True, groups=[0, 1, 2])
    assert v == pytest.approx(100.0, abs=1e-5)  # class 0: max 1 (group 1) - min 0 (group 2)
    with pytest.warns(MetricWarning):
        assert np.isnan(M.deo_max(y, p, sensitive_features=np.zeros(6)))


def test_deo_agrees_with_per_class_fairlearn_tpr_on_balanced_data():
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(4), 60)
    g = np.tile(np.arange(3), 80)
    p = np.where(rng.random(240) < 0.7, y, rng.integers(0, 4, 240))
    gaps = [flm.MetricFrame(metrics=flm.true_positive_rate, y_true=y == c, y_pred=p == c,
                            sensitive_features=g).difference() for c in range(4)]
    assert M.deo_max(y, p, sensitive_features=g) == pytest.approx(100 * max(gaps))
    assert M.deo_avg(y, p, sensitive_features=g) == pytest.approx(100 * np.mean(gaps))
    assert M.deo_avg(y, p, sensitive_features=g, reference_empty_cells=True) == pytest.approx(
        100 * np.mean(gaps), abs=1e-5)


ALL_FAIRNESS = [M.demographic_parity_difference, M.demographic_parity_ratio, M.demographic_disparity,
                M.equalized_odds_difference, M.equalized_odds_ratio, M.equal_opportunity_difference,
                M.equal_opportunity_ratio, M.selection_rates, M.group_rates, M.deo_max, M.deo_avg, M.deo_table,
                M.differential_fairness, M.differential_fairness_outcomes, M.if_alpha, M.if_alpha_reference,
                M.worst_group_tpr, M.best_group_tpr, M.group_tpr]


@pytest.mark.parametrize("fn", ALL_FAIRNESS, ids=lambda f: f.__name__)
def test_fairness_metrics_need_hard_labels(fn):
    """deo_max on scores returned 0.0, DP ratio NaN: scores and text were read as labels without a word."""
    y, p, s, _ = _random(11, n=300)
    with pytest.raises(DataError, match=r"^y_pred holds non-integer values \(e\.g\. 0\.\d+\): label metrics "
                                        r"need hard labels; threshold the scores first \(e\.g\. scores >= 0\.5\)$"):
        fn(y, np.random.default_rng(0).random(300), sensitive_features=s)
    with pytest.raises(DataError, match=r"^y_pred holds non-numeric values \(e\.g\. 'no'"):
        fn(y, np.where(p == 1, "yes", "no"), sensitive_features=s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        as_float = fn(y.astype(float), p.astype(float), sensitive_features=s)  # 0./1. floats are labels
        as_int = fn(y, p, sensitive_features=s)
    if isinstance(as_int, float):
        assert as_float == pytest.approx(as_int, nan_ok=True)
    if fn is not M.differential_fairness_outcomes:  # it ignores y_true
        with pytest.raises(DataError, match=r"^y_true holds non-integer values"):
            fn(y + 0.5, p, sensitive_features=s)


def test_label_metrics_refuse_scores_text_and_alien_predictions():
    """accuracy of text predictions was 0.0, parity_violation read every distinct score as a label (1.0), AUC on NaN
    scores raised scikit-learn's error, and DP with predictions {1, 2} against labels {0, 1} returned a number."""
    y, p, s, _ = _random(12, n=200)
    scores = np.random.default_rng(1).random(200)
    for fn in (M.accuracy, M.balanced_accuracy, M.recall, M.f1):
        with pytest.raises(DataError, match="y_pred holds non-integer values .*threshold the scores first"):
            fn(y, scores)
        with pytest.raises(DataError, match="y_pred holds non-numeric values"):
            fn(y, p.astype(str))
    with pytest.raises(DataError, match="y holds non-integer values"):
        M.parity_violation(scores, s)
    with pytest.raises(DataError, match="scores hold NaN or inf in 200 entries"):
        M.auc(y, np.full(200, np.nan))
    for fn in (M.demographic_parity_difference, M.equalized_odds_difference):
        with pytest.raises(DataError, match=r"y_pred holds label\(s\) \[2\] that y_true does not"):
            fn(y, p + 1, sensitive_features=s)


def test_predictions_coded_like_the_labels_pass_however_the_labels_are_coded():
    """The check on alien predictions must not refuse valid input: labels {1, 2} with pos_label 2, labels {-1, 1},
    multi-class selection rates, selection rates without y_true, and EO on a set whose true labels are all positive
    (the predictions may still say 0)."""
    rng = np.random.default_rng(3)
    g = rng.integers(0, 2, 200)
    y, p = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    ref = M.demographic_parity_difference(y, p, sensitive_features=g)
    assert M.demographic_parity_difference(y + 1, p + 1, sensitive_features=g, pos_label=2) == pytest.approx(ref)
    assert M.demographic_parity_difference(2 * y - 1, 2 * p - 1, sensitive_features=g) == pytest.approx(ref)
    three = rng.integers(0, 3, 200)
    assert np.isfinite(M.demographic_parity_difference(three, (three + 1) % 3, sensitive_features=g, pos_label=2))
    assert M.selection_rates(None, p, sensitive_features=g).shape[0] == 2
    ones = np.ones(200, int)
    with pytest.warns(MetricWarning, match="have no negatives"):  # said, and computed on the TPRs
        got = M.equalized_odds_difference(ones, p, sensitive_features=g)
    tpr = [p[g == k].mean() for k in (0, 1)]
    assert got == pytest.approx(abs(tpr[0] - tpr[1]))
