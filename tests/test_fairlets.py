"""Fairlets (Backurs et al. 2019): tree fairlet decomposition, balance, weighted k-median reduction, group shares."""
import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from fairdistill.dataset import FairDataset
from fairdistill.errors import ConfigError
from fairdistill.methods import make
from fairdistill.methods.coreset_utils import euclidean
from fairdistill.methods.fairlets import (apportion_groups, default_t, fairlet_medoids, hand_up, is_balanced,
                                         tree_fairlets)


def counts(labels, colour):
    red = np.bincount(labels, weights=colour == 1).astype(int)
    return red, np.bincount(labels) - red


def toy(n=400, seed=0, p1=0.3, axes=1):
    """Two blobs per group with a group shift; group 1 has share p1; a second binary axis when axes=2."""
    rng = np.random.default_rng(seed)
    s = (rng.random((n, axes)) < p1).astype(int)
    X = rng.normal(size=(n, 3)) + 4.0 * rng.integers(0, 2, (n, 1)) + 0.7 * s[:, :1]
    y = (X[:, 0] + rng.normal(size=n) > 2).astype(int)
    return FairDataset(X=X, y=y, s=s, sensitive_names=["a", "b"][:axes], name="toy")


# ------------------------------------------------------------------------------------------- hand-up rule
def test_hand_up_keeps_every_child_and_the_pool_balanced_and_hands_up_at_least_the_forced_surplus():
    rng = np.random.default_rng(1)
    tried = 0
    for _ in range(3000):
        t = int(rng.integers(1, 5))
        k = int(rng.integers(1, 7))
        r, b = rng.integers(0, 9, k), rng.integers(0, 9, k)
        if not is_balanced(r.sum(), b.sum(), t):
            continue
        tried += 1
        hr, hb = hand_up(r, b, t)
        assert np.all((0 <= hr) & (hr <= r) & (0 <= hb) & (hb <= b))
        assert np.all(is_balanced(r - hr, b - hb, t)), (r, b, t, hr, hb)
        assert is_balanced(hr.sum(), hb.sum(), t), (r, b, t, hr, hb)
        # no balanced child can keep more than t of one colour per one of the other
        assert np.all(hr >= np.where(b == 0, r, np.maximum(r - t * b, 0)))
        assert np.all(hb >= np.where(r == 0, b, np.maximum(b - t * r, 0)))
    assert tried > 1000


def test_hand_up_hands_nothing_up_when_every_child_is_already_balanced():
    hr, hb = hand_up([2, 1, 3], [1, 1, 2], 2)
    assert hr.sum() == hb.sum() == 0


# ---------------------------------------------------------------------------------------- decomposition
@pytest.mark.parametrize("p1,t", [(0.5, 1), (0.3, None), (0.3, 5), (0.7, None), (0.12, None)])
def test_tree_fairlets_partition_the_rows_into_balanced_fairlets(p1, t):
    rng = np.random.default_rng(2)
    n = 500
    X = rng.normal(size=(n, 4)) * np.array([1, 5, 0.1, 1])
    colour = (rng.random(n) < p1).astype(int)
    if p1 == 0.5:  # t = 1 needs exactly equal counts
        colour = np.r_[np.zeros(n // 2, int), np.ones(n // 2, int)][rng.permutation(n)]
    t = t or default_t(colour)
    labels = tree_fairlets(X, colour, t, np.random.default_rng(0))
    assert labels.shape == (n,) and labels.min() == 0
    assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))  # every label used: a partition
    r, b = counts(labels, colour)
    assert np.all((r >= 1) & (b >= 1)), "a fairlet misses a colour"
    assert np.all(np.maximum(r, b) <= t * np.minimum(r, b)), "a fairlet exceeds the balance bound"
    assert np.maximum(r, b).max() <= t and np.minimum(r, b).max() == 1  # one minority row per fairlet


def test_default_t_is_the_smallest_feasible_balance():
    colour = np.r_[np.zeros(70, int), np.ones(30, int)]
    assert default_t(colour) == 3  # 70 / 30 = 2.33
    tree_fairlets(np.arange(100.0)[:, None], colour, 3, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="t >= 3"):
        tree_fairlets(np.arange(100.0)[:, None], colour, 2, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="two values"):
        tree_fairlets(np.zeros((4, 1)), np.array([0, 1, 2, 1]), 3, np.random.default_rng(0))


