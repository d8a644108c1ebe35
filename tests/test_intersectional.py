"""Hierarchical intersectional augmentation: hierarchy, generators, loss gradients, training, equal sampling."""
import itertools

import numpy as np
import pytest
import torch

from fairdistill.dataset import FairDataset
from fairdistill.errors import ConfigError
from fairdistill.methods import make
from fairdistill.methods.intersectional import (ANY, EqualSampling, GeneratorConfig, GroupHierarchy,
                                                IntersectionalAugmentation, discriminator_score,
                                                hierarchical_loss, make_generator,
                                                train_generators)
from fairdistill.methods.intersectional.training import draw, generate
from fairdistill.nn.mmd import mmd2

TINY = dict(rounds=2, steps=5, batch=32, n_per_cell=40, selection="mmd", score_real_vs_generated=False)


def toy(n=1200, d=4, seed=0, axes=(2, 3, 2)):
    rng = np.random.default_rng(seed)
    s = np.stack([rng.integers(0, c, n) for c in axes], 1)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)) + s[:, :1] + 0.5 * y[:, None]
    return FairDataset(X=X, y=y, s=s, sensitive_names=[f"a{i}" for i in range(len(axes))])


# ---------------------------------------------------------------- hierarchy
def test_hierarchy_parents_are_supersets_one_axis_dropped():
    data = toy(axes=(2, 3, 2))  # binary x categorical(3) x binary
    h = GroupHierarchy(data.s, data.y)
    assert len(h.groups) == 12 and h.p == 3
    for g in h.groups:
        for k in (0, 1):
            parents = h.parents(g, k)
            assert len(parents) == 3
            target = set(h.target(g, k).tolist())
            for i, (pat, idx) in enumerate(parents):
                assert pat[i] is ANY and all(pat[a] == g[a] for a in range(3) if a != i)
                expect = np.flatnonzero(np.all(np.delete(data.s, i, 1) == np.delete(np.array(g), i), 1)
                                        & (data.y == k))
                np.testing.assert_array_equal(idx, expect)
                assert target <= set(idx.tolist()) and len(idx) > len(target)


def test_hierarchy_level2_fallback_when_parent_cell_empty():
    # group (0,0,0) and its sibling (1,0,0) have no label-1 rows -> parent over axis 0 is empty for label 1
    s = np.array(list(itertools.product([0, 1], repeat=3)) * 10)
    y = np.tile([0, 1, 1, 1, 0, 1, 1, 1], 10)  # groups (0,0,0) and (1,0,0) only label 0
    h = GroupHierarchy(s, y)
    assert len(h.target((0, 0, 0), 1)) == 0 and len(h.cell((ANY, 0, 0), 1)) == 0
    pats = [p for p, _ in h.parents((0, 0, 0), 1)]
    assert pats[0].count(ANY) == 2 and pats[0][0] is ANY  # level-2 ancestor that still drops axis 0
    assert pats[1] == (0, ANY, 0) and pats[2] == (0, 0, ANY)
    fb = h.fallbacks
    assert len(fb) == 1 and fb[0]["level"] == 2 and fb[0]["axis"] == 0


def test_hierarchy_errors():
    data = toy(axes=(2, 2, 2))
    with pytest.raises(ConfigError, match=">= 2"):
        GroupHierarchy(data.s[:, :1], data.y)
    with pytest.raises(ConfigError, match="max_groups"):
        GroupHierarchy(data.s, data.y, max_groups=4)


# ---------------------------------------------------------------- generators
@pytest.mark.parametrize("variant", ["simple", "intermediate", "complex"])
def test_generator_shapes_and_formula(variant):
    p, b, d = 3, 7, 5
    gen = make_generator(variant, p, d, torch.Generator().manual_seed(0))
    P = torch.randn(p, b, d)
    out = gen(P)
    assert out.shape == (b, d)
    if variant == "simple":
        torch.testing.assert_close(out, P.mean(0))  # lambda = 1/p at init
    elif variant == "intermediate":
        assert gen.w.shape == (d,)
        torch.testing.assert_close(out, gen.w * P.sum(0))
    else:
        W = gen.lin.weight
        assert W.shape == (d, d) and gen.lin.bias is None
        torch.testing.assert_close(out, sum(P[i] @ W.T for i in range(p)))


