"""Fair4Free: the V^2 and dcor penalties, the mixed tabular VAE, the student's collapse under the paper's L1 loss,
sampling, errors, determinism and resume. Small synthetic data only."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from fairdistill.dataset import FairDataset
from fairdistill.datasets.encoding import TabularEncoder
from fairdistill.errors import ConfigError, DataError
from fairdistill.methods import make
from fairdistill.methods.fair4free import Fair4Free, Student, dcor2, sliced_wasserstein, v2_analytic
from fairdistill.methods.fair4free.estimator import LG_BETA_DCOR
from fairdistill.methods.fair4free.parity import parity_offsets
from fairdistill.methods.fair4free.penalty import independence_penalty, kernel_v2
from fairdistill.methods.fair4free.student import student_epoch
from fairdistill.nn.mmd import median_bandwidths, mmd2

FAST = dict(teacher_epochs=4, student_epochs=2, batch_size=128, student_batch_size=128, label_shift="none")
ELBO = dict(teacher_kl_weight=1.0, y_mode="latent")  # the paper's teacher (KL weight 1, teacher never sees y)


# ----------------------------------------------------------------------------- data
def make_table(n=400, seed=0, n_axes=1, constant_s=False, one_class=False):
    """Rows with a categorical, a binned and a numeric column, all depending on s; y depends on x and s."""
    rng = np.random.default_rng(seed)
    s = np.zeros((n, n_axes), dtype=int) if constant_s else rng.integers(0, 2, (n, n_axes))
    a = s[:, 0]
    df = pd.DataFrame({
        "colour": np.where(rng.random(n) < 0.2 + 0.6 * a, "red", rng.choice(["blue", "green"], n)),
        "age": rng.normal(30 + 10 * a, 5, n),
        "score": rng.normal(a, 1.0, n),
        "noise": rng.choice(["p", "q", "r"], n),
    })
    enc = TabularEncoder().fit(df, numeric=["score"], categorical=["colour", "noise"],
                               binned={"age": np.linspace(df.age.min(), df.age.max(), 6).tolist()})
    X = enc.transform(df)
    y = np.zeros(n, int) if one_class else (df.score.to_numpy() + rng.normal(0, 0.5, n) > 0.5).astype(int)
    return FairDataset(X=X, y=y, s=s, sensitive_names=[f"a{j}" for j in range(n_axes)], name="toy",
                       meta={"encoder": enc})


@pytest.fixture(scope="module")
def toy():
    return make_table()


def block_sums(X, enc):
    return {name: X[:, sl].sum(1) for name, kind, sl, _ in enc.blocks if kind == "categorical"}


# ------------------------------------------------------------------------ penalties
def v2_by_definition(mu, var, g):
    """FairDisCo's estimator written as the double sum with scipy's Gaussian density (float64)."""
    n = len(mu)
    k = np.array([[multivariate_normal.pdf(mu[i] - mu[j], mean=np.zeros(mu.shape[1]),
                                           cov=np.diag(var[i] + var[j])) for j in range(n)] for i in range(n)])
    out = 0.0
    for s in np.unique(g):
        idx = g == s
        if 0 < idx.sum() < n:
            out += (idx.sum() / n) ** 2 * (k.mean() + k[np.ix_(idx, idx)].mean() - 2 * k[idx].mean())
    return out


def test_v2_matches_double_sum():
    rng = np.random.default_rng(1)
    mu, var = rng.normal(size=(9, 3)), rng.uniform(0.2, 1.5, (9, 3))
    g = np.array([0, 1, 2, 0, 1, 0, 0, 2, 1])
    got = v2_analytic(torch.tensor(mu), torch.tensor(np.log(var)), torch.tensor(g), 3).item()
    assert got == pytest.approx(v2_by_definition(mu, var, g), rel=1e-6)
    # the short-batch factor n / batch_size
    half = v2_analytic(torch.tensor(mu), torch.tensor(np.log(var)), torch.tensor(g), 3, batch_size=18).item()
    assert half == pytest.approx(got / 2, rel=1e-9)


def test_v2_is_the_integral_of_the_squared_density_gap():
    """With batch_size = n, V^2 = int sum_s (p(z, s) - p(s) p(z))^2 dz for the mixture of posteriors (1-D grid)."""
    rng = np.random.default_rng(2)
    mu, var, g = rng.normal(size=(12, 1)), rng.uniform(0.1, 0.8, (12, 1)), rng.integers(0, 2, 12)
    grid = np.linspace(-8, 8, 40001)
    q = np.exp(-0.5 * (grid[None] - mu) ** 2 / var) / np.sqrt(2 * math.pi * var)  # n x grid
    gap = sum(((q[g == s].sum(0) / 12) - (g == s).mean() * q.mean(0)) ** 2 for s in (0, 1))
    integral = np.trapezoid(gap, grid)
    got = v2_analytic(torch.tensor(mu), torch.tensor(np.log(var)), torch.tensor(g), 2).item()
    assert got == pytest.approx(integral, rel=1e-5)


def test_v2_zero_when_independent_positive_when_dependent():
    gen = torch.Generator().manual_seed(0)
    g = torch.randint(0, 2, (600,), generator=gen)
    logvar = torch.full((600, 2), math.log(0.1))
    indep = v2_analytic(torch.randn((600, 2), generator=gen), logvar, g, 2).item()
    dep = v2_analytic(torch.randn((600, 2), generator=gen) * 0.3 + 2.0 * g[:, None], logvar, g, 2).item()
    assert dep > 0.01 and indep < dep / 50
    assert abs(indep) < 2e-3


def test_dcor_independent_dependent_and_scale_free():
    gen = torch.Generator().manual_seed(0)
    g = torch.randint(0, 2, (500,), generator=gen)
    s1h = torch.nn.functional.one_hot(g, 2).double()
    z = torch.randn((500, 4), generator=gen, dtype=torch.float64)
    assert dcor2(z, s1h).item() < 0.02
    zd = z * 0.5 + 2.0 * g[:, None]
    assert dcor2(zd, s1h).item() > 0.5
    assert dcor2(z, z).item() == pytest.approx(1.0, abs=1e-9)
    assert dcor2(3.0 * zd + 7.0, s1h).item() == pytest.approx(dcor2(zd, s1h).item(), rel=1e-9)


def test_sliced_wasserstein_of_shift_in_1d():
    """In 1-D every direction is +-1, so SWD_1 of x and x + c is exactly |c|."""
    x = torch.randn(300, 1, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(x, x + 0.7, n_proj=16).item() == pytest.approx(0.7, abs=1e-5)
    assert sliced_wasserstein(x, x[torch.randperm(300)], n_proj=16).item() == pytest.approx(0.0, abs=1e-6)


# -------------------------------------------------------------------------- teacher
def latent_toy(n=400, seed=0):
    """x = 4 (u, -u, u/2 + v, v) + noise with u = 2.5 s + N(0, 1): the information in x is largely about s."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n)
    u, v = 2.5 * s + rng.normal(size=n), rng.normal(size=n)
    X = 4 * (np.c_[u, -u, 0.5 * u + v, v] + 0.3 * rng.normal(size=(n, 4)))
    return FairDataset(X=X, y=(u + v > 0.7).astype(int), s=s, sensitive_names=["a"])


