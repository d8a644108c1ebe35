"""DM (distribution matching, Zhao & Bilen) and FairDD on DM.

Per iteration a fresh random ConvNet psi (frozen) embeds, for each class c, a real batch B_c and the synthetic
images S_c under one Siamese DSA draw;
DM minimises      ``sum_c ||mean psi(B_c) - mean psi(S_c)||^2``,
FairDD-DM         ``sum_c sum_{a in A(B_c)} ||mean psi(B_c^a) - mean psi(S_c)||^2``
(groups absent from the batch skipped; ``group_reduction="mean"`` divides by |A(B_c)|). The real batch goes
through the network once; the group means come from one ``index_add_``. Tabular data use a random MLP embedder.
With ``groups="cluster"`` the groups a of B_c are k-means clusters of psi(B_c): by default (``cluster_on="matched"``)
the embeddings already computed for the loss, so no extra forward pass; DSA perturbs them, though (a colour or
geometric draw can blur the groups), and ``cluster_on="clean"`` clusters the embeddings of the un-augmented batch
instead, at the cost of one more no-grad forward of B_c per class when DSA is on.
"""
from __future__ import annotations

import torch

from ...params import Param
from .base import Context, Distiller, shared_params
from .matching import embedding_loss


class DM(Distiller):
    """Distribution matching (Zhao & Bilen): per iteration a fresh random ConvNet psi embeds a real batch B_c and
    the synthetic images S_c of every class under one shared DSA draw, and the images minimise
    sum_c ||mean psi(B_c) - mean psi(S_c)||^2."""

    name = "dm"
    summary = "distribution matching: synthetic class means equal real ones under random ConvNet embeddings"
    modalities = ("image", "tabular")
    params: tuple[Param, ...] = (
        *shared_params(iterations=20000, dsa_default=True, checkpoint_every=1000),
        Param("cluster_on", str, "matched", "with groups=cluster: k-means on the embeddings used by the loss "
              "(matched: augmented when DSA is on, no extra cost) or on those of the un-augmented real batch (clean: "
              "one more forward pass when DSA is on)", choices=("matched", "clean")),
    )
    #: METHODS.md §1: DM sets are scored by ConvNets trained 1000 epochs with DSA, 5 repeats
    evaluation = {"model": "convnet", "repeats": 5, "options": {"epochs": 1000, "dsa": True}}

    def default_lr_img(self) -> float:
        """Reference: 1 for IPC <= 50, 10 above."""
        return 1.0 if self.ipc <= 50 else 10.0

    def class_loss(self, ctx: Context, net, xr: torch.Tensor, gr: torch.Tensor, xs: torch.Tensor,
                   x_clean: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of one class: real batch ``xr`` (group ids ``gr``) against synthetic images ``xs`` (both already
        augmented); the embeddings under ``precision``, the loss in float32. ``x_clean``: the un-augmented real batch,
        embedded for the pseudo-groups when ``cluster_on="clean"`` and it differs from ``xr``."""
        with self.autocast(ctx.device):
            with torch.no_grad():
                fr = net.embed(xr)
                clean = self.cluster_on == "clean" and x_clean is not None and x_clean is not xr
                fc = net.embed(x_clean) if clean and ctx.n_clusters is not None else fr
            fs = net.embed(xs)
        fr, fs = fr.float(), fs.float()
        if not self.fair:
            return embedding_loss(fr, fs)
        gid, n_groups = ctx.batch_groups(fc, gr)
        return embedding_loss(fr, fs, gid, n_groups, self.group_reduction)

    def _iteration(self, ctx: Context, syn, labels, opt, gen: torch.Generator, net) -> float:
        net.requires_grad_(False)
        loss = syn.new_zeros(())
        for k, c in enumerate(ctx.classes):
            x_clean, gr = ctx.batch(c, self.batch_real, gen)
            xr, xs = self.augment(ctx, x_clean, syn[k * self.ipc:(k + 1) * self.ipc], gen)
            loss = loss + self.class_loss(ctx, net, xr, gr, xs, x_clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach()) / len(ctx.classes)


class FairDDDM(DM):
    """FairDD on DM: every protected group a present in the real class batch gets its own term,
    sum_c sum_a ||mean psi(B_c^a) - mean psi(S_c)||^2, so the synthetic class mean is pulled towards each group's
    mean with equal weight instead of towards the majority-dominated class mean."""

    name = "fairdd-dm"
    summary = "FairDD on DM: match the synthetic class mean to every protected group's mean with equal weight"
    fair = True
