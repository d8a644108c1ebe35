"""Coreset baselines: reweighing, weight bookkeeping, k-medoids paths, unbiased sensitivity sampling."""
import numpy as np
import pytest

from fairdistill.dataset import FairDataset, group_ids
from fairdistill.errors import ConfigError, DataError
from fairdistill.methods import make
from fairdistill.methods.coreset_utils import (alternating_kmedoids, bicriteria, euclidean, indfair_sensitivity,
                                               kamiran_calders, kmedian_sensitivity, kmedoids_dense, kmedoids_pp,
                                               sensitivity_sample)
from fairdistill.methods.fwc.encoding import encode

BASELINES = ["uniform", "kmeans", "kmedoids", "kmedian-coreset", "indfair-coreset"]


def biased(n=600, seed=0, groups=2, classes=2):
    rng = np.random.default_rng(seed)
    s = np.stack([rng.integers(0, groups, n), rng.integers(0, 2, n)], 1)
    X = rng.normal(size=(n, 4)) + s[:, :1]
    y = ((X[:, 0] + 0.8 * s[:, 0] + rng.normal(size=n)) > 0.7).astype(int)
    if classes > 2:
        y = np.minimum(y + (X[:, 1] > 0.5), classes - 1)
    return FairDataset(X=X, y=y, s=s, sensitive_names=["a", "b"], name="toy")


def weighted_joint(w, d, y):
    P = np.zeros((d.max() + 1, y.max() + 1))
    np.add.at(P, (d, y), w)
    return P / P.sum()


# ------------------------------------------------------------------------------------------- reweighing
def test_kamiran_calders_makes_d_and_y_independent_and_keeps_the_sum():
    rng = np.random.default_rng(3)
    d, y = rng.integers(0, 3, 500), rng.integers(0, 2, 500)
    y[d == 0] = 1  # strongly dependent
    y[:5] = 0
    w = rng.random(500) * 3
    w2 = kamiran_calders(w, d, y)
    assert w2.sum() == pytest.approx(w.sum(), rel=1e-12)
    P = weighted_joint(w2, d, y)
    assert np.allclose(P, np.outer(P.sum(1), P.sum(0)), atol=1e-12)
    # marginals are unchanged: the closed form w P(d)P(y)/P(d,y) keeps P(d) and P(y)
    P0 = weighted_joint(w, d, y)
    assert np.allclose(P.sum(1), P0.sum(1)) and np.allclose(P.sum(0), P0.sum(0))
    # a cell's factor is exactly P(d)P(y)/P(d,y)
    j = 7
    assert w2[j] / w[j] == pytest.approx(P0.sum(1)[d[j]] * P0.sum(0)[y[j]] / P0[d[j], y[j]])


def test_kamiran_calders_warns_when_a_cell_is_empty_and_loses_its_product_share():
    """d = 1 has no y = 0 row: independence is impossible, and the missing share is P(d=1) P(y=0) of the weight."""
    d = np.array([0, 0, 0, 1, 1])
    y = np.array([0, 1, 1, 1, 1])
    w = np.ones(5)
    with pytest.warns(UserWarning, match=r"cell\(s\) \(1, 0\) hold no weight.*drops by 8\.0%"):
        w2 = kamiran_calders(w, d, y)
    # P(d=1) P(y=0) = 2/5 * 1/5 = 0.08 of the weight is lost; the present cells keep their product shares
    assert w2.sum() == pytest.approx(5 * (1 - 0.08))
    assert w2[0] == pytest.approx(3 / 5 * 1 / 5 / (1 / 5))  # w · P(d=0) P(y=0) / P(d=0, y=0), the cell's one row


def test_kamiran_calders_on_already_independent_data_changes_nothing():
    d = np.repeat([0, 1], 4)
    y = np.tile([0, 1], 4)
    w = np.ones(8)
    assert np.allclose(kamiran_calders(w, d, y), w)