def s_auc(model, data):
    """Cross-validated AUC of a logistic regression predicting s from the teacher's posterior means."""
    pred = cross_val_predict(LogisticRegression(max_iter=1000), model.teacher_latents_, data.s[:, 0], cv=3,
                             method="predict_proba")[:, 1]
    return roc_auc_score(data.s[:, 0], pred)


@pytest.fixture(scope="module")
def plain_teacher():
    data = latent_toy()
    return data, Fair4Free(lg_beta=0, **ELBO, teacher_epochs=100, student_epochs=1, batch_size=200,
                           lr_teacher=3e-3).fit(data)


def test_teacher_reconstructs_and_penalty_removes_s(plain_teacher):
    data, plain = plain_teacher
    fair = Fair4Free(lg_beta=7, penalty="analytic", **ELBO, teacher_epochs=100, student_epochs=1, batch_size=200, penalty_rows=0,
                     lr_teacher=3e-3).fit(data)
    re = [h["re"] for h in plain.history_["teacher"]]
    assert re[-1] < 0.2 * re[0]
    assert all(h["v2"] == 0 for h in plain.history_["teacher"])  # beta <= 1: penalty off
    auc_plain, auc_fair = s_auc(plain, data), s_auc(fair, data)
    assert auc_plain > 0.85
    assert auc_fair < auc_plain - 0.1


def test_dcor_penalty_also_removes_s(plain_teacher):
    data, plain = plain_teacher
    fair = Fair4Free(penalty="dcor", lg_beta=2, **ELBO, teacher_epochs=100, student_epochs=1, batch_size=200,
                     lr_teacher=3e-3).fit(data)
    assert s_auc(fair, data) < s_auc(plain, data) - 0.2


def test_default_teacher_removes_s_where_v2_fails_at_low_kl_weight():
    """With KL weight 0.1 the posteriors are narrow and far apart, V^2's kernels stop overlapping and s stays in z;
    the scale-free dcor penalty (the default) still removes it, y head included."""
    data = latent_toy()
    kw = dict(teacher_kl_weight=0.1, y_mode="head", teacher_epochs=100, student_epochs=1, batch_size=200,
              penalty_rows=0, lr_teacher=3e-3)
    v2 = Fair4Free(penalty="analytic", lg_beta=7, **kw).fit(data)
    default = Fair4Free(**kw).fit(data)
    assert s_auc(v2, data) > 0.85
    assert s_auc(default, data) < 0.7