def test_tree_fairlet_cost_is_close_to_the_optimal_matching_and_far_below_random_pairs():
    """t = 1 with equal colour counts: fairlets are red-blue pairs, and the optimal decomposition is the min-cost
    perfect bipartite matching (Hungarian). The tree's pairs must cost at least that, and be near it (Backurs et
    al.: O(d log n) in expectation; here d = 2) and far below a random pairing."""
    rng = np.random.default_rng(0)
    n = 400
    X = rng.normal(size=(n, 2)) + 10.0 * rng.integers(0, 4, (n, 1)) * np.array([1.0, 0.0])
    colour = np.r_[np.zeros(n // 2, int), np.ones(n // 2, int)][rng.permutation(n)]
    red, blue = np.flatnonzero(colour == 1), np.flatnonzero(colour == 0)
    D = euclidean(X[red], X[blue])
    opt = D[linear_sum_assignment(D)].sum()
    random_pairs = np.linalg.norm(X[red] - X[rng.permutation(blue)], axis=1).sum()
    ratios = []
    for seed in range(5):
        labels = tree_fairlets(X, colour, 1, np.random.default_rng(seed))
        order = np.argsort(labels, kind="stable").reshape(-1, 2)
        cost = np.linalg.norm(X[order[:, 0]] - X[order[:, 1]], axis=1).sum()
        assert cost >= opt - 1e-9
        assert cost < random_pairs / 3
        ratios.append(cost / opt)
    assert np.mean(ratios) < 2.5, ratios


def test_fairlet_medoid_minimises_the_summed_distance_within_its_fairlet():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    labels = rng.permutation(np.repeat(np.arange(15), 4))
    rows = fairlet_medoids(X, labels)
    for f in range(15):
        members = np.flatnonzero(labels == f)
        cost = euclidean(X[members], X[members]).sum(1)
        assert labels[rows[f]] == f
        assert cost[members.tolist().index(rows[f])] == pytest.approx(cost.min())


# ------------------------------------------------------------------------------------------ group shares
def test_apportion_groups_is_within_half_a_cluster_and_least_mismatched_among_equal_weight_labellings():
    rng = np.random.default_rng(4)
    for _ in range(30):
        sizes = rng.integers(1, 9, 10)
        share = rng.integers(0, 9, 10) / 8
        p = float(rng.random())
        mask = apportion_groups(sizes, share, p)
        got = sizes[mask].sum()
        assert abs(got - p * sizes.sum()) <= sizes.max() / 2 + 1e-9
        mismatch = lambda m: np.sum(sizes * np.where(m, 1 - share, share))  # noqa: E731
        for bits in itertools.product([False, True], repeat=10):  # brute force over all 1024 labellings
            other = np.array(bits)
            if sizes[other].sum() == got:
                assert mismatch(mask) <= mismatch(other) + 1e-9


# ---------------------------------------------------------------------------------------------- estimator
@pytest.mark.parametrize("cluster", ["kmedoids", "kmeans"])
def test_weights_sum_to_m_clusters_are_balanced_and_the_group_share_is_kept(cluster):
    data = toy()
    est = make("fairlets", size=20, cluster=cluster, seed=0).fit(data)
    out = est.synthetic_
    n, m = len(data), 20
    assert len(out) == m and out.weights.sum() == pytest.approx(m)
    sizes = np.bincount(est.clusters_, minlength=m)
    assert np.allclose(out.weights, m * sizes / n)  # w_j = m |C_j| / n
    colour = data.s[:, 0]
    t = est.t_
    assert t == default_t(colour)
    r, b = counts(est.clusters_, colour)
    assert np.all(np.maximum(r, b) <= t * np.minimum(r, b)), "a cluster is not a union of balanced fairlets"
    assert np.all(np.bincount(est.fairlets_) >= 2)
    for f in range(est.fairlets_.max() + 1):  # a fairlet is never split between clusters
        assert len(np.unique(est.clusters_[est.fairlets_ == f])) == 1
    share = np.sum(out.weights * (out.s[:, 0] == 1)) / m
    assert abs(share - colour.mean()) <= sizes.max() / (2 * n) + 1e-9
    assert out.provenance["t"] == t and out.provenance["n_fairlets"] == est.fairlets_.max() + 1
    if cluster == "kmedoids":  # real rows
        idx = np.asarray(out.provenance["indices"])
        assert np.array_equal(out.X, data.X[idx]) and np.array_equal(out.s, data.s[idx])
        assert np.array_equal(out.y, data.y[idx])


def test_without_apportion_a_medoid_keeps_its_own_group():
    data = toy()
    a = make("fairlets", size=15, apportion=False, seed=0).fit(data)
    idx = np.asarray(a.synthetic_.provenance["indices"])
    assert np.array_equal(a.synthetic_.s, data.s[idx])
    assert np.array_equal(idx, make("fairlets", size=15, apportion=False, seed=0).fit(data).synthetic_
                          .provenance["indices"])


def test_twins_give_pair_fairlets_and_the_weighted_kmedian_of_the_locations():
    """Every location holds one row of each group (same X, same y): with t = 1 the zero-cost decomposition pairs the
    twins, so the method is weighted k-median on the locations. Three far-apart blobs and m = 3: each point is its
    blob's exact Euclidean 1-median in (X, Y) among the blob's locations (brute force), with weight
    m · blob size / n."""
    rng = np.random.default_rng(5)
    blob_sizes = [12, 20, 8]
    loc = np.concatenate([rng.normal(size=(k, 2)) + 100.0 * i for i, k in enumerate(blob_sizes)])
    X = np.repeat(loc, 2, axis=0)
    s = np.tile([0, 1], len(loc))[:, None]
    y = np.repeat((loc[:, 0] > np.median(loc[:, 0])).astype(int), 2)
    data = FairDataset(X=X, y=y, s=s, sensitive_names=["g"], name="twins")
    est = make("fairlets", size=3, t=1, seed=0).fit(data)
    f = est.fairlets_
    assert f.max() + 1 == len(loc)
    assert np.all(np.bincount(f) == 2) and np.array_equal(f[0::2], f[1::2])  # twins together
    out = est.synthetic_
    n, start = len(data), 0
    got = {tuple(np.round(x, 9)): w for x, w in zip(out.X, out.weights)}
    for k in blob_sizes:
        block = loc[start:start + k]
        z = np.column_stack([block, y[2 * start:2 * (start + k):2]])  # distances in Z = (X, Y), Y a 0/1 column
        median = block[np.argmin(euclidean(z, z).sum(1))]
        assert tuple(np.round(median.astype(np.float32), 9)) in got
        assert got[tuple(np.round(median.astype(np.float32), 9))] == pytest.approx(3 * 2 * k / n)
        start += k


def test_seeds_reproduce_and_the_shift_depends_on_the_seed():
    data = toy()
    a = make("fairlets", size=10, seed=3).fit(data)
    b = make("fairlets", size=10, seed=3).fit(data)
    c = make("fairlets", size=10, seed=4).fit(data)
    assert np.array_equal(a.fairlets_, b.fairlets_)
    assert np.array_equal(a.synthetic_.X, b.synthetic_.X) and np.array_equal(a.synthetic_.weights,
                                                                             b.synthetic_.weights)
    assert not np.array_equal(a.fairlets_, c.fairlets_)


def test_bad_input_gives_one_line_config_errors():
    two_axes = toy(axes=2)
    with pytest.raises(ConfigError, match="single:<axis>") as e:
        make("fairlets", size=10).fit(two_axes)  # joint grouping of two binary axes: 4 groups
    assert "\n" not in str(e.value)
    make("fairlets", size=10, groups="single:b").fit(two_axes)  # one binary axis works
    data = toy(n=100, p1=0.2)
    n_min = int(min(np.bincount(data.s[:, 0])))
    with pytest.raises(ConfigError, match="fairlets; give size <="):
        make("fairlets", size=n_min + 1).fit(data)  # a fairlet holds one row of the smaller group
    with pytest.raises(ConfigError, match="t >= "):
        make("fairlets", size=5, t=1).fit(data)
    with pytest.raises(ConfigError):
        make("fairlets", t=-1)
    with pytest.raises(ConfigError):
        make("fairlets", cluster="spectral")


def test_real_crime_subsample(data_dir):
    from fairdistill import datasets

    full = datasets.load("crime", split="train", data_dir=data_dir, seed=0, protocol="fwc")
    data = full.subset(np.random.default_rng(0).choice(len(full), 500, replace=False))
    for cluster in ("kmedoids", "kmeans"):
        est = make("fairlets", size=0.1, cluster=cluster, seed=0, reweigh=True).fit(data)
        out = est.synthetic_
        assert len(out) == 50 and out.weights.sum() == pytest.approx(50)
        r, b = counts(est.clusters_, data.s[:, 0])
        assert np.all(np.maximum(r, b) <= est.t_ * np.minimum(r, b))
        # reweigh: group and label independent under the output weights
        P = np.zeros((2, 2))
        np.add.at(P, (out.s[:, 0], out.y), out.weights)
        P /= P.sum()
        assert np.allclose(P, np.outer(P.sum(1), P.sum(0)), atol=1e-9)
        assert np.isfinite(out.X).all() and out.X.shape[1] == data.X.shape[1]
