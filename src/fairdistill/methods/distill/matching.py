"""Matching losses of DM, DC and FairDD, vectorised over protected groups.

Notation: a real batch B of one class with group ids ``g_i``; P = groups present in B; ``mu_a`` the mean of
``phi`` over the rows of group a; ``s`` the synthetic statistic (mean embedding, or gradient) of the class.

- DM:            ``||mean_B phi - s||^2``
- FairDD on DM:  ``sum_{a in P} ||mu_a - s||^2``   (``group_reduction="mean"`` divides by |P|)
- DC:            ``D(grad CE(B), grad CE(S))`` with D the layer-wise distance below
- FairDD on DC:  ``sum_{a in P} D(grad mean_{i in a} CE_i, grad CE(S))``

Groups absent from a batch are never averaged (no 0/0): they are simply not in P.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, check_choice

MATCHES = ("ours", "mse", "cos")
REDUCTIONS = ("sum", "mean")


def present_groups(gid: torch.Tensor, n_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(local, counts)``: each row's index among the groups present (0..|P|-1) and the |P| group sizes."""
    counts = torch.bincount(gid, minlength=n_groups)
    present = counts > 0
    remap = torch.cumsum(present.long(), 0) - 1
    return remap[gid], counts[present]


def group_means(feats: torch.Tensor, gid: torch.Tensor, n_groups: int) -> torch.Tensor:
    """|P| x D means of ``feats`` (N x D) over the groups present in ``gid``, by one ``index_add_``."""
    local, counts = present_groups(gid, n_groups)
    sums = torch.zeros(len(counts), feats.shape[1], dtype=feats.dtype, device=feats.device)
    sums.index_add_(0, local, feats)
    return sums / counts.to(feats.dtype)[:, None]


def reduce_groups(per_group: torch.Tensor, reduction: str) -> torch.Tensor:
    check_choice(reduction, "group_reduction", REDUCTIONS)
    return per_group.sum() if reduction == "sum" else per_group.mean()


def embedding_loss(real: torch.Tensor, syn: torch.Tensor, gid: torch.Tensor | None = None, n_groups: int = 0,
                   reduction: str = "sum") -> torch.Tensor:
    """DM loss ``||mean(real) - mean(syn)||^2`` or, given group ids, the FairDD loss over the groups present."""
    target = real.mean(0, keepdim=True) if gid is None else group_means(real, gid, n_groups)
    per_group = (target - syn.mean(0, keepdim=True)).pow(2).sum(1)
    return reduce_groups(per_group, reduction)


# ------------------------------------------------------------------------------------------ gradient distance
def gradient_distance(real: Sequence[torch.Tensor], syn: Sequence[torch.Tensor], match: str = "ours",
                      grouped: bool = False) -> torch.Tensor:
    """Distance between real and synthetic gradients, one tensor per parameter.

    ``ours`` [DC]: for each tensor with more than one dimension, reshaped to (rows = out channels, -1),
    ``sum_rows 1 - <r, s> / (|r| |s| + 1e-6)``; 1-D tensors (biases, norm affine) contribute 0.
    ``mse``: ``sum ||r - s||^2`` over all tensors. ``cos``: ``1 - <r, s> / (|r| |s| + 1e-6)`` of the concatenation
    of all flattened tensors. With ``grouped=True`` each real tensor has a leading group axis and the result is the
    vector of per-group distances.
    """
    check_choice(match, "match", MATCHES)
    lead = 1 if grouped else 0
    real = [r if grouped else r.unsqueeze(0) for r in real]
    n = real[0].shape[0]
    if match == "ours":
        out = torch.zeros(n, device=real[0].device, dtype=real[0].dtype)
        for r, s in zip(real, syn):
            if s.ndim == 1:
                continue
            r2 = r.reshape(n, s.shape[0], -1)
            s2 = s.reshape(1, s.shape[0], -1)
            cos = (r2 * s2).sum(-1) / (r2.norm(dim=-1) * s2.norm(dim=-1) + 1e-6)
            out = out + (1 - cos).sum(-1)
    elif match == "mse":
        out = sum((r - s.unsqueeze(0)).pow(2).reshape(n, -1).sum(1) for r, s in zip(real, syn))
    else:
        rv = torch.cat([r.reshape(n, -1) for r in real], 1)
        sv = torch.cat([s.reshape(1, -1) for s in syn], 1)
        out = 1 - (rv * sv).sum(1) / (rv.norm(dim=1) * sv.norm(dim=1) + 1e-6)
    return out if lead else out[0]


# ------------------------------------------------------------------------------------ per-group real gradients
_PARAM_MODULES = (nn.Conv2d, nn.Linear, nn.GroupNorm)


def hooks_supported(net: nn.Module) -> bool:
    """True when every parameter lives in a Conv2d / Linear / GroupNorm and no layer couples samples or works in
    place (BatchNorm, in-place ReLU): then per-sample backward signals give exact per-group gradients."""
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return False
        if getattr(m, "inplace", False):
            return False
        own = list(m.parameters(recurse=False))
        if own and not isinstance(m, _PARAM_MODULES):
            return False
        if isinstance(m, nn.Conv2d) and (m.padding_mode != "zeros" or isinstance(m.padding, str)):
            return False
    return True