# -------------------------------------------------------------------------- student
def train_student(loss, kl_weight, latents, steps=300):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    st = Student(z_dim=latents.shape[1], noise_dim=16, hidden=32)
    opt = torch.optim.Adam(st.parameters(), lr=1e-2)
    logvar = torch.full_like(latents, math.log(0.01))
    for _ in range(steps // (len(latents) // 256)):
        student_epoch(st, opt, latents, logvar, batch_size=256, loss=loss, kl_weight=kl_weight, generator=gen)
    with torch.no_grad():
        mu, _ = st(torch.randn(2000, 16, generator=gen))
    return mu.var(0).mean().item()


def test_paper_l1_collapses_mmd_does_not():
    """Noise is independent of the row, so L1 on arbitrary pairs drives mu' to a constant (the median)."""
    gen = torch.Generator().manual_seed(1)
    sign = torch.randint(0, 2, (2048, 1), generator=gen) * 2 - 1
    latents = sign * 2.0 + 0.2 * torch.randn(2048, 2, generator=gen)  # two clusters: not a Gaussian
    target = latents.var(0).mean().item()  # about 4
    assert train_student("paper", 1.0, latents) < 0.05 * target
    assert train_student("mmd", 1e-3, latents) > 0.5 * target
    assert train_student("swd", 1e-3, latents) > 0.5 * target


# ------------------------------------------------------------------- fit and sample
def check_rows(syn, data, n):
    assert len(syn) == n and syn.X.shape == (n, data.X.shape[1])
    enc = data.meta["encoder"]
    for name, sums in block_sums(syn.X, enc).items():
        assert np.all(sums == 1), name
    assert np.all(np.isfinite(syn.X))
    assert set(map(tuple, syn.s.tolist())) <= set(map(tuple, data.s.tolist()))
    assert syn.y.min() >= 0 and syn.y.max() < data.n_classes
    assert np.all(syn.weights == 1)


@pytest.mark.parametrize("opts", [dict(), dict(decode="argmax"), dict(y_mode="decoder"), dict(y_mode="latent"),
                                  dict(s_mode="balanced"), dict(student_loss="paper", preset="paper")])
def test_sample_valid_rows(toy, opts):
    kw = dict(FAST, **opts)
    m = Fair4Free(**kw).fit(toy)
    check_rows(m.synthetic_, toy, len(toy))
    check_rows(m.sample(37), toy, 37)
    check_rows(m.sample(50, source="prior"), toy, 50)
    decoded = toy.meta["encoder"].decode(m.synthetic_.X)
    assert decoded.notna().all().all()


def test_s_modes(toy):
    m = Fair4Free(s_mode="fixed", s_group=1, n_samples=30, **FAST).fit(toy)
    assert np.all(m.synthetic_.s == 1)
    m = Fair4Free(s_mode="counterfactual", n_samples=40, **FAST).fit(toy)
    X, s = m.synthetic_.X, m.synthetic_.s[:, 0]
    assert np.array_equal(s, np.tile([0, 1], 20))
    m = Fair4Free(s_mode="balanced", n_samples=40, **FAST).fit(toy)
    assert np.bincount(m.synthetic_.s[:, 0]).tolist() == [20, 20]
    assert X.shape == (40, toy.X.shape[1])


def test_several_sensitive_axes():
    data = make_table(n=300, n_axes=2)
    m = Fair4Free(**FAST).fit(data)
    assert m.teacher_.s_dim == 4  # joint groups of two binary axes
    check_rows(m.synthetic_, data, 300)
    assert m.synthetic_.s.shape == (300, 2)


def test_groups_single_axis_conditions_on_that_axis_only():
    data = make_table(n=300, n_axes=2)
    m = Fair4Free(**FAST, groups="single:a1").fit(data)
    assert m.teacher_.s_dim == 2 and m.groups_ == [(0,), (1,)]
    syn = m.synthetic_
    assert np.all(syn.s[:, 0] == -1) and set(np.unique(syn.s[:, 1])) == {0, 1}  # a0 is not generated: unassigned
    from fairdistill.evaluation import evaluate
    rep = evaluate(syn, data, model="mlp", repeats=1, epochs=2)  # the unassigned axis is a valid model input
    assert 0 <= rep.summary()["accuracy"][0] <= 1
    with pytest.raises(DataError, match="unknown sensitive axis"):
        Fair4Free(**FAST, groups="single:nope").fit(data)


def test_numeric_layout_without_encoder():
    rng = np.random.default_rng(0)
    data = FairDataset(X=rng.normal(size=(200, 3)), y=rng.integers(0, 2, 200), s=rng.integers(0, 2, 200),
                       sensitive_names=["a"])
    m = Fair4Free(**FAST, decode="sample").fit(data)
    assert m.synthetic_.X.shape == (200, 3) and np.all(np.isfinite(m.synthetic_.X))
    assert m.synthetic_.X.std(0).min() > 0


def test_sampled_decoding_gives_more_distinct_rows_than_argmax(toy):
    """Argmax maps every latent to the per-block mode; sampling from the softmax keeps the decoder's spread."""
    m = Fair4Free(**FAST).fit(toy)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(500, m.z_dim, generator=gen)
    out = m.teacher_.decode(z, torch.nn.functional.one_hot(torch.arange(500) % 2, 2).float()).detach()
    hard = m.teacher_.to_rows(out, "argmax").numpy()
    soft = m.teacher_.to_rows(out, "sample", gen).numpy()
    cat = np.concatenate([np.arange(sl.start, sl.stop) for _, kind, sl, _ in toy.meta["encoder"].blocks
                          if kind == "categorical"])
    assert len(np.unique(soft[:, cat], axis=0)) > len(np.unique(hard[:, cat], axis=0)) + 10
    # the sampled category frequencies follow the softmax: per block, the mean one-hot ~ the mean probability
    for _, kind, sl, _ in toy.meta["encoder"].blocks:
        if kind == "categorical":
            probs = torch.softmax(out[:, sl], 1).mean(0).numpy()
            assert np.abs(soft[:, sl].mean(0) - probs).max() < 0.08


def test_y_head_makes_the_latent_carry_y():
    """y_mode='head': the encoder reads y and a head z -> y (no s input) must decode it, so y is predictable from
    the posterior means; with y_mode='latent' the teacher never sees y and the same head is weaker."""
    data = latent_toy(n=600)
    kw = dict(lg_beta=0, teacher_epochs=60, student_epochs=1, batch_size=200, lr_teacher=3e-3)
    head = Fair4Free(y_mode="head", **kw).fit(data)
    assert head.teacher_.y_head[0].in_features == head.z_dim  # the head reads z only, never s
    latent = Fair4Free(y_mode="latent", **kw).fit(data)

    def y_auc(m):
        pred = cross_val_predict(LogisticRegression(max_iter=1000), m.teacher_latents_, data.y, cv=3,
                                 method="predict_proba")[:, 1]
        return roc_auc_score(data.y, pred)
    assert y_auc(head) > 0.97 and y_auc(head) > y_auc(latent)
    assert 0.2 < head.synthetic_.y.mean() < 0.8


def test_teacher_kl_weight_below_one_keeps_information_in_z(toy):
    """A beta-VAE weight < 1 on the KL trades prior fit for reconstruction: higher KL, lower RE (posterior collapse
    avoided)."""
    kw = dict(FAST, teacher_epochs=40, lg_beta=0)
    full = Fair4Free(teacher_kl_weight=1.0, **kw).fit(toy).history_["teacher"][-1]
    light = Fair4Free(teacher_kl_weight=0.1, **kw).fit(toy).history_["teacher"][-1]
    assert light["kl"] > 2 * full["kl"] and light["re"] < full["re"]


def test_registry_and_defaults():
    m = make("fair4free")
    assert isinstance(m, Fair4Free)
    assert m.setting("student_loss") == "mmd" and m.setting("penalty") == "dcor"
    assert m.setting("lg_beta") == LG_BETA_DCOR and Fair4Free(penalty="analytic").setting("lg_beta") == 7.0
    assert m.setting("teacher_epochs", 29305) == 67  # about 1000 steps of 2048 rows
    p = Fair4Free(preset="paper")
    assert (p.setting("teacher_epochs"), p.setting("student_epochs"), p.setting("lr_student"),
            p.setting("student_loss")) == (1000, 5000, 1e-5, "paper")
    assert Fair4Free(preset="paper", student_loss="mmd").setting("student_loss") == "mmd"
    assert (m.setting("teacher_kl_weight"), m.setting("y_mode"), m.setting("decode")) == (0.1, "decoder", "sample")
    assert (m.setting("y_parity"), p.setting("y_parity")) == ("balanced", "none")
    assert (p.setting("teacher_kl_weight"), p.setting("y_mode"), p.setting("decode")) == (1.0, "latent", "argmax")
    assert (p.setting("penalty"), p.setting("lg_beta")) == ("analytic", 7.0)


# --------------------------------------------------------------------------- errors
class _OddEncoder:
    blocks = [("text", "free-text", slice(0, 2), None)]


def test_errors(toy):
    with pytest.raises(DataError, match="constant"):
        Fair4Free(**FAST).fit(make_table(n=100, constant_s=True))
    with pytest.raises(DataError, match="two classes"):
        Fair4Free(**FAST).fit(make_table(n=100, one_class=True))
    for bad in (0, -5):
        with pytest.raises(ConfigError, match="n_samples"):
            Fair4Free(n_samples=bad)
    odd = FairDataset(X=np.zeros((20, 2)), y=np.arange(20) % 2, s=np.arange(20) % 2, sensitive_names=["a"],
                      meta={"encoder": _OddEncoder()})
    with pytest.raises(DataError, match="cannot model"):
        Fair4Free(**FAST).fit(odd)
    with pytest.raises(ConfigError, match="s_group"):
        Fair4Free(s_mode="fixed", s_group=5, **FAST).fit(toy)
    with pytest.raises(ConfigError, match="student_loss"):
        Fair4Free(student_loss="l2")
    m = Fair4Free(**FAST).fit(toy)
    with pytest.raises(ConfigError, match="positive"):
        m.sample(0)
    with pytest.raises(ConfigError, match=r"^n=2.5 must be a positive whole number of rows"):
        m.sample(2.5)  # it said "a positive number of rows", which 2.5 is
    for bad in ("abc", float("nan"), float("inf"), True):
        with pytest.raises(ConfigError, match="positive whole number of rows"):
            m.sample(bad)
    for bad in ("a", 1.5, -1):  # torch's error, or accepted (-1), before
        with pytest.raises(ConfigError, match="^seed="):
            m.sample(10, seed=bad)
    with pytest.raises(ConfigError, match=r"^n=1000000000000 rows would need about \d+ GiB"):
        m.sample(1e12)  # refused at once (it used to grind on for minutes)
    with pytest.raises(DataError) as info:
        Fair4Free(**FAST).fit(make_table(n=100, constant_s=True))
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------- seeds and resume
def test_student_variant_shares_the_teacher(toy):
    m = Fair4Free(**FAST).fit(toy)
    v = m.student_variant(toy, student_loss="swd")
    assert v.teacher_ is m.teacher_ and v.student_ is not m.student_ and v.setting("student_loss") == "swd"
    check_rows(v.synthetic_, toy, len(toy))
    with pytest.raises(ConfigError, match="student_variant"):
        m.student_variant(lg_beta=3)


def test_student_variant_is_a_function_of_the_seed_not_of_what_ran_before(toy):
    """The variant's student layers start from the model's seed (they once drew from the global generator, so the
    benchmark's swd / paper rows changed with the runs before them in the process)."""
    m = Fair4Free(**FAST).fit(toy)
    torch.manual_seed(1)
    a = m.student_variant(toy, student_loss="swd")
    torch.manual_seed(2)
    torch.rand(1000)
    b = m.student_variant(toy, student_loss="swd")
    for pa, pb in zip(a.student_.parameters(), b.student_.parameters()):
        assert torch.equal(pa, pb)
    assert np.array_equal(a.synthetic_.X, b.synthetic_.X) and np.array_equal(a.synthetic_.y, b.synthetic_.y)


def test_seed_determinism(toy):
    torch.manual_seed(999)
    before = torch.random.get_rng_state()
    m = Fair4Free(seed=3, **FAST).fit(toy)
    assert torch.equal(torch.random.get_rng_state(), before)  # a fit leaves the caller's generator where it was
    torch.manual_seed(12345)  # ... and does not depend on it
    a, b = m.synthetic_, Fair4Free(seed=3, **FAST).fit(toy).synthetic_
    c = Fair4Free(seed=4, **FAST).fit(toy).synthetic_
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y) and np.array_equal(a.s, b.s)
    assert not np.array_equal(a.X, c.X)
    r1, r2, r3 = m.sample(300, seed=1), m.sample(300, seed=1), m.sample(300, seed=2)
    assert np.array_equal(r1.X, r2.X) and np.array_equal(r1.y, r2.y) and np.array_equal(r1.s, r2.s)
    assert not np.array_equal(r1.X, r3.X)


