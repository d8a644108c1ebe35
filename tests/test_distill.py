"""DM, DC and FairDD: the matching losses against independent computations, FairDD's two theorems, the
samplers, resumption and the input errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fairdistill.dataset import FairDataset
from fairdistill.errors import ConfigError, DataError
from fairdistill.methods import get, make
from fairdistill.methods.distill import DC, DM, FairDDDC, FairDDDM, preview_uint8
from fairdistill.methods.distill.dc import loops_for
from fairdistill.methods.distill.matching import (embedding_loss, gradient_distance, group_gradients, group_means,
                                                  hooks_supported)
from fairdistill.methods.distill.samplers import ClassSampler, initial_rows
from fairdistill.nn.convnet import ConvNet

TINY = {"ipc": 2, "iterations": 4, "batch_real": 12, "net_width": 8, "net_depth": 2}
TINY_DC = {**TINY, "iterations": 2, "outer_loop": 2, "inner_loop": 2}


def toy_images(n=90, classes=3, groups=2, size=8, seed=0, minority=0.2):
    """Images whose mean depends on class and group; group 0 is the majority of every class."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    s = (rng.random(n) < minority).astype(int) * rng.integers(1, groups, n) if groups > 1 else np.zeros(n, int)
    X = rng.standard_normal((n, 3, size, size)) * 0.3 + 0.5 * y[:, None, None, None] - 0.4 * s[:, None, None, None]
    return FairDataset(X=X.astype(np.float32), y=y, s=s, sensitive_names=["colour"], modality="image", name="toy",
                       n_classes=classes)


def test_registry_names():
    assert get("dm") is DM and get("dc") is DC and get("fairdd-dm") is FairDDDM and get("fairdd-dc") is FairDDDC


# --------------------------------------------------------------------------------------------- group statistics
def test_group_means_equal_python_loop_and_skip_absent_groups():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(40, 7, generator=g)
    gid = torch.randint(0, 6, (40,), generator=g)
    gid[gid == 2] = 4  # group 2 absent
    got = group_means(feats, gid, 6)
    ref = torch.stack([feats[gid == a].mean(0) for a in range(6) if (gid == a).any()])
    assert got.shape == (5, 7) and torch.allclose(got, ref, atol=1e-6)
    loss = embedding_loss(feats, torch.randn(3, 7), gid, 6)
    assert torch.isfinite(loss)


def test_fairdd_loss_equals_direct_sum_and_mean():
    g = torch.Generator().manual_seed(1)
    real, syn = torch.randn(30, 5, generator=g), torch.randn(4, 5, generator=g)
    gid = torch.randint(0, 3, (30,), generator=g)
    direct = sum(((real[gid == a].mean(0) - syn.mean(0)) ** 2).sum() for a in range(3))
    assert torch.allclose(embedding_loss(real, syn, gid, 3, "sum"), direct, atol=1e-5)
    assert torch.allclose(embedding_loss(real, syn, gid, 3, "mean"), direct / 3, atol=1e-5)
    assert torch.allclose(embedding_loss(real, syn), ((real.mean(0) - syn.mean(0)) ** 2).sum(), atol=1e-5)


def test_jensen_fairdd_loss_at_least_vanilla():
    """Theorem 5.2: sum_a ||mu_a - s||^2 >= sum_a r_a ||mu_a - s||^2 >= ||sum_a r_a mu_a - s||^2."""
    for seed in range(25):
        g = torch.Generator().manual_seed(seed)
        n = int(torch.randint(5, 60, (1,), generator=g))
        real, syn = torch.randn(n, 6, generator=g) * 3, torch.randn(3, 6, generator=g)
        gid = torch.randint(0, 4, (n,), generator=g)
        assert embedding_loss(real, syn, gid, 4) >= embedding_loss(real, syn) - 1e-5


