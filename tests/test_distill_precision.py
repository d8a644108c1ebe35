"""Mixed precision of the matching passes (``precision``): bf16 on CPU against fp32 on the same batch, short runs,
and the fp16-needs-CUDA error. (No GPU here: the fp16 path and any speed-up are not measured.)"""
import numpy as np
import pytest
import torch

from fairdistill.dataset import FairDataset
from fairdistill.errors import ConfigError
from fairdistill.methods import make
from fairdistill.methods.distill.base import Context
from fairdistill.methods.distill.samplers import ClassSampler

TINY = {"ipc": 3, "iterations": 2, "batch_real": 24, "net_width": 16, "net_depth": 2}
TINY_DC = {**TINY, "outer_loop": 2, "inner_loop": 1}
CPU = torch.device("cpu")


def images(n=80, size=8, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    s = (rng.random(n) < 0.3).astype(int)
    X = rng.standard_normal((n, 3, size, size)) * 0.5 + 0.6 * y[:, None, None, None] - 0.8 * s[:, None, None, None]
    return FairDataset(X=X.astype(np.float32), y=y, s=s, sensitive_names=["g"], modality="image", name="img",
                       n_classes=2)


def context(method, data) -> Context:
    return Context(X=torch.from_numpy(data.X), gid=torch.from_numpy(data.s[:, 0]), classes=[0, 1],
                   sampler=ClassSampler(data.y, data.s[:, 0], 2), n_groups=2, device=CPU, image=True,
                   make_net=method._net_factory(data))


def class_losses(name, **options):
    """fp32 and bf16 loss of class 1 on one batch with one network, and the gradients w.r.t. the synthetic images."""
    data = images()
    rows = np.flatnonzero(data.y == 1)[:24]
    xr, gr = torch.from_numpy(data.X[rows]), torch.from_numpy(data.s[rows, 0])
    out = []
    for precision in ("fp32", "bf16"):
        m = make(name, **(TINY_DC if "dc" in name else TINY), precision=precision, **options)
        ctx = context(m, data)
        net = ctx.make_net(5)
        noise = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
        xs = (torch.from_numpy(data.X[rows[:3]]) + 0.7 * noise).requires_grad_(True)
        if "dc" in name:
            params = list(net.parameters())
            yr, ys = torch.ones(len(xr), dtype=torch.long), torch.ones(3, dtype=torch.long)
            loss = m.class_loss(ctx, net, params, xr, yr, gr, xs, ys)
        else:
            net.requires_grad_(False)
            loss = m.class_loss(ctx, net, xr, gr, xs)
        (grad,) = torch.autograd.grad(loss, xs)
        out.append((loss.detach(), grad))
    return out


@pytest.mark.parametrize("name, options", [("dm", {}), ("fairdd-dm", {}), ("dc", {}),
                                           ("fairdd-dc", {"group_grad": "hooks"}),
                                           ("fairdd-dc", {"group_grad": "loop"})])
def test_bf16_loss_close_to_fp32_on_the_same_batch(name, options):
    (l32, g32), (l16, g16) = class_losses(name, **options)
    assert l32.dtype == l16.dtype == torch.float32 and g16.dtype == torch.float32
    assert float(l16) != float(l32)  # autocast really ran in bfloat16
    assert abs(float(l16) - float(l32)) <= 0.01 * abs(float(l32)), (float(l16), float(l32))
    cos = torch.nn.functional.cosine_similarity(g16.flatten(), g32.flatten(), dim=0)
    assert cos > 0.99, float(cos)


@pytest.mark.parametrize("name", ["dm", "fairdd-dm", "dc", "fairdd-dc"])
def test_short_bf16_distillation_runs(name):
    data = images()
    kw = TINY_DC if "dc" in name else TINY
    a = make(name, **kw, precision="bf16").fit(data).synthetic_
    b = make(name, **kw).fit(data).synthetic_
    assert a.X.dtype == np.float32 and np.isfinite(a.X).all() and np.isfinite(a.provenance["final_loss"])
    assert not np.array_equal(a.X, b.X)
    assert abs(a.provenance["final_loss"] - b.provenance["final_loss"]) <= 0.1 * abs(b.provenance["final_loss"])


def test_fp16_needs_cuda_and_unknown_precision():
    with pytest.raises(ConfigError, match="fp16' needs CUDA.*use bf16 or fp32"):
        make("fairdd-dm", **TINY, precision="fp16", device="cpu").fit(images())
    with pytest.raises(ConfigError, match="precision"):
        make("dm", precision="fp8")