def test_checkpoint_resume(toy, tmp_path):
    kw = dict(FAST, checkpoint_every=2)
    first = Fair4Free(**kw)
    first.fit(toy, checkpoint_dir=tmp_path)
    assert (tmp_path / "checkpoint.pt").exists()
    again = Fair4Free(**kw)
    again.fit(toy, checkpoint_dir=tmp_path, resume=True)  # finished checkpoint: nothing left to train
    assert again.history_["teacher"] == [] and again.history_["student"] == []
    assert np.array_equal(first.synthetic_.X, again.synthetic_.X)
    assert np.array_equal(first.synthetic_.y, again.synthetic_.y)


# ------------------------------------------------------------- kernel V^2, label parity, s from the latent
def test_kernel_v2_is_the_weighted_group_mmd_and_scale_free():
    """kernel_v2 = sum_s (n_s/n)^2 MMD_b^2(group s, batch) with median-heuristic bandwidths (nn.mmd's estimator)."""
    gen = torch.Generator().manual_seed(3)
    g = torch.randint(0, 3, (240,), generator=gen)
    mu = torch.randn((240, 4), generator=gen, dtype=torch.float64) + 0.8 * g[:, None]
    sig = median_bandwidths(mu, mu[:0], max_rows=240)
    want = sum(((g == s).double().mean()) ** 2 * mmd2(mu[g == s], mu, sig) for s in range(3))
    assert kernel_v2(mu, g, 3).item() == pytest.approx(want.item(), rel=1e-9)
    assert kernel_v2(5.0 * mu - 2.0, g, 3).item() == pytest.approx(want.item(), rel=1e-9)
    shuffled = g[torch.randperm(240, generator=gen)]
    assert kernel_v2(mu, shuffled, 3).item() < want.item() / 5
    assert independence_penalty("mmd", mu=mu, logvar=mu, groups=g, n_groups=3,
                                batch_size=240).item() == pytest.approx(want.item(), rel=1e-9)