def group_gradients(net: nn.Module, x: torch.Tensor, y: torch.Tensor, gid: torch.Tensor, n_groups: int,
                    how: str = "auto") -> list[torch.Tensor]:
    """Gradients of ``mean_{i in a} CE(net(x_i), y_i)`` for every group a present, from ONE forward pass.

    Returns one tensor per parameter of ``net`` (in ``net.parameters()`` order) with a leading axis over the
    groups present (sorted by id), detached.

    ``how="hooks"``: one forward and one backward of ``sum_a mean_{i in a} CE_i`` with respect to each layer's
    output gives per-sample signals ``delta_i``; since no layer couples samples, group a's gradient is the sum over
    its rows of the per-sample gradient (``x_i delta_i^T`` for Linear, the correlation of ``x_i`` and ``delta_i`` for
    Conv2d, ``sum_hw delta_i * xhat_i`` / ``sum_hw delta_i`` for GroupNorm), accumulated per group: the cost is
    about one vanilla backward whatever the number of groups.
    ``how="loop"``: one ``autograd.grad`` per group on the shared graph (``retain_graph``): cost grows with |P|.
    ``how="auto"``: hooks when ``hooks_supported(net)``, else loop.
    """
    check_choice(how, "how", ("auto", "hooks", "loop"))
    if how == "auto":
        how = "hooks" if hooks_supported(net) else "loop"
    local, counts = present_groups(gid, n_groups)
    params = list(net.parameters())
    if how == "loop":
        out = net(x)
        ce = F.cross_entropy(out, y, reduction="none")
        per = []
        for p in range(len(counts)):
            mask = (local == p).to(ce.dtype)
            loss = (ce * mask).sum() / counts[p].to(ce.dtype)
            per.append(torch.autograd.grad(loss, params, retain_graph=p + 1 < len(counts)))
        return [torch.stack([g[k] for g in per]).detach() for k in range(len(params))]
    if not hooks_supported(net):
        raise ConfigError("how='hooks' needs a network without BatchNorm or in-place layers; use how='loop'")

    records: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = []

    def hook(module, inputs, output):
        records.append((module, inputs[0].detach(), output))

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, _PARAM_MODULES) and list(m.parameters(recurse=False))]
    try:
        out = net(x)
    finally:
        for h in handles:
            h.remove()
    ce = F.cross_entropy(out, y, reduction="none")
    total = (ce / counts.to(ce.dtype)[local]).sum()
    deltas = torch.autograd.grad(total, [r[2] for r in records])
    with torch.autocast(x.device.type, enabled=False):  # per-group sums in float32 even under mixed precision
        return _assemble(params, records, deltas, local, counts)


def _assemble(params, records, deltas, local: torch.Tensor, counts: torch.Tensor) -> list[torch.Tensor]:
    """Per-group parameter gradients from each hooked layer's input and output signal (see ``group_gradients``)."""
    n_p = len(counts)
    order = torch.argsort(local, stable=True)
    bounds = [0] + torch.cumsum(counts, 0).tolist()
    grads: dict[int, torch.Tensor] = {}

    def per_group_sum(v: torch.Tensor) -> torch.Tensor:  # N x ... -> P x ...
        acc = torch.zeros((n_p, *v.shape[1:]), dtype=v.dtype, device=v.device)
        return acc.index_add_(0, local, v)

    for (m, inp, _), d in zip(records, deltas):
        d, inp = d.detach().float(), inp.float()
        if isinstance(m, nn.Linear):
            onehot = F.one_hot(local, n_p).to(d.dtype)
            grads[id(m.weight)] = torch.einsum("np,nk,nd->pkd", onehot, d, inp)
            if m.bias is not None:
                grads[id(m.bias)] = per_group_sum(d)
        elif isinstance(m, nn.Conv2d):
            xs, ds = inp[order], d[order]
            grads[id(m.weight)] = torch.stack([
                torch.nn.grad.conv2d_weight(xs[bounds[p]:bounds[p + 1]], m.weight.shape, ds[bounds[p]:bounds[p + 1]],
                                            m.stride, m.padding, m.dilation, m.groups) for p in range(n_p)])
            if m.bias is not None:
                grads[id(m.bias)] = per_group_sum(d.sum((2, 3)))
        else:  # GroupNorm
            xhat = F.group_norm(inp, m.num_groups, eps=m.eps)
            red = tuple(range(2, d.ndim))
            if m.weight is not None:
                grads[id(m.weight)] = per_group_sum((d * xhat).sum(red))
                grads[id(m.bias)] = per_group_sum(d.sum(red))
    return [grads[id(p)] if id(p) in grads else torch.zeros((n_p, *p.shape), device=p.device, dtype=p.dtype)
            for p in params]