def test_intermediate_init_is_standard_normal():
    w = make_generator("intermediate", 3, 20000, torch.Generator().manual_seed(1)).w.detach()
    assert abs(float(w.mean())) < 0.03 and abs(float(w.std()) - 1) < 0.03


def test_parent_grad_controls_gradient_of_parent_terms():
    torch.manual_seed(0)
    P = torch.randn(3, 16, 4)
    Q = [torch.randn(16, 4) + 1 for _ in range(3)]
    for flag in (True, False):
        gen = make_generator("simple", 3, 4)
        loss, terms = hierarchical_loss(gen(P), None, Q, (1.0, 2.0), parent_grad=flag)
        loss.backward()
        g = gen.lam.grad
        assert terms["target"] is None and len(terms["parents"]) == 3
        if flag:
            assert float(g.abs().sum()) > 1e-6
        else:
            assert float(g.abs().sum()) == 0.0
    # with a target the detached version still trains through the target term only
    gen = make_generator("simple", 3, 4)
    T = torch.randn(16, 4) + 2
    hierarchical_loss(gen(P), T, Q, (1.0, 2.0), parent_grad=False)[0].backward()
    g_det = gen.lam.grad.clone()
    gen.lam.grad = None
    mmd2(T, gen(P), (1.0, 2.0)).backward()
    torch.testing.assert_close(g_det, gen.lam.grad)


# ---------------------------------------------------------------- training
@pytest.mark.parametrize("variant,parent_grad", [("simple", True), ("simple", False), ("intermediate", True),
                                                 ("complex", True)])
def test_training_reduces_mmd_to_target(variant, parent_grad):
    # 3 balanced binary axes, x = sum_i (2 a_i - 1) e_i + N(0, I). Parent i is the 50/50 mixture over axis i, so
    # sum_i X_i / 2 has exactly the target's mean and covariance (3 I + I) / 4 = I: the optimum is lambda = 1/2
    # (w = 1/2, W = I/2) for every group at once, far from the 1/3 initialisation.
    rng = np.random.default_rng(0)
    n, d = 6000, 3
    s = rng.integers(0, 2, (n, 3))
    y = rng.integers(0, 2, n)
    X = torch.as_tensor((2 * s - 1) + rng.normal(size=(n, d)), dtype=torch.float32)
    h = GroupHierarchy(s, y)
    cfg = GeneratorConfig(rounds=2, steps=40, batch=64, lr=0.05, bandwidth="median", selection="mmd",
                          parent_grad=parent_grad)

    def gap(gens):
        r = np.random.default_rng(5)
        return np.mean([float(mmd2(draw(X, h.target(g, k), 400, r), generate(gens[k], h, X, g, k, 400, r),
                                   (0.5, 1.0, 2.0), estimator="unbiased")) for g in h.groups for k in (0, 1)])

    init = {k: make_generator(variant, 3, d, torch.Generator().manual_seed(0)) for k in (0, 1)}
    trained, hist = train_generators(h, X, {0: variant, 1: variant}, cfg, seed=0)
    assert len(hist["rounds"]) == 2 and set(hist["best_round"]) == {0, 1}
    assert gap(trained) < 0.2 * gap(init)
    theta = next(trained[1].parameters()).detach()
    expect = torch.eye(d) / 2 if variant == "complex" else torch.full((3,), 0.5)
    assert float((theta - expect).abs().max()) < 0.1


# ---------------------------------------------------------------- estimators
def cell_counts(out):
    keys = np.concatenate([out.s, out.y[:, None]], 1)
    _, counts = np.unique(keys, axis=0, return_counts=True)
    return counts


