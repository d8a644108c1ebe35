"""Independent oracles for DSA augmentation and the DM / DC / FairDD class losses (METHODS.md §1-§4).

DSA: every family's output is recomputed from the random parameters the code draws (the draw is reproduced
from a generator with the same seed, in the order the module documents: one family index when the strategy has
several families, then each operation's per-sample parameters) with formulas written here in float64 numpy:
the DiffAugment colour maps, integer translations / a zeroed square by explicit indexing, and scale / rotate by a
hand-written bilinear sampler (align_corners=True, zero padding, rotation angle in degrees -> radians).
Plus ``torch.autograd.gradcheck`` in float64 for every family with the draw fixed.

FairDD: with a single group FairDD's class loss equals the vanilla one (same net, same batch); with several
groups it equals sum_a D(phi(real rows of group a), phi(synthetic)) recomputed with separate forward passes per
group and hand-written distances, and ``group_reduction="mean"`` divides by the number of groups *present*.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fairdistill.dataset import FairDataset
from fairdistill.methods import make
from fairdistill.methods.distill.base import Context
from fairdistill.nn import augment as A
from fairdistill.nn.convnet import ConvNet

P = A.DSAParams()
H, W = 8, 12  # non-square, so a swap of rows and columns (or of their ranges) is visible


def _x(n=6, seed=0, dtype=torch.float64, h=H, w=W):
    return torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _g(seed):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------- numpy oracles
def np_brightness(x, u, b):
    return x + (u[:, None, None, None] - 0.5) * b


def np_saturation(x, u, s):
    m = x.mean(axis=1, keepdims=True)  # per-pixel mean over the channels
    return (x - m) * (u[:, None, None, None] * s) + m


def np_contrast(x, u, c):
    m = x.mean(axis=(1, 2, 3), keepdims=True)  # per-image mean
    return (x - m) * (u[:, None, None, None] + c) + m


def np_crop(x, dy, dx):
    """out[b, :, i, j] = x[b, :, i + dy_b, j + dx_b], zero where that source pixel is outside the image."""
    n, c, h, w = x.shape
    out = np.zeros_like(x)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                si, sj = i + dy[b], j + dx[b]
                if 0 <= si < h and 0 <= sj < w:
                    out[b, :, i, j] = x[b, :, si, sj]
    return out


def np_cutout(x, cy, cx, side_h, side_w):
    """DiffAugment's cutout: rows cy - side_h//2 + k (k < side_h) clamped into the image, same for columns."""
    n, c, h, w = x.shape
    mask = np.ones((n, h, w))
    for b in range(n):
        rows = np.clip(cy[b] - side_h // 2 + np.arange(side_h), 0, h - 1)
        cols = np.clip(cx[b] - side_w // 2 + np.arange(side_w), 0, w - 1)
        mask[b][np.ix_(rows, cols)] = 0
    return x * mask[:, None]


def np_affine(x, mats):
    """Bilinear resampling of x at theta @ (x_n, y_n, 1) for every output pixel (normalised coordinates with
    align_corners=True: pixel j <-> -1 + 2 j / (W - 1)); source pixels outside the image count as zero."""
    n, c, h, w = x.shape
    out = np.zeros_like(x)
    ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    xn, yn = -1 + 2 * jj / (w - 1), -1 + 2 * ii / (h - 1)
    for b in range(n):
        t = mats[b]
        xs = t[0, 0] * xn + t[0, 1] * yn + t[0, 2]
        ys = t[1, 0] * xn + t[1, 1] * yn + t[1, 2]
        px, py = (xs + 1) / 2 * (w - 1), (ys + 1) / 2 * (h - 1)
        x0, y0 = np.floor(px).astype(int), np.floor(py).astype(int)
        fx, fy = px - x0, py - y0
        for oy, wy in ((0, 1 - fy), (1, fy)):
            for ox, wx in ((0, 1 - fx), (1, fx)):
                r, q = y0 + oy, x0 + ox
                inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
                vals = x[b][:, np.clip(r, 0, h - 1), np.clip(q, 0, w - 1)] * inside
                out[b] += vals * (wy * wx)
    return out


def rotation(phi):
    """2 x 3 affine matrices of rotations by phi (radians), the DiffAugment convention [[cos, -sin], [sin, cos]]."""
    c, s = np.cos(phi), np.sin(phi)
    return np.stack([np.array([[ci, -si, 0.0], [si, ci, 0.0]]) for ci, si in zip(c, s)])


# ------------------------------------------------------------------------ the documented random draws
def draw_color(g, n):
    return [torch.rand(n, generator=g).double().numpy() for _ in range(3)]  # brightness, saturation, contrast


def draw_crop(g, n, h, w, p=P):
    rh, rw = int(h * p.crop + 0.5), int(w * p.crop + 0.5)
    dy = torch.randint(-rh, rh + 1, (n,), generator=g).numpy()
    dx = torch.randint(-rw, rw + 1, (n,), generator=g).numpy()
    return dy, dx


def draw_cutout(g, n, h, w, p=P):
    ch, cw = int(h * p.cutout + 0.5), int(w * p.cutout + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n,), generator=g).numpy()
    cx = torch.randint(0, w + (1 - cw % 2), (n,), generator=g).numpy()
    return cy, cx, ch, cw


def expected(family, x, g, p=P):
    """The oracle output of one family on x (float64 numpy) with parameters drawn from g."""
    n, _, h, w = x.shape
    if family == "color":
        ub, us, uc = draw_color(g, n)
        return np_contrast(np_saturation(np_brightness(x, ub, p.brightness), us, p.saturation), uc, p.contrast)
    if family == "crop":
        return np_crop(x, *draw_crop(g, n, h, w, p))
    if family == "cutout":
        return np_cutout(x, *draw_cutout(g, n, h, w, p))
    if family == "flip":
        fl = (torch.rand(n, generator=g) < p.flip).numpy()
        return np.where(fl[:, None, None, None], x[..., ::-1], x)
    if family == "scale":
        lo = 1.0 / p.scale
        sx = torch.rand(n, generator=g).double().numpy() * (p.scale - lo) + lo
        sy = torch.rand(n, generator=g).double().numpy() * (p.scale - lo) + lo
        mats = np.zeros((n, 2, 3))
        mats[:, 0, 0], mats[:, 1, 1] = sx, sy
        return np_affine(x, mats)
    if family == "rotate":
        raise AssertionError("rotate has two admissible sign conventions: use rotate_candidates")
    raise AssertionError(family)


def rotate_candidates(x, g, p=P):
    """Oracle outputs for the rotation by +theta and by -theta, theta = (u - 1/2) * 2 * rotate degrees.

    DiffAugment samples the source at [[cos, -sin], [sin, cos]] theta; the transpose (a rotation the other way) has
    the same distribution since theta is symmetric, and the module doc does not fix the direction, so either is
    accepted -- but the angle must be the drawn one, in radians."""
    u = torch.rand(len(x), generator=g).double().numpy()
    phi = (u - 0.5) * 2 * p.rotate * math.pi / 180
    return np_affine(x, rotation(phi)), np_affine(x, rotation(-phi))


def assert_matches_rotation(out, x, g, p=P, atol=1e-5):
    plus, minus = rotate_candidates(x, g, p)
    assert np.abs(plus - minus).max() > 1e-2  # the two conventions are distinguishable on this input
    err = min(np.abs(out - plus).max(), np.abs(out - minus).max())
    assert err < atol, f"rotation differs from the oracle by {err}"


# ------------------------------------------------------------------------------------------------- DSA tests
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_brightness_saturation_contrast_each_equal_the_formula(seed):
    x = _x(seed=seed)
    xn = x.numpy()
    n = len(x)
    u = torch.rand(n, generator=_g(seed)).double().numpy()
    assert np.allclose(A.brightness(x, _g(seed), P).numpy(), np_brightness(xn, u, P.brightness), atol=1e-12)
    got = A.saturation(x, _g(seed), P).numpy()
    assert np.allclose(got, np_saturation(xn, u, P.saturation), atol=1e-12)
    # the alternatives that must NOT match: per-image mean, u + s instead of u * s
    m_img = xn.mean(axis=(1, 2, 3), keepdims=True)
    assert not np.allclose(got, (xn - m_img) * (u[:, None, None, None] * P.saturation) + m_img, atol=1e-6)
    assert not np.allclose(got, np_saturation(xn, u + P.saturation, 1.0), atol=1e-6)
    assert np.allclose(A.contrast(x, _g(seed), P).numpy(), np_contrast(xn, u, P.contrast), atol=1e-12)
    # saturation keeps the per-pixel channel mean; contrast keeps the per-image mean (exact invariants)
    assert np.allclose(got.mean(1), xn.mean(1), atol=1e-12)
    assert np.allclose(A.contrast(x, _g(seed), P).numpy().mean((1, 2, 3)), xn.mean((1, 2, 3)), atol=1e-12)


def test_saturation_factor_is_u_times_s_on_a_pure_chroma_pixel():
    """Closed form: a pixel (1, -1, 0) has channel mean 0, so saturation multiplies it by exactly u * s."""
    x = torch.zeros(5, 3, 2, 2, dtype=torch.float64)
    x[:, 0], x[:, 1] = 1.0, -1.0
    u = torch.rand(5, generator=_g(7)).double()
    out = A.saturation(x, _g(7), P)
    assert torch.allclose(out[:, 0, 0, 0], u * P.saturation, atol=1e-12)
    assert torch.allclose(out[:, 1, 0, 0], -u * P.saturation, atol=1e-12)
    assert torch.allclose(out[:, 2], torch.zeros_like(out[:, 2]), atol=1e-12)


@pytest.mark.parametrize("family, seed, atol", [
    ("color", 0, 1e-12), ("color", 3, 1e-12),  # brightness, then saturation, then contrast
    ("scale", 0, 1e-5), ("scale", 2, 1e-5),  # bilinear resampling with the drawn factors (float32 grid)
])
def test_family_equals_its_oracle_on_the_drawn_parameters(family, seed, atol):
    x = _x(seed=seed)
    got = A.dsa(x, _g(seed), family, P).numpy()
    assert np.allclose(got, expected(family, x.numpy(), _g(seed)), atol=atol)


@pytest.mark.parametrize("seed", [0, 5])
def test_crop_equals_translation_by_the_drawn_shifts(seed):
    x = _x(n=10, seed=seed)
    got = A.dsa(x, _g(seed), "crop", P).numpy()
    dy, dx = draw_crop(_g(seed), 10, H, W)
    assert (dy != 0).any() and (dx != 0).any()
    assert np.array_equal(got, np_crop(x.numpy(), dy, dx))


@pytest.mark.parametrize("seed", [0, 5])
def test_cutout_zeroes_the_drawn_square(seed):
    x = _x(n=10, seed=seed)
    got = A.dsa(x, _g(seed), "cutout", P).numpy()
    assert np.array_equal(got, expected("cutout", x.numpy(), _g(seed)))
    cy, cx, ch, cw = draw_cutout(_g(seed), 10, H, W)
    assert (ch, cw) == (4, 6)  # round(0.5 * side) per axis


def test_flip_mirrors_exactly_the_drawn_samples():
    x = _x(n=16, seed=1)
    got = A.dsa(x, _g(4), "flip", P)
    fl = torch.rand(16, generator=_g(4)) < P.flip
    assert 0 < int(fl.sum()) < 16
    assert torch.equal(got[fl], x[fl].flip(3)) and torch.equal(got[~fl], x[~fl])


@pytest.mark.parametrize("seed", [0, 2])
@pytest.mark.parametrize("degrees", [15.0, 40.0])
def test_rotate_equals_bilinear_rotation_by_the_drawn_angle_in_degrees(seed, degrees):
    p = A.DSAParams(rotate=degrees)
    x = _x(seed=seed)
    got = A.dsa(x, _g(seed), "rotate", p).numpy()
    assert_matches_rotation(got, x.numpy(), _g(seed), p)


def test_rotate_closed_form_quarter_turn():
    """The oracle's own resampler against a closed form: on a square image a quarter turn is np.rot90 (one
    direction or the other); and the module's resampler agrees with the oracle at that matrix."""
    x = _x(n=1, seed=3, h=7, w=7)
    mats = rotation(np.array([math.pi / 2]))
    assert np.allclose(np_affine(x.numpy(), mats)[0], np.rot90(x.numpy()[0], k=1, axes=(1, 2)), atol=1e-12) or \
        np.allclose(np_affine(x.numpy(), mats)[0], np.rot90(x.numpy()[0], k=-1, axes=(1, 2)), atol=1e-12)
    # and the torch resampler of the module agrees with the hand-written one at the same matrix
    got = A._warp(x, torch.from_numpy(mats)).numpy()
    assert np.allclose(got, np_affine(x.numpy(), mats), atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_full_strategy_picks_one_family_and_applies_it_with_the_drawn_parameters(seed):
    """Default strategy: one family index from the generator, then that family's draws from the same generator."""
    names = A.DEFAULT_STRATEGY.split("_")
    x = _x(n=5, seed=seed)
    got = A.dsa(x, _g(seed), A.DEFAULT_STRATEGY, P).numpy()
    g = _g(seed)
    family = names[int(torch.randint(len(names), (1,), generator=g))]
    if family == "rotate":
        assert_matches_rotation(got, x.numpy(), g)
    else:
        assert np.allclose(got, expected(family, x.numpy(), g), atol=1e-5), family


def test_full_strategy_reaches_every_family():
    names = A.DEFAULT_STRATEGY.split("_")
    picked = {names[int(torch.randint(len(names), (1,), generator=_g(s)))] for s in range(12)}
    assert picked == set(names)


def test_siamese_twin_batches_get_identical_parameters():
    """Two batches of different content and size augmented from one seed: each equals the oracle with the same
    draw (the per-sample parameters of the first rows coincide)."""
    for seed in range(6):
        a, b = _x(n=4, seed=10), _x(n=4, seed=11)
        oa = A.dsa(a, _g(seed), "color_crop_cutout_scale", P).numpy()
        ob = A.dsa(b, _g(seed), "color_crop_cutout_scale", P).numpy()
        names = ["color", "crop", "cutout", "scale"]
        ga, gb = _g(seed), _g(seed)
        fa = names[int(torch.randint(4, (1,), generator=ga))]
        fb = names[int(torch.randint(4, (1,), generator=gb))]
        assert fa == fb
        assert np.allclose(oa, expected(fa, a.numpy(), ga), atol=1e-5)
        assert np.allclose(ob, expected(fb, b.numpy(), gb), atol=1e-5)


@pytest.mark.parametrize("family", sorted(A.FAMILIES))
def test_gradcheck_float64_with_the_draw_fixed(family):
    x = _x(n=2, seed=1, h=6, w=7).requires_grad_(True)
    p = A.DSAParams(rotate=30.0)
    assert torch.autograd.gradcheck(lambda t: A.dsa(t, _g(9), family, p), (x,), eps=1e-6, atol=1e-7)


def test_dsa_runs_in_float32_within_float32_accuracy():
    x = _x(seed=4).float()
    for fam in ("color", "scale"):
        got = A.dsa(x, _g(4), fam, P).double().numpy()
        assert np.allclose(got, expected(fam, x.double().numpy(), _g(4)), atol=1e-5)
    assert_matches_rotation(A.dsa(x, _g(4), "rotate", P).double().numpy(), x.double().numpy(), _g(4), atol=1e-5)


# ---------------------------------------------------------------------------------------------- FairDD losses
CPU = torch.device("cpu")
TINY = {"ipc": 3, "iterations": 2, "batch_real": 24, "net_width": 8, "net_depth": 2}
TINY_DC = {**TINY, "outer_loop": 2, "inner_loop": 1}


def ctx(n_groups):
    return Context(X=torch.zeros(0), gid=torch.zeros(0, dtype=torch.long), classes=[0, 1], sampler=None,
                   n_groups=n_groups, device=CPU, image=True, make_net=None)


def batch(groups=(0, 1, 2), n=24, seed=0):
    """A real batch of class 1 with group ids cycling through ``groups`` (uneven sizes) and 3 synthetic images."""
    g = _g(seed)
    gr = torch.tensor([groups[i % len(groups)] for i in range(n)])
    gr[: n // 3] = groups[0]  # the first group is the majority
    xr = torch.randn(n, 3, 8, 8, generator=g) + 0.5 * gr[:, None, None, None]
    xs = torch.randn(3, 3, 8, 8, generator=g).requires_grad_(True)
    return xr, gr, xs


def net(seed=0):
    torch.manual_seed(seed)
    return ConvNet(3, 2, 8, width=8, depth=2)


def dm_loss(name, n_groups, xr, gr, xs, **options):
    m = make(name, **TINY, **options)
    nt = net()
    nt.requires_grad_(False)
    return m.class_loss(ctx(n_groups), nt, xr, gr, xs), nt


def dc_loss(name, n_groups, xr, gr, xs, **options):
    m = make(name, **TINY_DC, **options)
    nt = net()
    params = list(nt.parameters())
    yr, ys = torch.ones(len(xr), dtype=torch.long), torch.ones(len(xs), dtype=torch.long)
    return m.class_loss(ctx(n_groups), nt, params, xr, yr, gr, xs, ys), nt


def distance(real, syn, match):
    """METHODS.md §3 distance, written out: 'ours' row cosines of tensors with > 1 dimension, 'mse', 'cos'."""
    if match == "mse":
        return sum(((r - s) ** 2).sum() for r, s in zip(real, syn))
    if match == "cos":
        a = torch.cat([r.flatten() for r in real])
        b = torch.cat([s.flatten() for s in syn])
        return 1 - (a * b).sum() / (a.norm() * b.norm() + 1e-6)
    total = 0
    for r, s in zip(real, syn):
        if s.ndim == 1:
            continue
        for k in range(s.shape[0]):
            rr, ss = r[k].flatten(), s[k].flatten()
            total = total + 1 - (rr * ss).sum() / (rr.norm() * ss.norm() + 1e-6)
    return total


def close(a, b, rtol=1e-5, atol=1e-6):
    a, b = float(torch.as_tensor(a).detach()), float(torch.as_tensor(b).detach())
    return abs(a - b) <= atol + rtol * abs(b)


@pytest.mark.parametrize("n_groups", [1, 3])
def test_single_group_fairdd_dm_equals_dm(n_groups):
    xr, _, xs = batch()
    gr = torch.zeros(len(xr), dtype=torch.long)
    van, nt = dm_loss("dm", n_groups, xr, gr, xs)
    fair, _ = dm_loss("fairdd-dm", n_groups, xr, gr, xs)
    mean_fair, _ = dm_loss("fairdd-dm", n_groups, xr, gr, xs, group_reduction="mean")
    direct = ((nt.embed(xr).mean(0) - nt.embed(xs).mean(0)) ** 2).sum()
    assert close(van, direct) and close(fair, van, rtol=1e-6) and close(mean_fair, van, rtol=1e-6)
    gv, = torch.autograd.grad(van, xs)
    gf, = torch.autograd.grad(fair, xs)
    assert torch.allclose(gf, gv, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("group_grad", ["hooks", "loop"])
@pytest.mark.parametrize("match", ["ours", "mse"])
def test_single_group_fairdd_dc_equals_dc(group_grad, match):
    xr, _, xs = batch()
    gr = torch.zeros(len(xr), dtype=torch.long)
    van, nt = dc_loss("dc", 1, xr, gr, xs, match=match)
    fair, _ = dc_loss("fairdd-dc", 1, xr, gr, xs, match=match, group_grad=group_grad)
    mean_fair, _ = dc_loss("fairdd-dc", 2, xr, gr, xs, match=match, group_grad=group_grad, group_reduction="mean")
    params = list(nt.parameters())
    gr_ = torch.autograd.grad(F.cross_entropy(nt(xr), torch.ones(len(xr), dtype=torch.long)), params)
    gs_ = torch.autograd.grad(F.cross_entropy(nt(xs), torch.ones(3, dtype=torch.long)), params)
    assert close(van, distance(gr_, gs_, match), rtol=1e-4)
    assert close(fair, van, rtol=1e-6) and close(mean_fair, van, rtol=1e-6)
    gv, = torch.autograd.grad(van, xs)
    gf, = torch.autograd.grad(fair, xs)
    assert torch.allclose(gf, gv, rtol=1e-3, atol=1e-6 * float(gv.abs().max()))


def _present(gr, n_groups):
    return [a for a in range(n_groups) if (gr == a).any()]


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_fairdd_dm_equals_sum_over_groups_of_separate_embeddings(reduction):
    # four group ids, group 2 absent from the batch: "mean" divides by the 3 groups present, not by 4
    xr, gr, xs = batch(groups=(0, 1, 3))
    loss, nt = dm_loss("fairdd-dm", 4, xr, gr, xs, group_reduction=reduction)
    ms = nt.embed(xs).mean(0)
    present = _present(gr, 4)
    assert present == [0, 1, 3]
    terms = [((nt.embed(xr[gr == a]).mean(0) - ms) ** 2).sum() for a in present]
    ref = sum(terms) / (len(terms) if reduction == "mean" else 1)
    assert close(loss, ref, rtol=1e-5)
    assert not close(sum(terms), sum(terms) / 3)  # the two reductions really differ here
    gl, = torch.autograd.grad(loss, xs)
    gref, = torch.autograd.grad(ref, xs)
    assert torch.allclose(gl, gref, rtol=1e-4, atol=1e-6 * float(gref.abs().max()))


@pytest.mark.parametrize("group_grad", ["hooks", "loop"])
@pytest.mark.parametrize("match", ["ours", "mse", "cos"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_fairdd_dc_equals_sum_over_groups_of_separate_gradient_distances(group_grad, match, reduction):
    xr, gr, xs = batch(groups=(0, 1, 3))
    loss, nt = dc_loss("fairdd-dc", 4, xr, gr, xs, match=match, group_grad=group_grad, group_reduction=reduction)
    params = list(nt.parameters())
    gs = torch.autograd.grad(F.cross_entropy(nt(xs), torch.ones(3, dtype=torch.long)), params, create_graph=True)
    terms = []
    for a in _present(gr, 4):
        rows = gr == a
        ga = torch.autograd.grad(F.cross_entropy(nt(xr[rows]), torch.ones(int(rows.sum()), dtype=torch.long)),
                                 params)  # a separate forward of group a's rows (instance norm: rows independent)
        terms.append(distance([g.detach() for g in ga], gs, match))
    assert len(terms) == 3
    ref = sum(terms) / (len(terms) if reduction == "mean" else 1)
    assert close(loss, ref, rtol=1e-4, atol=1e-6)
    assert not close(sum(terms), sum(terms) / 3)
    gl, = torch.autograd.grad(loss, xs)
    gref, = torch.autograd.grad(ref, xs)
    assert torch.allclose(gl, gref, rtol=1e-2, atol=1e-4 * float(gref.abs().max()))


# ------------------------------------------------------------------------------------- whole runs, one group
def one_group_per_class_images(n=60, size=8, seed=0):
    """Class c is entirely group c (a constant attribute is refused), so every class batch has one group."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.standard_normal((n, 3, size, size)) * 0.5 + 0.6 * y[:, None, None, None]
    return FairDataset(X=X.astype(np.float32), y=y, s=y.copy(), sensitive_names=["g"],
                       modality="image", name="one", n_classes=2)


@pytest.mark.parametrize("base", ["dm", "dc"])
def test_one_group_per_class_fairdd_run_equals_vanilla_run(base):
    """Same seed, one protected group in every class: every batch, network and DSA draw coincide, and so do the
    losses, hence the distilled images (up to float rounding of mean versus grouped sum / count)."""
    data = one_group_per_class_images()
    kw = {**(TINY_DC if base == "dc" else TINY), "dsa": True, "seed": 3}
    a = make(base, **kw).fit(data).synthetic_
    b = make(f"fairdd-{base}", **kw).fit(data).synthetic_
    assert np.allclose(a.X, b.X, rtol=1e-4, atol=1e-5)
    shorter = make(base, **{**kw, "iterations": 1}).fit(data).synthetic_
    assert np.abs(shorter.X - a.X).max() > 1e-3  # the second iteration really moved the images
    assert abs(a.provenance["final_loss"] - b.provenance["final_loss"]) <= 1e-4 * abs(a.provenance["final_loss"])
