"""The fwc and fairwasp estimators: output contract, exactness against POT, errors."""
import numpy as np
import ot
import pytest

from fairdistill.bench.fwc import synthetic
from fairdistill.dataset import FairDataset
from fairdistill.errors import ConfigError, DataError, SolverError
from fairdistill.methods import make
from fairdistill.methods.fwc.encoding import encode, pairwise_cost


def _jmax(y, s_codes, w, pt, labels):
    """Independent J_max from a weighted set: groups = distinct rows of s."""
    out = 0.0
    for g in np.unique(s_codes, axis=0):
        sel = np.all(s_codes == g, axis=1)
        tot = w[sel].sum()
        if tot <= 0:
            continue
        for k, lab in enumerate(labels):
            out = max(out, abs(w[sel & (y == lab)].sum() / tot / pt[k] - 1))
    return out


def _w1(data, syn, groups="joint"):
    """Exact W1 (POT network simplex) between the data and a weighted set in the encoded space Z."""
    enc = encode(data, groups, "l1")
    encs = {tuple(t): i for i, t in enumerate(enc.group_tuples)}
    ds = np.array([encs[tuple(r)] for r in syn.s[:, enc.axes]])
    ys = np.searchsorted(enc.labels, syn.y)
    M = pairwise_cost(enc.z(), enc.z(syn.X.astype(np.float64), ds, ys), "l1")
    return ot.emd2(np.full(enc.n, 1 / enc.n), syn.weights / syn.weights.sum(), M, numItermax=10_000_000)


def test_fwc_output_contract_and_exact_w1():
    data = synthetic(1500, p=4, seed=0)
    est = make("fwc", size=40, epsilon=0.05, max_iter=20, seed=0).fit(data)
    syn = est.synthetic_
    pv = syn.provenance
    assert len(syn) == 40 and syn.X.shape == (40, 4)
    assert syn.weights.sum() == pytest.approx(40, rel=1e-12)
    pt = np.bincount(data.y) / len(data)
    assert _jmax(syn.y, syn.s, syn.weights, pt, [0, 1]) <= 0.05 + 1e-9
    assert pv["j_max"] <= 0.05 + 1e-9 and pv["method"] == "fwc"
    alloc = np.bincount(syn.s[:, 0] * 2 + syn.y, minlength=4)
    assert alloc.tolist() == pv["allocation"]
    F = np.array(pv["objective"])
    assert np.all(np.diff(F) <= 1e-12 * F[:-1])
    assert len(pv["seconds_per_iteration"]) == pv["iterations"] == len(F)
    # the final plan is an optimal coupling for its marginals: W1(data, coreset) equals the final objective
    assert _w1(data, syn) == pytest.approx(F[-1], rel=1e-9)
    dropped = make("fwc", size=40, epsilon=0.05, max_iter=20, seed=0, drop_empty=True).fit(data).synthetic_
    assert np.all(dropped.weights > 0) and dropped.weights.sum() == pytest.approx(40, rel=1e-12)
    assert len(dropped) == 40 - pv["n_zero_weight"]


def test_fwc_sqeuclidean_objective_is_the_exact_transport_cost():
    """Squared-L2 FWC: the final objective equals POT's exact OT cost with scipy's squared distances in Z (the plan is
    optimal for its marginals), the objective never rises, and the parity bound holds."""
    from scipy.spatial.distance import cdist
    data = synthetic(800, p=3, seed=2)
    est = make("fwc", size=30, epsilon=0.05, cost="sqeuclidean", max_iter=15, seed=0).fit(data)
    syn, pv = est.synthetic_, est.synthetic_.provenance
    F = np.array(pv["objective"])
    assert np.all(np.diff(F) <= 1e-12 * F[:-1]) and pv["j_max"] <= 0.05 + 1e-9
    enc = encode(data, "joint", "sqeuclidean")
    encs = {tuple(t): i for i, t in enumerate(enc.group_tuples)}
    ds = np.array([encs[tuple(r)] for r in syn.s[:, enc.axes]])
    M = cdist(enc.z(), enc.z(syn.X.astype(np.float64), ds, np.searchsorted(enc.labels, syn.y)), "sqeuclidean")
    exact = ot.emd2(np.full(enc.n, 1 / enc.n), syn.weights / syn.weights.sum(), M, numItermax=10_000_000)
    assert exact == pytest.approx(F[-1], rel=1e-7)


def test_fwc_beats_uniform_subsample_in_w1():
    data = synthetic(1200, p=3, seed=1)
    syn = make("fwc", size=60, epsilon=0.1, seed=0).fit(data).synthetic_
    rng = np.random.default_rng(0)
    idx = rng.choice(len(data), 60, replace=False)
    uni = make("full").fit(data.subset(idx)).synthetic_
    assert _w1(data, syn) < _w1(data, uni)