@pytest.mark.parametrize("ratio", [0.9, 0.6])
def test_fairdd_optimum_is_unweighted_mean_of_group_centres(ratio):
    """Theorem 5.1 with a fixed embedder: gradient descent on the FairDD loss sends the synthetic mean embedding to
    the unweighted mean of the group centres, whatever the group ratios; vanilla DM to the ratio-weighted mean."""
    g = torch.Generator().manual_seed(0)
    W = torch.randn(4, 6, generator=g)
    embed = lambda x: x @ W  # noqa: E731 - a fixed embedder (linear, so every target mean is reachable)
    n0 = int(200 * ratio)
    real = torch.cat([torch.randn(n0, 4, generator=g) * 0.3 + 1.0, torch.randn(200 - n0, 4, generator=g) * 0.3 - 1.0,
                      torch.randn(40, 4, generator=g) * 0.3 + torch.tensor([1.0, -1, 1, -1])])
    gid = torch.cat([torch.zeros(n0), torch.ones(200 - n0), torch.full((40,), 2)]).long()
    fr = embed(real)
    centres = group_means(fr, gid, 3)
    for fair, want in ((True, centres.mean(0)), (False, fr.mean(0))):
        syn = torch.zeros(5, 4, requires_grad=True)
        opt = torch.optim.LBFGS([syn], lr=1, max_iter=200, line_search_fn="strong_wolfe", tolerance_grad=1e-10,
                                tolerance_change=1e-14)

        def closure():
            opt.zero_grad()
            loss = embedding_loss(fr, embed(syn), gid if fair else None, 3)
            loss.backward()
            return loss
        opt.step(closure)
        got = embed(syn).mean(0).detach()
        assert torch.allclose(got, want, atol=1e-4), (fair, got, want)
    assert (centres.mean(0) - fr.mean(0)).norm() > 0.1  # the two optima really differ


# --------------------------------------------------------------------------------------------- gradient matching
def _direct_distance(real, syn, match):
    r = [t.detach().double().numpy() for t in real]
    s = [t.detach().double().numpy() for t in syn]
    if match == "mse":
        return sum(((a - b) ** 2).sum() for a, b in zip(r, s))
    if match == "cos":
        a, b = np.concatenate([t.ravel() for t in r]), np.concatenate([t.ravel() for t in s])
        return 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-6)
    total = 0.0
    for a, b in zip(r, s):
        if a.ndim == 1:
            continue
        a2, b2 = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
        for i in range(a2.shape[0]):
            total += 1 - a2[i] @ b2[i] / (np.linalg.norm(a2[i]) * np.linalg.norm(b2[i]) + 1e-6)
    return total


@pytest.mark.parametrize("match", ["ours", "mse", "cos"])
def test_gradient_distance_equals_direct_computation(match):
    g = torch.Generator().manual_seed(2)
    shapes = [(4, 3, 3, 3), (4,), (5, 8), (5,)]
    real = [torch.randn(s, generator=g) for s in shapes]
    syn = [torch.randn(s, generator=g) for s in shapes]
    got = gradient_distance(real, syn, match)
    assert got.ndim == 0 and abs(float(got) - _direct_distance(real, syn, match)) < 1e-4
    stacked = [torch.stack([r, 2 * r + 1]) for r in real]
    per = gradient_distance(stacked, syn, match, grouped=True)
    assert per.shape == (2,)
    assert abs(float(per[1]) - _direct_distance([2 * r + 1 for r in real], syn, match)) < 1e-4
    with pytest.raises(ConfigError):
        gradient_distance(real, syn, "l1")


@pytest.mark.parametrize("how", ["hooks", "loop"])
def test_group_gradients_equal_separate_per_group_autograd(how):
    torch.manual_seed(0)
    net = ConvNet(3, 4, 8, width=6, depth=2)
    x = torch.randn(20, 3, 8, 8)
    y = torch.full((20,), 2)
    gid = torch.tensor([0, 3, 3, 0, 4] * 4)  # groups 1, 2 absent
    got = group_gradients(net, x, y, gid, 5, how=how)
    params = list(net.parameters())
    for p, a in enumerate([0, 3, 4]):
        m = gid == a
        ref = torch.autograd.grad(F.cross_entropy(net(x[m]), y[m]), params)
        for gg, rr in zip(got, ref):
            assert gg.shape[0] == 3
            assert torch.allclose(gg[p], rr, atol=1e-5, rtol=1e-4)


