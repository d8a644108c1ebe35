"""DM (distribution matching, Zhao & Bilen) and FairDD on DM.

Per iteration a fresh random ConvNet psi (frozen) embeds, for each class c, a real batch B_c and the synthetic
images S_c under one Siamese DSA draw;
DM minimises      ``sum_c ||mean psi(B_c) - mean psi(S_c)||^2``,
FairDD-DM         ``sum_c sum_{a in A(B_c)} ||mean psi(B_c^a) - mean psi(S_c)||^2``
(groups absent from the batch skipped; ``group_reduction="mean"`` divides by |A(B_c)|). The real batch goes
through the network once; the group means come from one ``index_add_``. Tabular data use a random MLP embedder.
"""
from __future__ import annotations

import torch

from ..base import Param
from .base import Context, Distiller, shared_params
from .matching import embedding_loss


class DM(Distiller):
    name = "dm"
    summary = "distribution matching: synthetic class means equal real ones under random ConvNet embeddings"
    modalities = ("image", "tabular")
    params: tuple[Param, ...] = shared_params(iterations=20000, dsa_default=True, checkpoint_every=1000)
    #: METHODS.md §1: DM sets are scored by ConvNets trained 1000 epochs with DSA, 5 repeats
    evaluation = {"model": "convnet", "repeats": 5, "options": {"epochs": 1000, "dsa": True}}

    def default_lr_img(self) -> float:
        """Reference: 1 for IPC <= 50, 10 above."""
        return 1.0 if self.ipc <= 50 else 10.0

    def _iteration(self, ctx: Context, syn, labels, opt, gen: torch.Generator, net) -> float:
        net.requires_grad_(False)
        loss = syn.new_zeros(())
        for k, c in enumerate(ctx.classes):
            xr, gr = ctx.batch(c, self.batch_real, gen)
            xr, xs = self.augment(ctx, xr, syn[k * self.ipc:(k + 1) * self.ipc], gen)
            with torch.no_grad():
                fr = net.embed(xr)
            fs = net.embed(xs)
            loss = loss + embedding_loss(fr, fs, gr if self.fair else None, ctx.n_groups, self.group_reduction)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach()) / len(ctx.classes)


class FairDDDM(DM):
    name = "fairdd-dm"
    summary = "FairDD on DM: match the synthetic class mean to every protected group's mean with equal weight"
    fair = True
