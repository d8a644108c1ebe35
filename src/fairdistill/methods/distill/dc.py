"""DC (gradient matching, Zhao, Mopuri & Bilen) and FairDD on DC.

Per iteration a fresh ConvNet theta is trained on the synthetic set for ``outer_loop`` rounds; in each round
DC minimises        ``sum_c D(grad CE(B_c; theta), grad CE(S_c; theta))``,
FairDD-DC           ``sum_c sum_{a in A(B_c)} D(grad mean_{i in B_c^a} CE_i, grad CE(S_c; theta))``
(D: layer-wise distance ``match``), then, except after the last round, theta takes ``inner_loop`` epochs of SGD on
the synthetic set. FairDD's per-group real gradients share one forward pass (``matching.group_gradients``).
With ``groups="cluster"`` the groups of B_c are k-means clusters of the current network's embeddings of B_c before
any DSA draw (the features before the linear head: one extra forward pass without a graph, about a third of the cost
of the real gradient).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...models.torch_train import TrainConfig, train_classifier
from ...params import Param, positive
from .base import Context, Distiller, shared_params
from .matching import MATCHES, gradient_distance, group_gradients, reduce_groups

# (outer_loop, inner_loop) by IPC [ref]; the FairDD code adds IPC > 50 -> (100, 10). [project] other IPCs take the
# row of the smallest tabulated IPC >= ipc.
LOOPS = ((1, 1, 1), (10, 10, 50), (20, 20, 25), (30, 30, 20), (40, 40, 15), (50, 50, 10))


def loops_for(ipc: int) -> tuple[int, int]:
    for cap, outer, inner in LOOPS:
        if ipc <= cap:
            return outer, inner
    return 100, 10


class DC(Distiller):
    """Gradient matching (Zhao, Mopuri & Bilen): a fresh ConvNet theta is trained on the synthetic set for
    ``outer_loop`` rounds; in each round the images minimise sum_c D(grad CE(B_c; theta), grad CE(S_c; theta))
    (D: layer-wise distance), then theta takes ``inner_loop`` epochs of SGD on the synthetic set."""

    name = "dc"
    summary = "gradient matching: synthetic images whose training gradients match those of real data"
    #: METHODS.md §1: DC sets are scored by ConvNets trained 300 epochs without augmentation, 5 repeats
    evaluation = {"model": "convnet", "repeats": 5, "options": {"epochs": 300}}
    params: tuple[Param, ...] = (
        *shared_params(iterations=1000, dsa_default=False, checkpoint_every=50),
        Param("lr_net", float, 0.01, "learning rate of the network trained on the synthetic set (SGD)",
              check=positive),
        Param("outer_loop", int, None, "matching rounds per iteration; default by IPC (1:1, 10:10, 20:20, 30:30, "
              "40:40, 50:50, more:100)", check=positive),
        Param("inner_loop", int, None, "epochs of network training between rounds; default by IPC (1:1, 10:50, "
              "20:25, 30:20, 40:15, 50:10, more:10)", check=positive),
        Param("batch_train", int, 256, "batch size of the network training on the synthetic set", check=positive),
        Param("match", str, "ours", "gradient distance: ours (layer-wise, row cosine), mse or cos",
              choices=MATCHES),
        Param("group_grad", str, "auto", "FairDD per-group gradients: hooks (one backward), loop (one backward per "
              "group) or auto (hooks unless the network couples samples)", choices=("auto", "hooks", "loop")),
    )

    def default_lr_img(self) -> float:
        """Reference: 0.1."""
        return 0.1

    def loops(self) -> tuple[int, int]:
        outer, inner = loops_for(self.ipc)
        return self.outer_loop or outer, self.inner_loop or inner

    def _extra_provenance(self):
        outer, inner = self.loops()
        return {"outer_loop": outer, "inner_loop": inner}

    def _real_gradients(self, ctx: Context, net, params, xr, yr, gr, x_clean=None):
        if self.fair:
            if ctx.n_clusters is None:
                gid, n_groups = gr, ctx.n_groups
            else:
                with torch.no_grad():
                    gid, n_groups = ctx.batch_groups(net.embed(xr if x_clean is None else x_clean), gr)
            return group_gradients(net, xr, yr, gid, n_groups, how=self.group_grad)
        loss = F.cross_entropy(net(xr), yr)
        return [g.detach() for g in torch.autograd.grad(loss, params)]

    def class_loss(self, ctx: Context, net, params, xr, yr, gr, xs, ys, x_clean=None) -> torch.Tensor:
        """The loss of one class: real batch ``xr`` (labels ``yr``, group ids ``gr``; ``x_clean`` before DSA) against
        synthetic images ``xs`` (labels ``ys``); network passes under ``precision``, gradients cast to float32 before
        the distance."""
        with self.autocast(ctx.device):
            real = self._real_gradients(ctx, net, params, xr, yr, gr, x_clean)
            fake = torch.autograd.grad(F.cross_entropy(net(xs), ys), params, create_graph=True)
        d = gradient_distance([g.float() for g in real], [g.float() for g in fake], self.match, grouped=self.fair)
        return reduce_groups(d, self.group_reduction) if self.fair else d

    def _iteration(self, ctx: Context, syn, labels, opt, gen: torch.Generator, net) -> float:
        outer, inner = self.loops()
        params = list(net.parameters())
        total = 0.0
        for ol in range(outer):
            loss = syn.new_zeros(())
            for k, c in enumerate(ctx.classes):
                x_clean, gr = ctx.batch(c, self.batch_real, gen)
                xr, xs = self.augment(ctx, x_clean, syn[k * self.ipc:(k + 1) * self.ipc], gen)
                yr = torch.full((len(xr),), c, dtype=torch.long, device=xr.device)
                ys = labels[k * self.ipc:(k + 1) * self.ipc]
                loss = loss + self.class_loss(ctx, net, params, xr, yr, gr, xs, ys, x_clean)
            opt.zero_grad(set_to_none=True)
            (syn.grad,) = torch.autograd.grad(loss, syn)
            opt.step()
            total += float(loss.detach())
            if ol + 1 < outer:
                self._train_net(ctx, net, syn.detach(), labels, inner, gen)
        return total / (outer * len(ctx.classes))

    def _train_net(self, ctx: Context, net, x, y, epochs: int, gen: torch.Generator) -> None:
        """``epochs`` passes of plain SGD (lr_net) on the detached synthetic set, shuffled, DSA per batch if enabled."""
        augment = (lambda xb, g: self.augment(ctx, xb, xb[:0], g)[0]) if self.dsa and ctx.image else None
        cfg = TrainConfig(epochs=epochs, batch_size=self.batch_train, optimizer="sgd", lr=self.lr_net, momentum=0.0,
                          progress=False)
        train_classifier(net, x, y, None, cfg, gen, augment=augment)


class FairDDDC(DC):
    """FairDD on DC: every protected group a present in the real class batch gets its own term,
    sum_c sum_a D(grad mean_{i in B_c^a} CE_i, grad CE(S_c; theta)); the per-group gradients share one forward
    pass."""

    name = "fairdd-dc"
    summary = "FairDD on DC: match the synthetic gradient to every protected group's gradient with equal weight"
    fair = True