def test_hooks_refused_for_batchnorm():
    net = ConvNet(3, 4, 8, width=4, depth=1, norm="batch")
    assert not hooks_supported(net) and hooks_supported(ConvNet(3, 4, 8, width=4, depth=1))
    with pytest.raises(ConfigError):
        group_gradients(net, torch.randn(4, 3, 8, 8), torch.zeros(4).long(), torch.zeros(4).long(), 1, how="hooks")


def test_dc_loop_table():
    assert [loops_for(i) for i in (1, 10, 20, 30, 40, 50, 100)] == [
        (1, 1), (10, 50), (20, 25), (30, 20), (40, 15), (50, 10), (100, 10)]
    assert loops_for(5) == (10, 50)


# ---------------------------------------------------------------------------------------------------- samplers
def test_samplers():
    y = np.array([0] * 10 + [1] * 6)
    gid = np.array([0] * 8 + [1] * 2 + [0] * 6)
    s = ClassSampler(y, gid, 2, "stratified")
    idx = s.draw(0, 6, torch.Generator().manual_seed(0)).numpy()
    assert len(idx) == 6 and (gid[idx] == 0).sum() == 3 and (gid[idx] == 1).sum() == 3  # with replacement for 1
    u = ClassSampler(y, gid, 2, "uniform").draw(1, 100, torch.Generator().manual_seed(0)).numpy()
    assert sorted(u) == list(range(10, 16))  # capped at the class size, no repeats
    rows = initial_rows(y, gid, 0, 4, np.random.default_rng(0), balanced=True)
    assert (gid[rows] == 1).sum() == 2 and len(set(rows)) == 4


# ------------------------------------------------------------------------------------------------------ methods
@pytest.mark.parametrize("name", ["dm", "fairdd-dm", "dc", "fairdd-dc"])
def test_fit_outputs(name):
    data = toy_images()
    m = make(name, **(TINY_DC if "dc" in name else TINY)).fit(data)
    S = m.synthetic_
    assert S.X.shape == (6, 3, 8, 8) and S.X.dtype == np.float32 and np.isfinite(S.X).all()
    assert S.y.tolist() == [0, 0, 1, 1, 2, 2] and (S.s == -1).all()
    assert len(S.provenance["init_group"]) == 6 and S.provenance["method"] == name
    assert np.isfinite(S.provenance["final_loss"])
    assert preview_uint8(S).shape == (6, 8, 8, 3)
    # the downstream protocol of METHODS.md §1 travels with the set: DM sets 1000 epochs with DSA, DC sets 300
    ev = S.provenance["eval"]
    assert ev["model"] == "convnet" and ev["repeats"] == 5
    assert ev["options"] == ({"epochs": 300} if "dc" in name else {"epochs": 1000, "dsa": True})


def test_images_move_and_fair_loss_differs():
    data = toy_images(minority=0.3)
    a = make("dm", **TINY, seed=1).fit(data).synthetic_
    b = make("fairdd-dm", **TINY, seed=1).fit(data).synthetic_
    rows = [data.X[np.flatnonzero(data.y == c)] for c in range(3)]
    assert all(not np.isin(a.X[i], rows[a.y[i]]).all() for i in range(len(a.X)))  # optimised, not copies
    assert not np.allclose(a.X, b.X)


def test_absent_groups_and_small_batches_never_nan():
    data = toy_images(n=60, groups=5, minority=0.1)
    for name in ("fairdd-dm", "fairdd-dc"):
        m = make(name, **(TINY_DC if "dc" in name else TINY), sampler="uniform")
        S = m.fit(data).synthetic_
        assert np.isfinite(S.X).all() and np.isfinite(S.provenance["final_loss"])


def test_init_balanced_and_noise():
    data = toy_images(n=120, minority=0.2)
    S = make("dm", **{**TINY, "ipc": 4, "iterations": 1}, init_balanced=True).fit(data).synthetic_
    ig = np.array(S.provenance["init_group"]).reshape(3, 4)
    assert ((ig == 1).sum(1) == 2).all()
    N = make("dm", **TINY, init="noise").fit(data).synthetic_
    assert (np.array(N.provenance["init_group"]) == -1).all()