def test_equal_sampling_exact_cells():
    data = toy(axes=(2, 2, 3))
    out = make("equal-sampling", n_per_cell=30, seed=1).fit(data).synthetic_
    assert len(cell_counts(out)) == 24 and np.all(cell_counts(out) == 30)
    assert np.all(out.origin == 0)
    # every row is a real row with its own label and groups
    full = {tuple(np.r_[x, s_, y_]) for x, s_, y_ in zip(data.X, data.s, data.y)}
    assert all(tuple(np.r_[x, s_, y_]) in full for x, s_, y_ in zip(out.X, out.s, out.y))


def test_augmentation_output_structure_and_empty_target_cell():
    data = toy(axes=(2, 2, 2))
    keep = ~((data.s == [1, 1, 0]).all(1) & (data.y == 1))  # group (1,1,0) has no positives
    data = data.subset(np.flatnonzero(keep))
    m = IntersectionalAugmentation(seed=3, **TINY).fit(data)
    out, pool = m.synthetic_, m.augmented_
    assert len(out) == 2 * 40 * 8 and np.all(cell_counts(out) == 40)
    assert len(pool) == len(data) + 2 * 40 * 8 and pool.origin.sum() == 2 * 40 * 8
    cell = (out.s == [1, 1, 0]).all(1) & (out.y == 1)
    assert cell.sum() == 40 and np.all(out.origin[cell] == 1)  # only generated rows can fill it
    assert [[1, 1, 0], 1] in out.provenance["empty_target_cells"]
    assert set(out.origin.tolist()) == {0, 1}
    assert out.X.shape[1] == data.X.shape[1] and np.all(np.isfinite(out.X))


def test_generated_rows_are_back_on_input_scale():
    data = toy(axes=(2, 2, 2))
    data.X[:, 0] = data.X[:, 0] * 100 + 1000  # a feature on a very different scale
    m = IntersectionalAugmentation(seed=0, variant_neg="simple", **TINY).fit(data)
    gen = m.augmented_.X[m.augmented_.origin == 1]
    assert abs(gen[:, 0].mean() - data.X[:, 0].mean()) < 0.2 * data.X[:, 0].std()


def test_single_axis_and_too_many_groups():
    data = toy(axes=(2, 2, 2))
    one = data.select_sensitive(["a0"])
    with pytest.raises(ConfigError, match=">= 2 sensitive axes"):
        IntersectionalAugmentation(**TINY).fit(one)
    out = IntersectionalAugmentation(single_axis="equal-sampling", **TINY).fit(one).synthetic_
    assert np.all(cell_counts(out) == 40) and np.all(out.origin == 0)
    assert out.provenance["method"] == "intersectional" and out.provenance["single_axis_fallback"] == "equal-sampling"
    with pytest.raises(ConfigError, match="max_groups"):
        IntersectionalAugmentation(max_groups=5, **TINY).fit(data)


def test_seed_determinism():
    data = toy(axes=(2, 2, 2))
    a = IntersectionalAugmentation(seed=7, **TINY).fit(data).synthetic_
    b = IntersectionalAugmentation(seed=7, **TINY).fit(data).synthetic_
    c = IntersectionalAugmentation(seed=8, **TINY).fit(data).synthetic_
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_discriminator_score_separates_only_different_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    assert abs(discriminator_score(a, b, seed=0) - 0.5) < 0.1
    assert discriminator_score(a, b + 3.0, seed=0) > 0.95


def test_real_vs_generated_recorded_per_cell():
    data = toy(axes=(2, 2), n=800)
    out = IntersectionalAugmentation(seed=0, **dict(TINY, score_real_vs_generated=True, rounds=1)).fit(data).synthetic_
    cells = out.provenance["real_vs_generated"]
    assert len(cells) == 8 and all(0.0 <= c["bacc"] <= 1.0 for c in cells)
    assert np.isclose(out.provenance["real_vs_generated_bacc"], np.mean([c["bacc"] for c in cells]))
    assert EqualSampling.name == "equal-sampling" and IntersectionalAugmentation.name == "intersectional"