@pytest.mark.parametrize("k, target", [(2, [0.7, 0.3]), (3, [0.2, 0.3, 0.5])])
def test_parity_offsets_hit_the_target_and_keep_the_ranking(k, target):
    gen = torch.Generator().manual_seed(k)
    g = torch.randint(0, 3, (3000,), generator=gen)
    logits = 2.0 * torch.randn((3000, k), generator=gen, dtype=torch.float64) + 1.5 * g[:, None] * torch.arange(k)
    b = parity_offsets(logits, g, 4, torch.tensor(target))  # group 3 is empty
    p = torch.softmax(logits + b[g], 1)
    for s in range(3):
        assert p[g == s].mean(0).numpy() == pytest.approx(target, abs=1e-6)
        # one offset per group: every row's log-odds against class 0 move by the same group constant
        moved = (p[g == s].log() - p[g == s][:, :1].log()) - (logits[g == s] - logits[g == s][:, :1])
        assert (moved - moved[0]).abs().max().item() < 1e-9
    assert torch.all(b[3] == 0) and torch.all(b[:, 0] == 0)
    if k == 2:  # independent 1-D root: mean sigmoid(l1 - l0 + c) = 0.3 per group
        from scipy.optimize import brentq
        d = (logits[:, 1] - logits[:, 0]).numpy()
        for s in range(3):
            c = brentq(lambda c: (1 / (1 + np.exp(-(d[g.numpy() == s] + c)))).mean() - 0.3, -30, 30, xtol=1e-12)
            assert b[s, 1].item() == pytest.approx(c, abs=1e-5)
    with pytest.raises(ConfigError):
        parity_offsets(logits, g, 3, torch.tensor([0.5, 0.6] + [0.0] * (k - 2)))


@pytest.mark.parametrize("y_mode, s_mode", [("head", "posterior"), ("decoder", "sample")])
def test_y_parity_equalises_the_groups_label_rates(toy, y_mode, s_mode):
    """toy's y depends on s; without a penalty the labels of rows whose s follows z (s_mode='posterior') or that are
    decoded with s (y_mode='decoder') keep that dependence; y_parity makes every group's synthetic positive rate the
    training rate ('data') or 1/2 ('balanced'), up to sampling noise."""
    kw = dict(FAST, teacher_epochs=30, y_mode=y_mode, s_mode=s_mode, lg_beta=0)
    base = toy.y.mean()
    rates = {}
    m = Fair4Free(**kw).fit(toy)
    for parity in ("none", "data", "balanced"):  # y_parity acts at sampling time only
        m.y_parity = parity
        syn = m.sample(6000)
        rates[parity] = [syn.y[syn.s[:, 0] == s].mean() for s in (0, 1)]
        assert syn.provenance["y_parity"] == parity
    assert abs(rates["none"][0] - rates["none"][1]) > 0.1  # the unrepaired labels still carry s (no penalty)
    assert np.abs(np.array(rates["data"]) - base).max() < 0.03
    assert np.abs(np.array(rates["balanced"]) - 0.5).max() < 0.03


def test_s_mode_posterior_decodes_each_latent_with_its_own_group():
    """Without a penalty the latent carries s: decoding it with an independent s gives rows whose x hardly tells s,
    while s ~ q(s | z) keeps x and s consistent (as in the real data) and the group shares near the training ones."""
    data = latent_toy(n=600)
    kw = dict(lg_beta=0, **ELBO, teacher_epochs=100, student_epochs=30, batch_size=200, lr_teacher=3e-3,
              n_samples=3000)

    def x_auc(m):
        syn = m.synthetic_
        pred = cross_val_predict(LogisticRegression(max_iter=1000), syn.X, syn.s[:, 0], cv=3,
                                 method="predict_proba")[:, 1]
        return roc_auc_score(syn.s[:, 0], pred)
    post = Fair4Free(s_mode="posterior", **kw).fit(data)
    indep = Fair4Free(s_mode="sample", **kw).fit(data)
    assert x_auc(post) > 0.9 and x_auc(post) > x_auc(indep) + 0.08  # measured 0.97 vs 0.84
    assert abs(post.synthetic_.s.mean() - data.s.mean()) < 0.1
    with pytest.raises(ConfigError, match="refit with s_mode='posterior'"):  # its q(s | z) was never fitted
        indep.sample(10, s_mode="posterior")
    indep.s_mode = "posterior"  # a parameter changed after fit does not change the fitted model (refit to apply)
    assert indep.sample(10).provenance["s_mode"] == "sample"


def test_y_parity_offsets_belong_to_the_fitted_generator(toy):
    """The label repair is fixed once per fitted generator (and source, and target), not per sample() batch: a
    one-row sample gets the same offsets as a large one, and the large sample's group rates meet the target."""
    m = Fair4Free(**dict(FAST, teacher_epochs=30, y_mode="decoder", lg_beta=0, y_parity="balanced")).fit(toy)
    first = m._label_offsets("student", "sample")
    assert len(m.sample(1).y) == 1
    syn = m.sample(8000, seed=123)
    assert m._label_offsets("student", "sample") is first  # reused, whatever n
    assert np.abs(np.array([syn.y[syn.s[:, 0] == s].mean() for s in (0, 1)]) - 0.5).max() < 0.03
    m.y_parity = "data"
    assert not torch.equal(m._label_offsets("student", "sample"), first)  # another target, other offsets