def test_fwc_two_axes_three_classes_and_medoid():
    rng = np.random.default_rng(2)
    n = 900
    s = np.c_[rng.integers(0, 2, n), rng.integers(0, 2, n)]
    X = rng.standard_normal((n, 3)) + s[:, :1]
    y = np.digitize(X[:, 0] + 0.5 * s[:, 1] + 0.3 * rng.standard_normal(n), [0.3, 1.2])
    data = FairDataset(X=X, y=y, s=s, sensitive_names=["a", "b"])
    syn = make("fwc", size=0.05, epsilon=0.05, update="medoid", max_iter=10).fit(data).synthetic_
    pt = np.bincount(y) / n
    assert len(np.unique(syn.s, axis=0)) == 4 and set(syn.y) == {0, 1, 2}
    assert _jmax(syn.y, syn.s, syn.weights, pt, [0, 1, 2]) <= 0.05 + 1e-9
    rows = {tuple(r) for r in data.X.tolist()}
    assert all(tuple(r) in rows for r in syn.X.tolist())  # medoids are real rows
    single = make("fwc", size=0.05, groups="single:b", max_iter=5).fit(data).synthetic_
    assert np.all(single.s[:, 0] == -1) and set(single.s[:, 1]) == {0, 1}


def test_chunking_and_solver_do_not_change_the_result():
    data = synthetic(700, p=3, seed=3)
    a = make("fwc", size=30, max_iter=6).fit(data).synthetic_
    b = make("fwc", size=30, max_iter=6, chunk_rows=17).fit(data).synthetic_
    c = make("fwc", size=30, max_iter=6, solver="highs").fit(data).synthetic_
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_allclose(a.provenance["objective"][0], c.provenance["objective"][0], rtol=1e-8)


def test_fairwasp_reweights_rows_exactly():
    data = synthetic(400, p=3, seed=4)
    syn = make("fairwasp", epsilon=0.05).fit(data).synthetic_
    assert len(syn) == 400 and np.all(syn.origin == 0)
    assert syn.weights.sum() == pytest.approx(400, rel=1e-12)
    pt = np.bincount(data.y) / len(data)
    assert _jmax(syn.y, syn.s, syn.weights, pt, [0, 1]) <= 0.05 + 1e-9
    assert _w1(data, syn) == pytest.approx(syn.provenance["objective"], rel=1e-9)
    assert syn.provenance["objective"] > 0  # data violate parity: the identity weights are infeasible


def test_empty_cell_gets_a_point_with_a_warning():
    rng = np.random.default_rng(5)
    n = 300
    d = rng.integers(0, 2, n)
    y = np.where(d == 1, 1, rng.integers(0, 2, n))  # no (d=1, y=0) row
    data = FairDataset(X=rng.standard_normal((n, 2)), y=y, s=d[:, None], sensitive_names=["d"])
    with pytest.warns(UserWarning, match="no training rows"):
        syn = make("fwc", size=20, max_iter=5).fit(data).synthetic_
    assert ((syn.s[:, 0] == 1) & (syn.y == 0)).sum() == 1
    assert _jmax(syn.y, syn.s, syn.weights, np.bincount(y) / n, [0, 1]) <= 0.05 + 1e-9
    with pytest.raises(DataError, match="fwc"):
        make("fairwasp").fit(data)


def test_errors():
    data = synthetic(200, p=2, seed=6)
    for bad in (0, -0.1, float("nan"), "nan"):
        with pytest.raises(ConfigError) as info:
            make("fwc", epsilon=bad)
        assert "must be a number > 0" in str(info.value) and "or inf for no" in str(info.value)
    with pytest.raises(ConfigError, match="at least 4"):
        make("fwc", size=3).fit(data)
    with pytest.raises(ConfigError, match="at most 200"):
        make("fwc", size=500).fit(data)
    one = FairDataset(X=data.X, y=np.zeros(200, int), s=data.s, sensitive_names=["d"])
    with pytest.raises(DataError, match="two classes"):
        make("fwc", size=10).fit(one)
    nan = FairDataset(X=data.X.copy(), y=data.y, s=data.s, sensitive_names=["d"])
    nan.X[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        make("fwc", size=10).fit(nan)
    with pytest.raises(ConfigError):
        make("fwc", cost="l3")
    with pytest.raises(DataError, match="unknown sensitive axis"):
        make("fwc", groups="single:zz").fit(data)


@pytest.mark.slow
def test_scale_benchmark_quick(tmp_path):
    import json

    from fairdistill.bench.fwc import scale

    res = scale(tmp_path, quick=True)
    out = json.loads((tmp_path / "fwc-scale.json").read_text())["results"]
    rows = out["runs"]
    assert [(r["n"], r["tol"]) for r in rows] == [(1000, 1e-4), (1000, 1e-7), (3000, 1e-4), (3000, 1e-7)]
    assert (tmp_path / "fwc-scale.md").exists()
    assert all(r["all_certified"] and r["j_max"] <= 0.05 + 1e-9 for r in rows)
    assert all(r["torch_threads"] == r["cpu_count"] for r in rows)
    for q in out["strict_vs_loose"]:  # same start, deterministic MM: the loose run is a prefix of the strict one
        assert q["loose_iterations"] <= q["strict_iterations"] and q["prefix_match"]
        assert q["rel_objective_gap"] >= -1e-12
    assert res["targets"]["objective_rel_gap"]["met"]


def test_too_tight_epsilon_is_a_solver_error_naming_epsilon():
    """An ε below what the exact repair can reach on the data is the user's to fix: a SolverError (a
    FairDistillError: one line and status 2 in the CLI) naming the method and its epsilon, for fwc and fairwasp."""
    data = synthetic(300, p=2, seed=6)
    for name, kw in (("fwc", dict(size=20, max_iter=3)), ("fairwasp", {})):
        with pytest.raises(SolverError, match=rf"^{name} epsilon=1e-13: the parity constraints are too tight.*"
                                              "use a larger epsilon$"):
            make(name, epsilon=1e-13, **kw).fit(data)
