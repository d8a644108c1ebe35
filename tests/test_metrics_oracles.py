"""Metrics against independent oracles (METRICS.md §2, §3, §5, §6): fairlearn, hand-worked counts, repeated rows,
scipy's LP solver, closed forms, plain double loops and a hand-written Hamilton method."""
import itertools
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm
from scipy.optimize import linprog
from scipy.spatial.distance import cdist

from fairdistill import metrics as M
from fairdistill.methods.subsample import allocate
from fairdistill.metrics import MetricWarning


# ---------------------------------------------------------------- equal opportunity against fairlearn (§2)

def _fairlearn_eopp(kind):
    """fairlearn's equal_opportunity_{kind} (fairlearn >= 0.11), or the same through MetricFrame on older versions."""
    if hasattr(flm, f"equal_opportunity_{kind}"):
        return getattr(flm, f"equal_opportunity_{kind}")

    def through_frame(y, p, *, sensitive_features, method, sample_weight=None):
        frame = flm.MetricFrame(metrics=flm.true_positive_rate, y_true=y, y_pred=p,
                                sensitive_features=sensitive_features,
                                sample_params=None if sample_weight is None else {"sample_weight": sample_weight})
        return getattr(frame, kind)(method=method)
    return through_frame


def _eopp_case(seed, n=400, k=2, weighted=True):
    """Random labels/predictions whose TPR gaps follow column 0 of the groups and FPR gaps column k-1 (reversed), so
    that a metric built on the wrong rate gives a different value."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 3, size=(n, k))
    y = rng.integers(0, 2, n)
    p_pos = 0.3 + 0.25 * s[:, 0]
    p_neg = 0.6 - 0.25 * s[:, -1] + 0.1 * (s[:, 0] == 1)
    p = (rng.random(n) < np.where(y == 1, p_pos, p_neg)).astype(int)
    w = rng.random(n) * 3 + 0.05 if weighted else None
    return y, p, s, w


@pytest.mark.parametrize("method", ["between_groups", "to_overall"])
@pytest.mark.parametrize("seed,k,weighted", [(0, 1, False), (1, 1, True), (2, 2, True), (3, 2, False),
                                             (4, 3, True)])
def test_equal_opportunity_matches_fairlearn(method, seed, k, weighted):
    """Oracle: fairlearn.metrics.equal_opportunity_{difference,ratio} (TPR only; several columns -> joint groups)."""
    y, p, s, w = _eopp_case(seed, k=k, weighted=weighted)
    sf_theirs = pd.DataFrame(s, columns=[f"a{j}" for j in range(k)]) if k > 1 else s[:, 0]
    sf_ours = s if k > 1 else s[:, 0]
    for ours, theirs in ((M.equal_opportunity_difference, _fairlearn_eopp("difference")),
                         (M.equal_opportunity_ratio, _fairlearn_eopp("ratio"))):
        expect = theirs(y, p, sensitive_features=sf_theirs, method=method, sample_weight=w)
        got = ours(y, p, sensitive_features=sf_ours, method=method, sample_weight=w)
        assert got == pytest.approx(expect, abs=1e-12), ours.__name__


def test_equal_opportunity_matches_fairlearn_with_absent_combination_and_degenerate_group():
    """Oracle: fairlearn on joint groups where one combination is absent and one group has no positives (its TPR is
    0 by scikit-learn's convention, a fake disparity fairlearn reproduces)."""
    y, p, s, w = _eopp_case(7, n=300, k=2)
    keep = ~((s[:, 0] == 2) & (s[:, 1] == 0))
    y, p, s, w = y[keep], p[keep], s[keep], w[keep]
    y[(s[:, 0] == 0) & (s[:, 1] == 2)] = 0  # group (0, 2): no positives
    sf = pd.DataFrame(s, columns=["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ours, theirs in ((M.equal_opportunity_difference, _fairlearn_eopp("difference")),
                             (M.equal_opportunity_ratio, _fairlearn_eopp("ratio"))):
            for method in ("between_groups", "to_overall"):
                expect = theirs(y, p, sensitive_features=sf, method=method, sample_weight=w)
                assert ours(y, p, sensitive_features=s, method=method, sample_weight=w) == pytest.approx(
                    expect, abs=1e-12, nan_ok=True), (ours.__name__, method)


# ---------------------------------------------------------------- IF_alpha in equalized-odds mode, by hand (§5)

# group 0: 4 positives (3 predicted 1), 6 negatives (1 predicted 1)
# group 1: 6 positives (2 predicted 1), 4 negatives (3 predicted 1)
EO_Y = np.array([1] * 4 + [0] * 6 + [1] * 6 + [0] * 4)
EO_P = np.array([1, 1, 1, 0] + [1, 0, 0, 0, 0, 0] + [1, 1, 0, 0, 0, 0] + [1, 1, 1, 0])
EO_G = np.repeat([0, 1], 10)
F = Fraction
# reference smoothing (TP + 2) / (P + 4)
EO_TPR = (F(3 + 2, 4 + 4), F(2 + 2, 6 + 4))  # 5/8, 2/5
EO_FPR = (F(1 + 2, 6 + 4), F(3 + 2, 4 + 4))  # 3/10, 5/8
TPR_HARM = [1 - m for m in EO_TPR]  # FNR: 3/8, 3/5
FPR_HARM = list(EO_FPR)  # FPR -> TNR = 1 - FPR, harm = 1 - TNR = FPR: 3/10, 5/8


@pytest.mark.parametrize("alpha", [F(0), F(1, 2), F(3, 10), F(1)])
def test_if_alpha_eo_mode_by_hand(alpha):
    """Oracle: smoothed TPRs/FPRs counted by hand; harms FNR = 1 - TPR and FPR (METRICS.md §5: FPR is mapped to
    TNR = 1 - FPR before taking harms); the eo value is the larger of the TPR-based and FPR-based values."""
    def project(h):
        return alpha * max(h) + (1 - alpha) * max(h) / min(h)

    def reference(h):
        return alpha * max(h) + (1 - alpha) * min(h) / max(h)

    t = M.group_tpr(EO_Y, EO_P, sensitive_features=EO_G)
    np.testing.assert_allclose(t["rate"], [float(v) for v in EO_TPR])
    np.testing.assert_allclose(M.group_tpr(EO_Y, EO_P, sensitive_features=EO_G, rate="fpr")["rate"],
                               [float(v) for v in EO_FPR])
    a = float(alpha)
    want = max(project(TPR_HARM), project(FPR_HARM))
    want_ref = max(reference(TPR_HARM), reference(FPR_HARM))
    assert M.if_alpha(EO_Y, EO_P, sensitive_features=EO_G, alpha=a, mode="eo") == pytest.approx(float(want))
    assert M.if_alpha_reference(EO_Y, EO_P, sensitive_features=EO_G, alpha=a, mode="eo") == pytest.approx(
        float(want_ref))
    # tpr mode keeps only the TPR part
    assert M.if_alpha(EO_Y, EO_P, sensitive_features=EO_G, alpha=a) == pytest.approx(float(project(TPR_HARM)))


def test_if_alpha_eo_hand_values_are_the_fpr_part():
    """The hand example is built so that the FPR part decides the eo value (alpha = 1/2): 0.5*5/8 + 0.5*(5/8)/(3/10)
    = 65/48 for the project reading; a harm of 1 - FPR would give 77/60 instead."""
    assert M.if_alpha(EO_Y, EO_P, sensitive_features=EO_G, mode="eo") == pytest.approx(65 / 48)
    assert M.if_alpha(EO_Y, EO_P, sensitive_features=EO_G, alpha=1.0, mode="eo") == pytest.approx(5 / 8)
    # DF in eo mode: the larger log ratio, here the FPR one log((5/8)/(3/10))
    assert M.differential_fairness(EO_Y, EO_P, sensitive_features=EO_G, mode="eo") == pytest.approx(
        np.log((5 / 8) / (3 / 10)))


# ---------------------------------------------------------------- integer weights = repeated rows (§2, §3, §5)

def _weighted_case(seed, n=80, k=2, zero=True, classes=2):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, size=(n, k))
    y = rng.integers(0, classes, n)
    p = np.where(rng.random(n) < 0.55 + 0.15 * s[:, 0], y, rng.integers(0, classes, n))
    w = rng.integers(0 if zero else 1, 4, n)
    return y, p, s, w


def _rep(w, *arrays):
    return tuple(np.repeat(a, w, axis=0) for a in arrays)


@pytest.mark.parametrize("seed,zero", [(0, False), (1, True), (2, True)])
def test_intersectional_integer_weights_equal_repeated_rows(seed, zero):
    """Oracle: the same metric on the rows repeated w_i times (np.repeat); rows of weight 0 disappear."""
    y, p, s, w = _weighted_case(seed, zero=zero)
    yr, pr, sr = _rep(w, y, p, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        for smoothing, rate in itertools.product(("reference", "foulds", "none"), ("tpr", "fpr")):
            got = M.group_tpr(y, p, sensitive_features=s, sample_weight=w, smoothing=smoothing, rate=rate)
            exp = M.group_tpr(yr, pr, sensitive_features=sr, smoothing=smoothing, rate=rate)
            assert list(got.index) == list(exp.index)
            np.testing.assert_allclose(got.to_numpy(), exp.to_numpy(), rtol=1e-12, equal_nan=True)
        for smoothing, mode in itertools.product(("reference", "foulds"), ("tpr", "eo")):
            kw = dict(smoothing=smoothing, mode=mode)
            for fn, extra in ((M.differential_fairness, {}), (M.if_alpha, {"alpha": 0.3}),
                              (M.if_alpha_reference, {"alpha": 0.7})):
                assert fn(y, p, sensitive_features=s, sample_weight=w, **kw, **extra) == pytest.approx(
                    fn(yr, pr, sensitive_features=sr, **kw, **extra), rel=1e-12), (fn.__name__, kw)
        for fn in (M.worst_group_tpr, M.best_group_tpr):
            assert fn(y, p, sensitive_features=s, sample_weight=w) == pytest.approx(
                fn(yr, pr, sensitive_features=sr), rel=1e-12)
        assert M.equal_opportunity_difference(y, p, sensitive_features=s, sample_weight=w) == pytest.approx(
            M.equal_opportunity_difference(yr, pr, sensitive_features=sr), rel=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_deo_integer_weights_equal_repeated_rows(seed):
    """Oracle: DEO_M / DEO_A (project empty-cell rule) on rows repeated w_i times; weights 1..3."""
    y, p, s, w = _weighted_case(seed, n=90, classes=4, zero=False)
    yr, pr, sr = _rep(w, y, p, s)
    for fn in (M.deo_max, M.deo_avg):
        for ref in (False, True):
            assert fn(y, p, sensitive_features=s, sample_weight=w, reference_empty_cells=ref) == pytest.approx(
                fn(yr, pr, sensitive_features=sr, reference_empty_cells=ref), rel=1e-12), (fn.__name__, ref)


def test_deo_zero_weights_equal_dropped_rows_project_rule():
    """Oracle: rows of weight 0 are as if absent (np.repeat drops them), including a group made only of them."""
    y, p, s, w = _weighted_case(5, n=90, classes=3)
    w[(s[:, 0] == 1) & (s[:, 1] == 1)] = 0  # group (1, 1) has weight 0 only
    yr, pr, sr = _rep(w, y, p, s)
    for fn in (M.deo_max, M.deo_avg):
        assert fn(y, p, sensitive_features=s, sample_weight=w) == pytest.approx(
            fn(yr, pr, sensitive_features=sr), rel=1e-12), fn.__name__


def test_deo_zero_weights_equal_dropped_rows_reference_rule():
    """Oracle: as above, with reference_empty_cells=True (default group list: the groups present)."""
    y, p, s, w = _weighted_case(5, n=90, classes=3)
    w[(s[:, 0] == 1) & (s[:, 1] == 1)] = 0
    yr, pr, sr = _rep(w, y, p, s)
    for fn in (M.deo_max, M.deo_avg):
        assert fn(y, p, sensitive_features=s, sample_weight=w, reference_empty_cells=True) == pytest.approx(
            fn(yr, pr, sensitive_features=sr, reference_empty_cells=True), rel=1e-12), fn.__name__


# ---------------------------------------------------------------- Wasserstein with l2 / sqeuclidean costs (§6)

def _lp_ot(x, y, a, b, metric):
    cost = cdist(x, y, metric)
    n, m = cost.shape
    a_eq = np.vstack([np.kron(np.eye(n), np.ones(m)), np.kron(np.ones(n), np.eye(m))])
    res = linprog(cost.ravel(), A_eq=a_eq, b_eq=np.r_[a, b], bounds=(0, None), method="highs")
    assert res.status == 0
    return res.fun


@pytest.mark.parametrize("metric,scipy_metric", [("l2", "euclidean"), ("euclidean", "euclidean"),
                                                 ("sqeuclidean", "sqeuclidean"), ("cityblock", "cityblock")])
@pytest.mark.parametrize("seed", [0, 1])
def test_wasserstein_ground_metrics_match_linear_program(metric, scipy_metric, seed):
    """Oracle: the transport LP solved by scipy's HiGHS with cdist costs, both sides weighted."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(8, 3)), rng.normal(0.7, 1.3, size=(6, 3))
    wx, wy = rng.random(8) + 0.1, rng.random(6) * 4 + 0.1
    expect = _lp_ot(x, y, wx / wx.sum(), wy / wy.sum(), scipy_metric)
    assert M.wasserstein_distance(x, y, wx, wy, metric=metric) == pytest.approx(expect, rel=1e-7)


def test_wasserstein_one_dimensional_closed_forms_for_l2_and_sqeuclidean():
    """Oracle: for equal-size uniform 1-D sets the optimal plan matches sorted points: W1 = mean |x_(i) - y_(i)|,
    W2^2 = mean (x_(i) - y_(i))^2."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=40), rng.exponential(size=40) - 0.5
    d = np.sort(x) - np.sort(y)
    assert M.wasserstein_distance(x, y, metric="l2") == pytest.approx(np.mean(np.abs(d)), rel=1e-9)
    assert M.wasserstein_distance(x, y, metric="sqeuclidean") == pytest.approx(np.mean(d ** 2), rel=1e-9)


# ---------------------------------------------------------------- MMD with a sum of Gaussian kernels (§6)

SIGMAS = (0.5, 1.0, 2.0)


def _k(u, v, sigmas=SIGMAS):
    d2 = sum((float(a) - float(b)) ** 2 for a, b in zip(u, v))
    return sum(np.exp(-d2 / (2.0 * s * s)) for s in sigmas)


def _mmd_loops(x, y, estimator, a=None, b=None):
    """Plain Python double loops over the rows (METRICS.md §6)."""
    m, n = len(x), len(y)
    if estimator == "weighted":
        a = np.full(m, 1 / m) if a is None else a / a.sum()
        b = np.full(n, 1 / n) if b is None else b / b.sum()
        return (sum(a[i] * a[j] * _k(x[i], x[j]) for i in range(m) for j in range(m))
                + sum(b[i] * b[j] * _k(y[i], y[j]) for i in range(n) for j in range(n))
                - 2 * sum(a[i] * b[j] * _k(x[i], y[j]) for i in range(m) for j in range(n)))
    same = (lambda i, j: True) if estimator == "biased" else (lambda i, j: i != j)
    kxx = [_k(x[i], x[j]) for i in range(m) for j in range(m) if same(i, j)]
    kyy = [_k(y[i], y[j]) for i in range(n) for j in range(n) if same(i, j)]
    kxy = [_k(x[i], y[j]) for i in range(m) for j in range(n)]
    return np.mean(kxx) + np.mean(kyy) - 2 * np.mean(kxy)


def _single_point_closed_form(x, y, sigmas=SIGMAS):
    d2 = float(np.sum((x - y) ** 2))
    return sum(2.0 * (1.0 - np.exp(-d2 / (2.0 * s * s))) for s in sigmas)


def test_mmd_numpy_single_points_closed_form():
    """Oracle: MMD_b^2({x}, {y}) = sum_s 2 (1 - exp(-||x - y||^2 / (2 s^2)))."""
    rng = np.random.default_rng(10)
    for _ in range(3):
        x, y = rng.normal(size=(1, 4)), rng.normal(size=(1, 4))
        expect = _single_point_closed_form(x[0], y[0])
        assert M.mmd(x, y, bandwidth=SIGMAS, estimator="biased") == pytest.approx(expect, rel=1e-12)
        assert M.mmd(x, y, bandwidth=SIGMAS, weights_x=[3.0], weights_y=[0.2]) == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize("estimator", ["biased", "unbiased", "weighted"])
def test_mmd_numpy_matches_double_loop(estimator):
    """Oracle: the biased / unbiased / weighted estimators as plain double loops."""
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.4, 1.2, size=(5, 3))
    a, b = (rng.random(7) + 0.1, rng.random(5) + 0.1) if estimator == "weighted" else (None, None)
    got = M.mmd(x, y, bandwidth=SIGMAS, estimator="biased" if estimator == "weighted" else estimator,
                weights_x=a, weights_y=b, chunk=3)
    assert got == pytest.approx(_mmd_loops(x, y, estimator, a, b), rel=1e-10, abs=1e-12)


def test_median_bandwidths_double_loop():
    """Oracle: median of the pairwise distances of the pooled rows (double loop) times {1/4, 1/2, 1, 2, 4}."""
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    z = np.r_[x, y]
    med = np.median([np.sqrt(np.sum((z[i] - z[j]) ** 2)) for i in range(len(z)) for j in range(i + 1, len(z))])
    np.testing.assert_allclose(M.median_bandwidths(x, y), [med * f for f in (0.25, 0.5, 1, 2, 4)], rtol=1e-12)
    _, sig = M.mmd(x, y, bandwidth="median", return_bandwidth=True)
    np.testing.assert_allclose(sig, [med * f for f in (0.25, 0.5, 1, 2, 4)], rtol=1e-12)


def test_torch_kernel_sum_and_mmd2_single_points_closed_form():
    """Oracle: k(x, y) = sum_s exp(-d^2 / (2 s^2)) at a known distance, and the single-point MMD_b^2 closed form."""
    torch = pytest.importorskip("torch")
    from fairdistill.nn.mmd import gaussian_kernel_sum, mmd2
    x = torch.tensor([[0.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 2.0, 2.0]], dtype=torch.float64)  # distance 3
    k = gaussian_kernel_sum(x, y, SIGMAS).item()
    assert k == pytest.approx(sum(np.exp(-9.0 / (2 * s * s)) for s in SIGMAS), rel=1e-12)
    assert gaussian_kernel_sum(x, y, (3.0,)).item() == pytest.approx(np.exp(-0.5), rel=1e-12)
    rng = np.random.default_rng(13)
    for _ in range(3):
        u, v = rng.normal(size=(1, 4)), rng.normal(size=(1, 4))
        expect = _single_point_closed_form(u[0], v[0])
        got = mmd2(torch.from_numpy(u), torch.from_numpy(v), SIGMAS, estimator="biased").item()
        assert got == pytest.approx(expect, rel=1e-10)


@pytest.mark.parametrize("estimator", ["biased", "unbiased", "weighted"])
def test_torch_mmd2_matches_double_loop(estimator):
    """Oracle: the estimators as plain double loops (torch version, float64)."""
    torch = pytest.importorskip("torch")
    from fairdistill.nn.mmd import gaussian_kernel_sum, mmd2
    rng = np.random.default_rng(14)
    x, y = rng.normal(size=(6, 3)), rng.normal(-0.3, 0.8, size=(5, 3))
    a, b = (rng.random(6) + 0.1, rng.random(5) + 0.1) if estimator == "weighted" else (None, None)
    tt = lambda v: None if v is None else torch.from_numpy(v)  # noqa: E731
    got = mmd2(tt(x), tt(y), SIGMAS, estimator=estimator, weights_x=tt(a), weights_y=tt(b)).item()
    assert got == pytest.approx(_mmd_loops(x, y, estimator, a, b), rel=1e-9, abs=1e-12)
    kern = gaussian_kernel_sum(tt(x), tt(y), SIGMAS).numpy()
    np.testing.assert_allclose(kern, [[_k(u, v) for v in y] for u in x], rtol=1e-10)


# ---------------------------------------------------------------- largest-remainder allocation

def _hamilton(m, sizes):
    """Hamilton's method in exact integer arithmetic: quotas m n_i / N, floors, then one more seat to each of the
    cells with the largest remainders. Returns (allocation, tie) where tie says the cut fell inside a tie."""
    n = list(sizes.values())
    total = sum(n)
    base = [m * v // total for v in n]
    rem = [m * v % total for v in n]
    left = m - sum(base)
    order = sorted(range(len(n)), key=lambda i: -rem[i])
    tie = 0 < left < len(n) and rem[order[left - 1]] == rem[order[left]]
    for i in order[:left]:
        base[i] += 1
    return dict(zip(sizes, base)), tie


def test_allocate_is_hamilton_when_no_minimum_binds():
    """Oracle: a hand-written Hamilton (largest remainder) method, exact integer arithmetic; random cases where every
    quota is at least 1 (the minimum does not bind) and the cut does not fall inside a tie of remainders."""
    rng = np.random.default_rng(20)
    checked = 0
    for _ in range(400):
        cells = int(rng.integers(2, 9))
        sizes = {f"c{i}": int(v) for i, v in enumerate(rng.integers(1, 200, cells))}
        total = sum(sizes.values())
        lo = -(-total // min(sizes.values()))  # m * min / total >= 1
        if lo > total:
            continue
        m = int(rng.integers(lo, total + 1))
        expect, tie = _hamilton(m, sizes)
        if tie:
            continue
        assert allocate(m, sizes) == expect, (m, sizes)
        checked += 1
    assert checked > 200
    # a hand-worked case: sizes 5, 7, 13 (N = 25), m = 12: quotas 2.4, 3.36, 6.24 -> floors 2, 3, 6, one seat left to
    # the largest remainder (0.4)
    assert allocate(12, {"a": 5, "b": 7, "c": 13}) == {"a": 3, "b": 3, "c": 6}