def test_s_mode_of_a_draw_can_differ_from_the_fitted_one(toy):
    """The teacher and student do not depend on s_mode, so sample(n, s_mode=m) of one fit equals sample(n) of a fit
    with s_mode=m; the label offsets are fixed per s_mode (they depend on how (z, s) pairs are drawn)."""
    m = Fair4Free(s_mode="sample", **FAST).fit(toy)
    for mode in ("counterfactual", "balanced"):
        other = Fair4Free(s_mode=mode, **FAST).fit(toy).sample(300)
        here = m.sample(300, s_mode=mode)
        assert np.array_equal(here.X, other.X) and np.array_equal(here.y, other.y) and np.array_equal(here.s, other.s)
        assert here.provenance["s_mode"] == mode
    assert np.array_equal(m.sample(300).X, m.sample(300, s_mode="sample").X)
    assert not torch.equal(m._label_offsets("student", "sample"), m._label_offsets("student", "counterfactual"))
    with pytest.raises(ConfigError, match="needs the q\\(s \\| z\\) classifier"):
        m.sample(10, s_mode="posterior")
    with pytest.raises(ConfigError, match="s_mode='nope' is unknown; choose from: "):
        m.sample(10, s_mode="nope")
    with pytest.raises(ConfigError, match=r"^s_group=7 but the model has only 2 groups; give 0\.\.1$"):
        Fair4Free(s_group=7, **FAST).fit(toy).sample(10, s_mode="fixed")


def test_posterior_balanced_draws_equal_shares_of_latents_from_each_group(toy):
    """posterior-balanced: groups in equal shares, and each row's latent resampled from the student with weights
    q(g | z): rows of group g hold latents that q assigns to g more than the student's own latents do."""
    import torch as T
    m = Fair4Free(s_mode="posterior", **FAST).fit(toy)
    syn = m.sample(4000, s_mode="posterior-balanced")
    counts = np.bincount(syn.s[:, 0], minlength=2)
    assert counts.tolist() == [2000, 2000]
    with T.no_grad():
        z, g, _, _ = m._draw(40000, "student", T.Generator().manual_seed(11), "posterior-balanced")
        q = T.softmax(m.s_model_(z), 1).double()
        pool = T.softmax(m.s_model_(m.student_.sample(160000, T.Generator().manual_seed(12))), 1).double()
    for j in (0, 1):  # resampling with weights q_j moves the mean of q_j from E[q_j] to E[q_j^2] / E[q_j]
        before, after = float(pool[:, j].mean()), float((pool[:, j] ** 2).mean() / pool[:, j].mean())
        got, noise = float(q[g == j, j].mean()), float(pool[:, j].std()) / np.sqrt(20000)
        assert after > before + 8 * noise and abs(got - after) < 4 * noise
    with pytest.raises(ConfigError, match="posterior-balanced' needs the q"):
        Fair4Free(s_mode="balanced", **FAST).fit(toy).sample(10, s_mode="posterior-balanced")


def test_choose_takes_the_fairest_mode_within_the_accuracy_slack():
    from fairdistill.methods.fair4free.selection import choose
    scores = {"sample": {"fair": 0.80, "bacc": 0.70}, "balanced": {"fair": 0.95, "bacc": 0.679},  # 2.1 points less
              "posterior": {"fair": 0.90, "bacc": 0.685}, "counterfactual": {"fair": 0.90, "bacc": 0.69}}
    assert choose(scores) == "posterior"  # balanced is fairer but too inaccurate; the tie goes to the earlier one
    assert choose(scores, slack=0.05) == "balanced"
    assert choose({"a": {"fair": 0.5, "bacc": 0.5}}) == "a"


def test_s_mode_auto_returns_the_scored_draw_of_the_chosen_mode(toy):
    """auto fits once, scores each candidate's draw by a random forest's DPR / EOR / balanced accuracy on the real
    training rows (recomputed here with fairlearn), and returns exactly the chosen mode's draw."""
    from fairlearn.metrics import demographic_parity_ratio, equalized_odds_ratio
    from sklearn.metrics import balanced_accuracy_score

    from fairdistill.evaluation import model_inputs
    from fairdistill.methods.fair4free.selection import CANDIDATES, choose
    from fairdistill.models import make as make_model
    m = Fair4Free(s_mode="auto", **FAST).fit(toy)
    assert set(m.s_mode_scores_) == set(CANDIDATES) and m.s_mode_ == choose(m.s_mode_scores_)
    fixed = Fair4Free(s_mode="posterior", **FAST).fit(toy)  # same teacher and student: s_mode does not enter them
    mode = "counterfactual"
    syn = fixed.sample(len(toy), s_mode=mode)
    pred = make_model("rf", 2, seed=0).fit(model_inputs(syn, [2], True), syn.y) \
        .predict_proba(model_inputs(toy, [2], True)).argmax(1)
    got = m.s_mode_scores_[mode]
    assert got["dpr"] == pytest.approx(demographic_parity_ratio(toy.y, pred, sensitive_features=toy.s[:, 0]))
    assert got["eor"] == pytest.approx(equalized_odds_ratio(toy.y, pred, sensitive_features=toy.s[:, 0]))
    assert got["bacc"] == pytest.approx(balanced_accuracy_score(toy.y, pred))
    chosen = fixed.sample(len(toy), s_mode=m.s_mode_)
    assert np.array_equal(m.synthetic_.X, chosen.X) and np.array_equal(m.synthetic_.y, chosen.y)
    assert m.synthetic_.provenance["s_mode"] == m.s_mode_  # later draws use the choice too
    assert np.array_equal(m.sample(50).X, fixed.sample(50, s_mode=m.s_mode_).X)
    with pytest.raises(ConfigError, match="chosen once, at fit time"):
        m.sample(10, s_mode="auto")
    assert Fair4Free(s_mode="sample", **FAST).fit(toy).s_mode_ == "sample"


def test_s_mode_default_is_auto_for_binary_labels_and_sample_otherwise(toy):
    """The default (None) resolves per preset and data: auto on binary labels, sample on three classes (where an
    explicit auto is refused) and in the paper preset."""
    assert Fair4Free(**FAST).fit(toy).s_mode_scores_ is not None
    three = FairDataset(X=toy.X, y=np.arange(len(toy)) % 3, s=toy.s, sensitive_names=toy.sensitive_names,
                        name="toy3", meta=toy.meta)
    m = Fair4Free(**FAST).fit(three)
    assert m.s_mode_ == "sample" and m.s_mode_scores_ is None and m.s_model_ is None
    assert Fair4Free(preset="paper", **FAST).setting("s_mode") == "sample"