@pytest.mark.parametrize("name", BASELINES)
def test_reweigh_option_gives_independence_under_output_weights(name):
    data = biased()
    plain = make(name, size=60, seed=2).fit(data).synthetic_
    fair = make(name, size=60, seed=2, reweigh=True).fit(data).synthetic_
    d, _ = group_ids(fair.s)
    P = weighted_joint(fair.weights, d, fair.y)
    assert np.allclose(P, np.outer(P.sum(1), P.sum(0)), atol=1e-10)
    assert fair.weights.sum() == pytest.approx(60)
    np.testing.assert_array_equal(plain.X, fair.X)  # reweighing only touches the weights


# ------------------------------------------------------------------------------------------ bookkeeping
@pytest.mark.parametrize("name", BASELINES)
def test_outputs_have_m_rows_weights_summing_to_m_and_live_in_x_space(name):
    data = biased()
    out = make(name, size=0.1, seed=0).fit(data).synthetic_
    assert len(out) == 60 and out.X.shape[1] == data.X.shape[1]
    assert out.weights.sum() == pytest.approx(60) and np.all(out.weights >= 0)
    assert out.s.shape == (60, 2) and set(np.unique(out.y)) <= {0, 1}
    assert out.provenance["method"] == name and out.feature_names == data.feature_names


def test_uniform_rows_are_distinct_training_rows_with_weight_one():
    data = biased()
    out = make("uniform", size=50, seed=4).fit(data).synthetic_
    idx = np.asarray(out.provenance["indices"])
    assert len(np.unique(idx)) == 50 and np.all(out.weights == 1)
    np.testing.assert_array_equal(out.X, data.X[idx])
    np.testing.assert_array_equal(out.s, data.s[idx])
    rep = make("uniform", size=500, seed=4, replace=True).fit(data).synthetic_
    assert len(np.unique(rep.provenance["indices"])) < 500 and rep.weights.sum() == pytest.approx(500)


def test_kmeans_weights_are_cluster_sizes_and_labels_are_cluster_majorities():
    data = biased(classes=3)
    m = 30
    est = make("kmeans", size=m, seed=1).fit(data)
    out = est.synthetic_
    d, _ = group_ids(data.s)
    enc = encode(data, "joint", "l1")
    Z, xs = enc.z(), enc.x_slice
    # an independent run of the same scikit-learn KMeans gives the assignment
    from sklearn.cluster import KMeans
    km = KMeans(n_clusters=m, init="k-means++", n_init="auto", max_iter=300, random_state=1).fit(Z)
    np.testing.assert_allclose(out.X, km.cluster_centers_[:, xs], rtol=1e-5, atol=1e-5)
    sizes = np.bincount(km.labels_, minlength=m)
    np.testing.assert_allclose(out.weights, m * sizes / len(data))
    for j in range(m):
        members = km.labels_ == j
        assert out.y[j] == np.bincount(data.y[members]).argmax()
        dj = np.bincount(d[members]).argmax()
        assert tuple(out.s[j]) == group_ids(data.s)[1][dj]
    uni = make("kmeans", size=m, seed=1, weights="uniform").fit(data).synthetic_
    assert np.all(uni.weights == 1)


def test_per_group_clustering_follows_the_cell_allocation():
    data = biased()
    out = make("kmeans", size=40, seed=0, per_group=True).fit(data).synthetic_
    d, _ = group_ids(data.s)
    cell = d * 2 + data.y
    dout, _ = group_ids(out.s)
    counts = np.bincount(cell, minlength=8)
    got = np.bincount(dout * 2 + out.y, minlength=8)
    assert got.sum() == 40 and np.all(np.abs(got - 40 * counts / len(data)) <= 1.0 + 1e-9)
    # cluster-size weights add up to each cell's share of the data
    for c in np.flatnonzero(counts):
        assert out.weights[(dout * 2 + out.y) == c].sum() == pytest.approx(40 * counts[c] / len(data))
    with pytest.raises(ConfigError):
        make("kmeans", size=3, per_group=True).fit(data)  # fewer points than (d, y) cells