def test_tabular_fairdd_mean_moves_towards_unweighted_group_mean():
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 2, n)
    s = (rng.random(n) < 0.15).astype(int)
    X = rng.standard_normal((n, 3)) * 0.3
    X[:, 0] += np.where(s == 1, -2.0, 2.0)
    X[:, 1] += y
    data = FairDataset(X=X.astype(np.float32), y=y, s=s, sensitive_names=["g"], name="tab")
    kw = {"ipc": 10, "iterations": 300, "batch_real": 256, "net_width": 64, "net_depth": 1, "lr_img": 1.0}
    dm = make("dm", **kw).fit(data).synthetic_
    fair = make("fairdd-dm", **kw).fit(data).synthetic_
    for c in range(2):
        unweighted = np.mean([X[(y == c) & (s == a), 0].mean() for a in (0, 1)])
        weighted = X[y == c, 0].mean()
        d_fair = abs(fair.X[fair.y == c, 0].mean() - unweighted)
        d_dm = abs(dm.X[dm.y == c, 0].mean() - unweighted)
        assert d_fair < 0.5 * d_dm, (c, d_fair, d_dm)
        assert abs(dm.X[dm.y == c, 0].mean() - weighted) < d_dm


@pytest.mark.parametrize("name", ["fairdd-dm", "fairdd-dc"])
def test_resume_equals_uninterrupted(tmp_path, name):
    data = toy_images()
    kw = {**(TINY_DC if "dc" in name else TINY), "iterations": 5, "checkpoint_every": 2, "dsa": True}
    full = make(name, **kw).fit(data, checkpoint_dir=tmp_path / "a").synthetic_

    class Stop(Exception):
        pass

    m = make(name, **kw)
    calls = {"n": 0}
    original = m._iteration

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise Stop
        return original(*args, **kwargs)

    m._iteration = interrupted
    with pytest.raises(Stop):
        m.fit(data, checkpoint_dir=tmp_path / "b")
    resumed = make(name, **kw).fit(data, checkpoint_dir=tmp_path / "b", resume=True).synthetic_
    assert np.array_equal(resumed.X, full.X)


def test_same_seed_same_result_and_seed_matters():
    data = toy_images()
    a = make("fairdd-dm", **TINY, seed=3).fit(data).synthetic_.X
    assert np.array_equal(a, make("fairdd-dm", **TINY, seed=3).fit(data).synthetic_.X)
    assert not np.array_equal(a, make("fairdd-dm", **TINY, seed=4).fit(data).synthetic_.X)


# -------------------------------------------------------------------------------------------------------- errors
def test_errors():
    data = toy_images(n=30)
    with pytest.raises(DataError, match="ipc=20"):
        make("dm", **{**TINY, "ipc": 20}).fit(data)
    four = FairDataset(X=data.X, y=data.y, s=data.s, sensitive_names=["colour"], modality="image", n_classes=4)
    with pytest.raises(DataError, match=r"\[3\]"):
        make("fairdd-dm", **TINY).fit(four)
    S = make("fairdd-dm", **TINY, init="noise").fit(four).synthetic_
    assert S.provenance["skipped_classes"] == [3] and 3 not in S.y
    raw = FairDataset(X=data.X * 0 + 200.0, y=data.y, s=data.s, sensitive_names=["colour"], modality="image")
    with pytest.raises(DataError, match="normalised"):
        make("dm", **TINY).fit(raw)
    tab = FairDataset(X=np.zeros((30, 4), np.float32), y=data.y, s=data.s, sensitive_names=["colour"])
    with pytest.raises(DataError, match="image"):
        make("dc", **TINY).fit(tab)
    bad = toy_images(n=30)
    bad.X[0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        make("dm", **TINY).fit(bad)
    with pytest.raises(ConfigError):
        make("dm", sampler="balanced")
    with pytest.raises(ConfigError):
        make("dc", match="l1")