def test_s_mode_auto_needs_binary_labels(toy):
    three = FairDataset(X=toy.X, y=np.arange(len(toy)) % 3, s=toy.s, sensitive_names=toy.sensitive_names,
                        name="toy3", meta=toy.meta)
    with pytest.raises(ConfigError, match="s_mode='auto' scores demographic parity .* toy3 has 3 classes"):
        Fair4Free(s_mode="auto", **FAST).fit(three)


def test_student_variant_of_an_auto_model_chooses_its_own_mode(toy):
    """The new student's candidate draws are scored again on the training rows (the old student's scores would
    describe other rows); without those rows the call says what to pass."""
    m = Fair4Free(s_mode="auto", **FAST).fit(toy)
    with pytest.raises(ConfigError, match="pass data=<the FairDataset it was fitted on>"):
        m.student_variant(student_loss="swd")
    with pytest.raises(ConfigError, match="got 100 rows but the model was fitted on 400"):
        m.student_variant(toy.subset(np.arange(100)), student_loss="swd")
    v = m.student_variant(toy, student_loss="swd")
    assert v.s_mode_scores_ != m.s_mode_scores_ and v.synthetic_.provenance["s_mode"] == v.s_mode_
    assert v.synthetic_.provenance["s_mode_scores"] == v.s_mode_scores_


# ----------------------------------------------------------------------------- label_shift
SHIFTABLE = {k: v for k, v in FAST.items() if k != "label_shift"}


def test_shift_direction_evens_the_rates_out():
    """d_g = logit(r) - logit(r_g), r the count-weighted overall rate: the group below r moves up, the one above down,
    a group at r stays; rates at 0 or 1 are clipped, so d stays finite; a group without rows gets 0."""
    from fairdistill.methods.fair4free.selection import shift_direction
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    d = shift_direction([0.2, 0.5], [1, 3])
    r = (0.2 + 3 * 0.5) / 4
    assert d == pytest.approx([logit(r) - logit(0.2), logit(r) - logit(0.5)])
    assert d[0] > 0 > d[1]
    assert shift_direction([0.4, 0.4], [5, 2]) == pytest.approx([0, 0])
    assert np.all(np.isfinite(shift_direction([0.0, 1.0], [1, 1])))
    assert shift_direction([0.2, np.nan, 0.5], [1, 0, 3]) == pytest.approx([d[0], 0, d[1]])


def _forest_on_real(syn, real, n_values, model="rf"):
    """Predictions on ``real`` of the selection protocol's forest (or ``model``) trained on ``syn`` (recomputed
    independently)."""
    from fairdistill.evaluation import model_inputs
    from fairdistill.models import make as make_model
    return make_model(model, 2, seed=0).fit(model_inputs(syn, n_values, True), syn.y) \
        .predict_proba(model_inputs(real, n_values, True)).argmax(1)


@pytest.fixture(scope="module")
def shifted(toy):
    """A fit with label_shift='auto' and, sharing its teacher and student (label_shift enters neither), one with
    label_shift='none'."""
    return (Fair4Free(label_shift="auto", s_mode="balanced", **SHIFTABLE).fit(toy),
            Fair4Free(label_shift="none", s_mode="balanced", **SHIFTABLE).fit(toy))


def test_label_shift_auto_returns_the_scored_draw_of_the_chosen_step(toy, shifted):
    """Each step's scores are a random forest's DPR / EOR / balanced accuracy / per-group positive rates on the real
    training rows (recomputed with fairlearn); the shift is t * d with d from the unshifted draw's rates; t is the
    fairest step within the accuracy slack; the walk is 0, 0.5, 1, ... and stops at the first step that meets the
    stop rule."""
    from fairlearn.metrics import demographic_parity_ratio, equalized_odds_ratio
    from sklearn.metrics import balanced_accuracy_score

    from fairdistill.methods.fair4free.selection import BACC_SLACK, SHIFT_STEPS, SHIFT_STOP, choose, shift_direction
    m, plain = shifted
    scores, gid = m.label_shift_scores_, toy.s[:, 0]
    assert list(scores) == [f"{t:g}" for t in (0, *SHIFT_STEPS)][:len(scores)]
    assert m.label_shift_t_ == float(choose(scores)) and m.label_shift_t_ > 0  # the toy's case: a real shift
    keys = list(scores)
    for i in range(1, len(keys)):  # the stop rule holds at the last step tried (unless every step ran), only there
        seen = {k: scores[k] for k in keys[:i + 1]}
        stop = scores[keys[i]]["fair"] < seen[choose(seen)]["fair"] - SHIFT_STOP or \
            scores[keys[i]]["bacc"] < max(s["bacc"] for s in seen.values()) - BACC_SLACK
        if i < len(keys) - 1:
            assert not stop
        elif len(keys) <= len(SHIFT_STEPS):
            assert stop
    for syn, got in ((plain.synthetic_, scores["0"]), (m.synthetic_, scores[f"{m.label_shift_t_:g}"])):
        pred = _forest_on_real(syn, toy, [2])
        assert got["dpr"] == pytest.approx(demographic_parity_ratio(toy.y, pred, sensitive_features=gid))
        assert got["eor"] == pytest.approx(equalized_odds_ratio(toy.y, pred, sensitive_features=gid))
        assert got["bacc"] == pytest.approx(balanced_accuracy_score(toy.y, pred))
        assert got["rates"] == pytest.approx([pred[gid == g].mean() for g in (0, 1)])
    d = shift_direction(scores["0"]["rates"], np.bincount(gid, minlength=2))
    assert m.label_shift_ == pytest.approx(m.label_shift_t_ * d)