def test_kmedoids_representatives_are_real_rows_weighted_by_voronoi_cells():
    data = biased()
    out = make("kmedoids", size=25, seed=5).fit(data).synthetic_
    idx = np.asarray(out.provenance["indices"])
    assert len(np.unique(idx)) == 25
    np.testing.assert_array_equal(out.X, data.X[idx])
    np.testing.assert_array_equal(out.y, data.y[idx])
    np.testing.assert_array_equal(out.s, data.s[idx])
    Z = encode(data, "joint", "l1").z()
    lab = euclidean(Z, Z[idx]).argmin(1)
    np.testing.assert_allclose(out.weights, 25 * np.bincount(lab, minlength=25) / len(data))
    # medoid optimality: each medoid minimises the summed distance within its own cell
    for j in range(25):
        members = np.flatnonzero(lab == j)
        cost = euclidean(Z[members], Z[members]).sum(1)
        assert cost[members == idx[j]][0] <= cost.min() + 1e-9


def test_chunked_kmedoids_equals_the_kmedoids_package():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(700, 5))
    init = kmedoids_pp(Z, 20, np.random.default_rng(1))
    assert len(np.unique(init)) == 20
    med_a, lab_a = alternating_kmedoids(Z, init)
    med_b, lab_b = kmedoids_dense(Z, init)
    np.testing.assert_array_equal(med_a, med_b)
    np.testing.assert_array_equal(lab_a, lab_b)
    before = euclidean(Z, Z[init]).min(1).sum()
    after = euclidean(Z, Z[med_a]).min(1).sum()
    assert after <= before  # Voronoi iteration never increases the k-medoids objective
    data = biased(n=400)
    small = make("kmedoids", size=15, seed=3).fit(data).synthetic_
    chunked = make("kmedoids", size=15, seed=3, dense_max=10).fit(data).synthetic_
    np.testing.assert_array_equal(small.provenance["indices"], chunked.provenance["indices"])


# ------------------------------------------------------------------------------------ sensitivity sampling
def test_sensitivity_sampling_weights_give_an_unbiased_sum():
    rng = np.random.default_rng(0)
    Z = np.vstack([rng.normal(size=(300, 3)), rng.normal(size=(20, 3)) + 8])
    f = np.abs(Z).sum(1) ** 2  # any function of the rows
    labels, dist = bicriteria(Z, 5, seed=0)
    sens = indfair_sensitivity(kmedian_sensitivity(dist, labels, 5), 5, 0.1)
    m = 40
    est = [np.sum(w * f[idx]) for idx, w in
           (sensitivity_sample(sens, m, np.random.default_rng(s)) for s in range(4000))]
    se = np.std(est) / np.sqrt(len(est))
    assert abs(np.mean(est) - f.sum()) < 4 * se
    idx, w = sensitivity_sample(sens, m, np.random.default_rng(1))
    p = sens / sens.sum()
    np.testing.assert_allclose(w, 1 / (m * p[idx]))


def test_kmedian_sensitivity_closed_form_and_far_points_are_favoured():
    dist = np.array([1.0, 1.0, 2.0, 0.0, 4.0])
    labels = np.array([0, 0, 0, 1, 1])
    s = kmedian_sensitivity(dist, labels, 2)
    alpha = 16 * (np.log(2) + 2)
    expect = alpha * (dist + np.array([4 / 3] * 3 + [2, 2])) / dist.mean() + 4 * 5 / np.array([3, 3, 3, 2, 2])
    np.testing.assert_allclose(s, expect)
    assert s[4] > s[3] and s[2] > s[0]
    extra = indfair_sensitivity(s, 2, 0.1) - s
    np.testing.assert_allclose(extra, 16 * 2 * np.log(5) / (0.1 * 5))


