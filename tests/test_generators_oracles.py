"""Independent oracles for the generator methods (METHODS.md §7 Fair4Free, §8 hierarchical intersectional augmentation).

Every test recomputes a quantity in a way that shares no code with ``fairdistill``: a numpy double loop for the
distance correlation, ``torch.distributions`` for the KL term, per-block ``F.cross_entropy`` for the reconstruction,
the documented random stream for the student's draws and the counterfactual decoding, real cell means for the
intersectional generators, and a replayed training run for the round selection.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fairdistill.dataset import FairDataset
from fairdistill.methods.fair4free import Fair4Free, Student, TabularVAE, dcor2
from fairdistill.methods.fair4free.teacher import CATEGORICAL, NUMERIC, Block, kl_standard_normal, reparameterise
from fairdistill.methods.intersectional import GeneratorConfig, GroupHierarchy, IntersectionalAugmentation
from fairdistill.methods.intersectional import training as itraining


# ----------------------------------------------------------------------- dcor2 (§7, Székely et al. 2007)
def dcor2_by_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Squared distance correlation, V-statistic (biased) form, written out with explicit loops in float64.

    a_ij = |x_i - x_j| (Euclidean, not squared), A_ij = a_ij - a_i. - a_.j + a_.., likewise B;
    dCov^2 = (1/n^2) sum_ij A_ij B_ij, dCor^2 = dCov^2(x, y) / sqrt(dCov^2(x, x) dCov^2(y, y)).
    """
    n = len(x)

    def centred(v):
        a = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                a[i, j] = math.sqrt(sum((v[i, c] - v[j, c]) ** 2 for c in range(v.shape[1])))
        row = [sum(a[i, j] for j in range(n)) / n for i in range(n)]
        col = [sum(a[i, j] for i in range(n)) / n for j in range(n)]
        tot = sum(row) / n
        out = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                out[i, j] = a[i, j] - row[i] - col[j] + tot
        return out

    A, B = centred(x), centred(y)
    dcov = sum(A[i, j] * B[i, j] for i in range(n) for j in range(n)) / n ** 2
    dvx = sum(A[i, j] ** 2 for i in range(n) for j in range(n)) / n ** 2
    dvy = sum(B[i, j] ** 2 for i in range(n) for j in range(n)) / n ** 2
    return dcov / math.sqrt(dvx * dvy)