def test_a_label_shift_moves_each_groups_labels_its_way_and_only_in_the_fitted_mode(toy):
    """Same rows, labels shifted: with a shift of +2 / -2 on class 1's logit, group 0's positive share rises and
    group 1's falls, under label repair and without it (y_parity='none' with sampled decoding draws y from the shifted
    logits, not from the decoded block); another s_mode, the prior, or a zero shift draw the unshifted labels."""
    for y_parity in ("balanced", "none"):
        m = Fair4Free(label_shift="none", s_mode="balanced", y_parity=y_parity, **SHIFTABLE).fit(toy)
        plain = m.sample(4000, seed=5)
        m.label_shift_ = np.array([2.0, -2.0])
        a = m.sample(4000, seed=5)
        assert np.array_equal(a.X, plain.X) and np.array_equal(a.s, plain.s)
        rise = [a.y[a.s[:, 0] == g].mean() - plain.y[plain.s[:, 0] == g].mean() for g in (0, 1)]
        assert rise[0] > 0.1 and rise[1] < -0.1
        for kw in ({"s_mode": "counterfactual"}, {"source": "prior"}):
            m.label_shift_ = None
            before = m.sample(300, **kw).y
            m.label_shift_ = np.array([2.0, -2.0])
            assert np.array_equal(m.sample(300, **kw).y, before)
        m.label_shift_ = np.zeros(2)
        assert np.array_equal(m.sample(4000, seed=5).y, plain.y)


def test_choose_label_shift_on_a_none_fit_gives_the_default_fits_rows(toy, shifted):
    """fair4free-smode fits label_shift='none' and calls choose_label_shift: the result must be the default fit's
    synthetic_ and shift; a new student (student_variant) makes the choice again, as it does for a default fit."""
    m, _ = shifted
    plain = Fair4Free(label_shift="none", s_mode="balanced", **SHIFTABLE).fit(toy)
    assert plain.choose_label_shift(toy) is plain
    assert plain.label_shift_t_ == m.label_shift_t_ and plain.label_shift_ == pytest.approx(m.label_shift_)
    assert plain.label_shift_scores_ == m.label_shift_scores_
    assert np.array_equal(plain.synthetic_.X, m.synthetic_.X) and np.array_equal(plain.synthetic_.y, m.synthetic_.y)
    assert plain.synthetic_.provenance["picked"] == m.synthetic_.provenance["picked"]
    for fitted in (m, plain):
        v = fitted.student_variant(toy, student_loss="swd")
        assert v.label_shift_scores_ is not None and v.label_shift_scores_ != m.label_shift_scores_
        assert v.synthetic_.provenance["label_shift_scores"] == v.label_shift_scores_
    with pytest.raises(ConfigError, match="got 100 rows but the model was fitted on 400"):
        plain.choose_label_shift(toy.subset(np.arange(100)))
    with pytest.raises(ConfigError, match="needs a fitted model"):
        Fair4Free().choose_label_shift(toy)


def test_the_shift_is_chosen_for_the_named_selection_model(toy, monkeypatch):
    """selection_model names the model the walk trains and scores: its t = 0 scores are that model's on the
    unshifted draw; choose_label_shift after set_params chooses again for another model on the same fit; a model
    whose package is missing is refused before any training."""
    import sys

    from sklearn.metrics import balanced_accuracy_score
    m = Fair4Free(label_shift="none", s_mode="balanced", **SHIFTABLE).fit(toy)
    unshifted = m.synthetic_
    for model in ("logreg", "rf"):
        m.set_params(selection_model=model).choose_label_shift(toy)
        pred = _forest_on_real(unshifted, toy, [2], model)
        assert m.label_shift_scores_["0"]["bacc"] == pytest.approx(balanced_accuracy_score(toy.y, pred))
        assert m.label_shift_scores_["0"]["rates"] == pytest.approx([pred[toy.s[:, 0] == g].mean() for g in (0, 1)])
    monkeypatch.setitem(sys.modules, "xgboost", None)  # import xgboost fails
    late = Fair4Free(selection_model="xgboost", **SHIFTABLE)
    with pytest.raises(ConfigError, match="needs the xgboost package"):
        late.fit(toy)
    assert not hasattr(late, "teacher_")
    with pytest.raises(ConfigError, match="needs the xgboost package"):
        m.set_params(selection_model="xgboost").choose_label_shift(toy)


def test_label_shift_on_intersectional_groups():
    """Two sensitive axes: one shift per joint group, its rates those of the joint groups on the real rows."""
    data = make_table(n_axes=2)
    m = Fair4Free(label_shift="auto", s_mode="sample", **SHIFTABLE).fit(data)
    gid, tuples = data.groups()
    assert len(m.label_shift_) == len(tuples) == len(m.label_shift_scores_["0"]["rates"]) > 2
    unshifted = Fair4Free(label_shift="none", s_mode="sample", **SHIFTABLE).fit(data).synthetic_
    pred = _forest_on_real(unshifted, data, [2, 2])
    assert m.label_shift_scores_["0"]["rates"] == pytest.approx([pred[gid == g].mean() for g in range(len(tuples))])


def test_label_shift_default_and_refusals(toy, shifted):
    """Default: auto on binary labels (the picked t reaches the provenance the report prints), none on three classes
    (also in the recorded effective parameters) and in the paper preset; an explicit auto on three classes is
    refused, naming the fix."""
    m, _ = shifted
    assert Fair4Free().setting("label_shift") == "auto" and Fair4Free(preset="paper").setting("label_shift") == "none"
    assert m.synthetic_.provenance["picked"]["label_shift"] == f"t = {m.label_shift_t_:g}"
    three = FairDataset(X=toy.X, y=np.arange(len(toy)) % 3, s=toy.s, sensitive_names=toy.sensitive_names,
                        name="toy3", meta=toy.meta)
    fit3 = Fair4Free(**SHIFTABLE).fit(three)
    assert fit3.label_shift_ is None and fit3.label_shift_scores_ is None
    assert fit3.synthetic_.provenance["effective_params"]["label_shift"] == "none"
    assert fit3.synthetic_.provenance["effective_params"]["s_mode"] == "sample"
    with pytest.raises(ConfigError, match="label_shift='auto' scores .* toy3 has 3 classes .* label_shift='none'"):
        Fair4Free(s_mode="sample", label_shift="auto", **SHIFTABLE).fit(three)
    with pytest.raises(ConfigError, match="need binary labels; the fitted data has 3 classes — choose e.g. label_shift=.none."):
        fit3.choose_label_shift(three)