# ----------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("size", [0, -3, 1.5, 10_000, "abc"])
@pytest.mark.parametrize("name", ["uniform", "kmeans", "kmedian-coreset"])
def test_bad_sizes_raise_config_error(name, size):
    with pytest.raises(ConfigError):
        make(name, size=size).fit(biased())


def test_bad_options_raise_config_error():
    with pytest.raises(ConfigError):
        make("kmeans", weights="sqrt")
    with pytest.raises(ConfigError):
        make("kmedoids", max_iter=0)


def test_same_seed_same_coreset_and_groups_option():
    data = biased()
    a = make("kmedian-coreset", size=30, seed=9).fit(data).synthetic_
    b = make("kmedian-coreset", size=30, seed=9).fit(data).synthetic_
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.weights, b.weights)
    single = make("uniform", size=60, seed=0, reweigh=True, groups="single:a").fit(data).synthetic_
    P = weighted_joint(single.weights, single.s[:, 0], single.y)
    assert np.allclose(P, np.outer(P.sum(1), P.sum(0)), atol=1e-10)


@pytest.mark.parametrize("name", ["uniform", "kmeans", "fwc"])
def test_single_class_message_does_not_blame_fwc(name):
    data = biased()
    one = FairDataset(X=data.X, y=np.zeros(len(data), int), s=data.s, sensitive_names=data.sensitive_names)
    with pytest.raises(DataError) as info:
        make(name, size=20).fit(one)
    msg = str(info.value)
    assert "two classes" in msg and "FWC" not in msg and "\n" not in msg


@pytest.mark.parametrize("name", ["uniform", "random", "kmeans"])
@pytest.mark.parametrize("device", ["gpu", "CUDA", "cuda:", "cuda:x", ""])
def test_device_form_checked_at_construction(name, device):
    """The common device parameter rejects what no torch device is (uniform accepted and recorded 'gpu')."""
    with pytest.raises(ConfigError) as info:
        make(name, device=device)
    assert str(info.value) == (f"device={device!r} is not a device name; use auto, cpu, cuda, cuda:N or mps")


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_device_forms_accepted(device):
    assert make("uniform", device=device).device == device


@pytest.mark.parametrize("name", ["uniform", "kmeans", "fwc"])
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:12", "mps"])
def test_unavailable_device_refused_at_construction(name, device):
    """Every method, torch-based or not, refuses a device this machine lacks before any data is read (uniform used to
    accept --device cuda on a CPU machine and record it; mps crashed in torch with a traceback)."""
    import torch
    present = (torch.backends.mps.is_available() if device == "mps" else
               torch.cuda.is_available() and int((device + ":0").split(":")[1]) < torch.cuda.device_count())
    if present:
        assert make(name, device=device).device == device
        return
    with pytest.raises(ConfigError) as info:
        make(name, device=device)
    msg = str(info.value)
    assert msg.startswith(f"device={device!r} asks for ") and ("use auto or cpu" in msg or "use cuda or auto" in msg)
    assert "\n" not in msg


def test_random_takes_ipc_or_size_not_both():
    with pytest.raises(ConfigError) as info:
        make("random", ipc=3, size=0.5)  # --size was ignored
    msg = str(info.value)
    assert "ipc=3" in msg and "size=0.5" in msg and "not both" in msg and "\n" not in msg
    data = biased()
    by_ipc = make("random", ipc=3).fit(data).synthetic_  # ipc on tabular data: rows per class
    assert np.bincount(by_ipc.y).tolist() == [3, 3]
    by_size = make("random", size=30).fit(data).synthetic_
    assert len(by_size) == 30
    help_ = {p.name: p.help for p in make("random").param_spec().values()}
    assert "rows per class" in help_["ipc"] and "tabular" in help_["ipc"] and "not with --size" in help_["ipc"]
    assert "rows in all" in help_["size"] and "image" in help_["size"] and "not with --ipc" in help_["size"]