@pytest.mark.parametrize("case", ["linear", "onehot", "nonlinear"])
def test_dcor2_matches_the_double_loop_v_statistic(case):
    rng = np.random.default_rng(11)
    n = 20  # <= 25 rows: torch.cdist computes the distances directly (the test below: more rows)
    z = rng.normal(size=(n, 3))
    if case == "linear":
        s = z[:, :2] @ rng.normal(size=(2, 2)) + 0.5 * rng.normal(size=(n, 2))
    elif case == "onehot":
        g = rng.integers(0, 3, n)
        s = np.eye(3)[g]
        z = z + 0.8 * g[:, None]
    else:
        s = np.c_[np.sin(2 * z[:, 0]), z[:, 1] ** 2]
    want = dcor2_by_loops(z, s)
    got = dcor2(torch.tensor(z), torch.tensor(s)).item()
    assert 0.0 < want < 1.0
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("dtype,rel", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_dcor2_is_accurate_beyond_25_rows_for_offset_latents(dtype, rel):
    """Beyond 25 rows torch.cdist's default expands |a-b|^2 = |a|^2 + |b|^2 - 2ab, which loses the distances of
    nearby latents far from 0 (~1e-7 relative in float64, ~1% in float32); dcor2 computes them from differences."""
    errors = []
    for seed in range(1, 6):
        rng = np.random.default_rng(seed)
        n = 40
        g = rng.integers(0, 2, n)
        z = rng.normal(size=(n, 3)) * 0.01 + 5.0  # narrow posterior means centred away from 0
        z[:, 0] += 0.01 * g
        s = np.eye(2)[g]
        want = dcor2_by_loops(z, s)
        got = dcor2(torch.tensor(z, dtype=dtype), torch.tensor(s, dtype=dtype)).item()
        errors.append(abs(got / want - 1))
    assert max(errors) < rel, errors


def test_dcor2_sees_nonlinear_dependence_that_a_squared_distance_version_misses():
    """y = x^2 with x ~ N(0, 1): uncorrelated with x, but dCor^2 (Euclidean distances) is clearly positive, whereas
    the same formula on squared distances reduces to an RV coefficient (squared correlation) and is ~0."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn((400, 1), generator=gen, dtype=torch.float64)
    y = x ** 2
    got = dcor2(x, y).item()
    assert got > 0.1
    # the squared-distance (RV) value on the same data, computed independently: corr(x, x^2)^2
    rv = np.corrcoef(x.numpy()[:, 0], y.numpy()[:, 0])[0, 1] ** 2
    assert rv < 0.05 and got > rv + 0.1


# ----------------------------------------------------------------------- teacher KL (§7)
def test_kl_standard_normal_matches_torch_distributions():
    """Docstring: mean over the batch of KL(N(mu, sigma^2) || N(0, I)) summed over the latent dimensions."""
    gen = torch.Generator().manual_seed(5)
    mu = torch.randn((13, 6), generator=gen, dtype=torch.float64) * 1.5
    logvar = torch.randn((13, 6), generator=gen, dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    want = torch.distributions.kl_divergence(q, p).sum(1).mean()
    got = kl_standard_normal(mu, logvar)
    assert got.shape == ()
    assert got.item() == pytest.approx(want.item(), rel=1e-12)
    # and 0 exactly at the prior
    assert kl_standard_normal(torch.zeros(4, 3), torch.zeros(4, 3)).item() == 0.0


def test_reparameterise_has_standard_deviation_sigma():
    """z = mu + sigma * eps: per-dimension sample std = exp(logvar / 2), not exp(logvar)."""
    n = 40000
    mu = torch.tensor([1.0, -2.0]).expand(n, 2)
    logvar = torch.tensor([math.log(4.0), math.log(0.25)]).expand(n, 2)
    z = reparameterise(mu, logvar, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(z.mean(0).numpy(), [1.0, -2.0], atol=0.04)
    np.testing.assert_allclose(z.std(0).numpy(), [2.0, 0.5], rtol=0.03)


# ----------------------------------------------------------------------- teacher reconstruction (§7)
# interleaved layout: categorical 3, numeric, categorical 2, categorical 3, numeric  (two 3-wide blocks apart)
LAYOUT = [Block("c1", CATEGORICAL, 0, 3), Block("n1", NUMERIC, 3, 4), Block("c2", CATEGORICAL, 4, 6),
          Block("c3", CATEGORICAL, 6, 9), Block("n2", NUMERIC, 9, 10)]


def interleaved_batch(n=17, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros((n, 10), dtype=torch.float64)
    for b in LAYOUT:
        if b.kind == CATEGORICAL:
            code = torch.randint(0, b.width, (n,), generator=gen)
            x[torch.arange(n), b.start + code] = 1.0
        else:
            x[:, b.start] = torch.randn(n, generator=gen, dtype=torch.float64)
    x[2, 4:6] = 0.0  # an unseen category of c2 in row 2: an all-zero block
    out = torch.randn((n, 10), generator=gen, dtype=torch.float64) * 2
    return x, out


def test_reconstruction_is_per_block_cross_entropy_plus_half_squared_error():
    vae = TabularVAE(LAYOUT, s_dim=2, z_dim=3, hidden=5).double()
    x, out = interleaved_batch()
    want = torch.zeros(len(x), dtype=torch.float64)
    for b in LAYOUT:
        if b.kind == CATEGORICAL:  # soft-target CE; an all-zero target block costs 0
            want += F.cross_entropy(out[:, b.start:b.stop], x[:, b.start:b.stop], reduction="none")
        else:
            want += 0.5 * (x[:, b.start] - out[:, b.start]) ** 2
    got = vae.reconstruction(out, x)
    assert got.shape == (len(x),)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # row 2's unseen c2 category contributes nothing: its RE equals the sum over the other blocks
    other = sum(float(F.cross_entropy(out[2:3, b.start:b.stop], x[2:3, b.start:b.stop]))
                for b in LAYOUT if b.kind == CATEGORICAL and b.name != "c2")
    other += sum(0.5 * float(x[2, b.start] - out[2, b.start]) ** 2 for b in LAYOUT if b.kind == NUMERIC)
    assert got[2].item() == pytest.approx(other, rel=1e-12)


def test_to_rows_argmax_sets_each_block_and_keeps_numeric_means():
    vae = TabularVAE(LAYOUT, s_dim=2, z_dim=3, hidden=5).double()
    _, out = interleaved_batch(seed=1)
    rows = vae.to_rows(out, "argmax")
    for i in range(len(out)):
        for b in LAYOUT:
            if b.kind == CATEGORICAL:
                expect = [0.0] * b.width
                expect[int(np.argmax(out[i, b.start:b.stop].numpy()))] = 1.0
                assert rows[i, b.start:b.stop].tolist() == expect
            else:
                assert rows[i, b.start].item() == out[i, b.start].item()


# ----------------------------------------------------------------------- student sampling (§7)
def test_student_sample_is_mu_plus_sigma_eps_from_the_generator_stream():
    """Docstring: z' = mu' + sigma' eps, noise then eps drawn from the CPU generator (one chunk here)."""
    torch.manual_seed(0)
    st = Student(z_dim=4, noise_dim=7, hidden=5)
    with torch.no_grad():  # a non-trivial log-variance head so sigma and sigma^2 differ
        st.net[2].bias[4:] += torch.tensor([1.5, -1.0, 0.7, 2.0])
    n = 23
    got = st.sample(n, torch.Generator().manual_seed(9))
    gen = torch.Generator().manual_seed(9)
    noise = torch.randn((n, 7), generator=gen)
    with torch.no_grad():
        h = torch.relu(noise @ st.net[0].weight.T + st.net[0].bias) @ st.net[2].weight.T + st.net[2].bias
    mu, logvar = h[:, :4], h[:, 4:]
    eps = torch.randn((n, 4), generator=gen)
    want = mu + eps * torch.sqrt(torch.exp(logvar))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_student_sample_has_the_heads_mean_and_standard_deviation():
    """With a constant output head (zero weights), z' ~ N(mu', diag sigma'^2) exactly: check mean and std."""
    st = Student(z_dim=2, noise_dim=3, hidden=4)
    with torch.no_grad():
        st.net[2].weight.zero_()
        st.net[2].bias.copy_(torch.tensor([1.0, -2.0, math.log(4.0), math.log(0.25)]))
    z = st.sample(40000, torch.Generator().manual_seed(1))
    np.testing.assert_allclose(z.mean(0).numpy(), [1.0, -2.0], atol=0.04)
    np.testing.assert_allclose(z.std(0).numpy(), [2.0, 0.5], rtol=0.03)


# ----------------------------------------------------------------------- counterfactual s-mode (§7)
def two_axis_table(n=240, seed=0):
    import pandas as pd

    from fairdistill.datasets.encoding import TabularEncoder

    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, (n, 2))
    df = pd.DataFrame({"colour": np.where(rng.random(n) < 0.2 + 0.6 * s[:, 0], "red", rng.choice(["blue", "green"], n)),
                       "score": rng.normal(s[:, 1], 1.0, n), "shape": rng.choice(["p", "q", "r"], n)})
    enc = TabularEncoder().fit(df, numeric=["score"], categorical=["colour", "shape"])
    y = (df.score.to_numpy() + rng.normal(0, 0.5, n) > 0.5).astype(int)
    return FairDataset(X=enc.transform(df), y=y, s=s, sensitive_names=["a0", "a1"], name="toy2",
                       meta={"encoder": enc})


@pytest.fixture(scope="module")
def cf_model():
    data = two_axis_table()
    m = Fair4Free(teacher_epochs=3, student_epochs=2, batch_size=128, student_batch_size=128, s_mode="counterfactual",
                  label_shift="none", y_mode="decoder", y_parity="none", decode="argmax", seed=4).fit(data)
    assert len(m.groups_) == 4
    return m


def test_counterfactual_draw_decodes_each_latent_once_per_group(cf_model):
    m, k = cf_model, 4
    n = 4 * 6 + 3  # a final partial block
    z, g, out, _ = m._draw(n, "student", torch.Generator().manual_seed(2), "counterfactual")
    z, g = z.cpu(), g.cpu()
    # layout-free: each distinct latent row is decoded with distinct groups, every full set of latents with all k
    uniq, inverse = torch.unique(z, dim=0, return_inverse=True)
    assert len(uniq) == -(-n // k)
    for u in range(len(uniq)):
        gs = g[inverse == u].tolist()
        assert len(gs) == len(set(gs)) and len(gs) in (k, n % k)
    # the documented layout: latent j for groups 0..k-1 in turn, i.e. z[0::k] == z[1::k] == ... blockwise
    assert g.tolist() == [i % k for i in range(n)]
    for j in range(1, k):
        rows = z[j::k]
        torch.testing.assert_close(rows, z[0::k][:len(rows)], rtol=0, atol=0)
    assert not torch.equal(z[0], z[k])  # consecutive blocks are different latents
    # decoder output = teacher decoder of (z, onehot(g)), and the same latent decodes differently per group
    torch.testing.assert_close(out.cpu(), m.teacher_.decode(z, F.one_hot(g, k).float()).cpu())
    assert not torch.allclose(out[0], out[1])


def test_counterfactual_sample_rows_recomputed_from_student_latents(cf_model):
    """sample(n, seed, s_mode="counterfactual") = argmax decoding of decoder(z_{i // k}, onehot(i % k)), with
    z = student.sample(ceil(n / k)) drawn first from the seeded CPU generator; y = the decoded y block."""
    m, k, n = cf_model, 4, 18
    syn = m.sample(n, seed=21, s_mode="counterfactual")
    z = m.student_.sample(-(-n // k), torch.Generator().manual_seed(21))
    zi = z[torch.tensor([i // k for i in range(n)])]
    gi = torch.tensor([i % k for i in range(n)])
    with torch.no_grad():
        dec = m.teacher_.decode(zi, F.one_hot(gi, k).float())
    rows = m.teacher_.to_rows(dec.cpu(), "argmax").numpy()
    np.testing.assert_array_equal(syn.X, rows[:, :m.x_dim_].astype(np.float32))
    np.testing.assert_array_equal(syn.y, rows[:, m.x_dim_:].argmax(1))
    np.testing.assert_array_equal(syn.s, np.asarray(m.groups_)[gi.numpy()])


# ----------------------------------------------------------------------- intersectional cells (§8)
def label_shift_table(n=1600, axes=3, d=3, seed=0):
    """3 binary axes, features N(0, I) shifted by +3 for y = 1: each (g, k) cell has mean 3k in every feature."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, (n, axes))
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)) + 3.0 * y[:, None]
    return FairDataset(X=X, y=y, s=s, sensitive_names=[f"a{i}" for i in range(axes)], name="shift")


SMALL = dict(rounds=4, steps=15, batch=64, n_per_cell=400, selection="mmd", score_real_vs_generated=False, seed=0)


@pytest.fixture(scope="module")
def fitted_intersectional():
    data = label_shift_table()
    return data, IntersectionalAugmentation(**SMALL).fit(data)


def test_generated_cells_match_their_own_label_not_the_other(fitted_intersectional):
    data, m = fitted_intersectional
    pool = m.augmented_
    gen_rows = pool.origin == 1
    assert gen_rows.sum() == 2 * 8 * SMALL["n_per_cell"]
    for g in m.hierarchy_.groups:
        in_g = (data.s == g).all(1)
        for k in (0, 1):
            fake = pool.X[gen_rows & (pool.s == g).all(1) & (pool.y == k)]
            real, other = data.X[in_g & (data.y == k)], data.X[in_g & (data.y == 1 - k)]
            assert len(fake) == SMALL["n_per_cell"]
            se = np.sqrt(fake.var(0) / len(fake) + real.var(0) / len(real))
            gap = np.abs(fake.mean(0) - real.mean(0))
            assert np.all(gap < 5 * se), (g, k, gap, se)
            se_other = np.sqrt(fake.var(0) / len(fake) + other.var(0) / len(other))
            assert np.all(np.abs(fake.mean(0) - other.mean(0)) > 2.0), (g, k)  # true separation 3
            assert np.all(np.abs(fake.mean(0) - other.mean(0)) > 10 * se_other)


def test_best_round_is_the_argmin_of_the_recorded_scores(fitted_intersectional):
    _, m = fitted_intersectional
    rounds = m.history_["rounds"]
    assert len(rounds) == SMALL["rounds"]
    for k in (0, 1):
        scores = [r[k] for r in rounds]
        assert m.history_["best_round"][k] == int(np.argmin(scores))
    # the fixture's run is informative: for some label the best round is not the last
    assert any(m.history_["best_round"][k] != SMALL["rounds"] - 1 for k in (0, 1))


def test_kept_generator_is_the_state_after_the_best_round(monkeypatch):
    """Replay: a run of b + 1 rounds whose selection always prefers the newest round (same random draws: the real
    scorer still runs) ends with the state after round b; it must equal the full run's kept generator for label k
    with best round b."""
    data = label_shift_table()
    Z = torch.as_tensor((data.X - data.X.mean(0)) / data.X.std(0), dtype=torch.float32)
    hier = GroupHierarchy(data.s, data.y)
    variants = {0: "intermediate", 1: "simple"}
    cfg = GeneratorConfig(rounds=4, steps=15, batch=64, selection="mmd")
    gens, hist = itraining.train_generators(hier, Z, variants, cfg, seed=0)
    assert any(hist["best_round"][k] != cfg.rounds - 1 for k in (0, 1))
    original = itraining.selection_score
    calls = []

    def newest_wins(*args, **kw):
        original(*args, **kw)  # keep the random stream identical
        calls.append(1)
        return -float(len(calls))

    monkeypatch.setattr(itraining, "selection_score", newest_wins)
    for k in (0, 1):
        b = hist["best_round"][k]
        replay, rhist = itraining.train_generators(GroupHierarchy(data.s, data.y), Z, variants,
                                                   GeneratorConfig(rounds=b + 1, steps=15, batch=64, selection="mmd"),
                                                   seed=0)
        assert rhist["best_round"][k] == b
        for (name, want), (_, got) in zip(replay[k].state_dict().items(), gens[k].state_dict().items()):
            torch.testing.assert_close(got, want, rtol=0, atol=0, msg=f"label {k} parameter {name}")
