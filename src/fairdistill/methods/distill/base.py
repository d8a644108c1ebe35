"""What DM, DC and their FairDD versions share: parameters, checks, initialisation, the resumable outer loop.

Randomness: iteration ``t`` draws its network initialisation, real batches and DSA seeds from generators seeded by
``SeedSequence([seed, t])`` (words 0 and 1); with ``groups="cluster"`` the k-means seeding of FairDD's pseudo-groups
uses a third generator (word 2), so the batches, networks and DSA draws are those of ``groups="joint"``. The only state
carried from one iteration to the next is the synthetic images and the momentum of their optimiser, and both are
checkpointed, so a resumed run equals an uninterrupted one exactly.

Precision: ``precision="bf16"``/``"fp16"`` runs the matching network's forward and backward passes under
``torch.autocast`` on the run's device; the synthetic images, the optimiser and the matching losses stay float32
(embeddings and gradients are cast to float32 before the loss), so no gradient scaler is needed. DC's network training
between matching rounds stays float32. The default stays fp32 because reduced precision may change the result; bf16
is tested on CPU (loss within 1% of fp32 on a batch); the fp16 path and the speed-up on CUDA are not measured (the
project was developed without a GPU).
"""
from __future__ import annotations

import contextlib
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ...dataset import UNASSIGNED, FairDataset, SyntheticSet
from ...errors import ConfigError, DataError
from ...nn.archs import MLP
from ...nn.augment import DEFAULT_STRATEGY, dsa, parse_strategy
from ...nn.convnet import ConvNet
from ...progress import Progress, log
from ...torchutil import resolve_device, to_tensor
from ..base import Method
from ...params import Param, positive
from .clustering import kmeans
from .matching import REDUCTIONS
from .samplers import SAMPLERS, ClassSampler, initial_rows

MAX_ABS_PIXEL = 50.0  # normalised images never get near this; raw 0..255 pixels do
PRELOAD_BYTES = 4 * 2**30  # real images up to this size are copied to the accelerator once
CLUSTER = "cluster"  # the ``groups`` value that replaces the protected attributes by k-means pseudo-groups
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _check_strategy(v: str) -> str | None:
    try:
        parse_strategy(v)
    except Exception as err:  # noqa: BLE001 - turned into the parameter's message
        return f"is not a DSA strategy ({err})"
    return None


def shared_params(*, iterations: int, dsa_default: bool, checkpoint_every: int) -> tuple[Param, ...]:
    return (
        Param("ipc", int, 10, "synthetic images (rows) per class", check=positive),
        Param("iterations", int, iterations, f"outer iterations (default: the paper's {iterations}, a GPU budget; on a "
              f"CPU try the README's reduced protocol, e.g. 400 DM iterations at --net-width 32)", check=positive),
        Param("batch_real", int, 256, "real images drawn per class and iteration", check=positive),
        Param("lr_img", float, None, "learning rate of the synthetic images (SGD, momentum 0.5); default: the "
              "paper's value for the method and IPC", check=positive),
        Param("init", str, "real", "initial synthetic images: real (random real images of the class) or noise "
              "(N(0,1) pixels)", choices=("real", "noise")),
        Param("init_balanced", bool, False, "with init=real, pick the initial images evenly across the class's "
              "protected groups instead of at random"),
        Param("dsa", bool, dsa_default, "differentiable Siamese augmentation of real and synthetic batches "
              "(images only)"),
        Param("dsa_strategy", str, DEFAULT_STRATEGY, "DSA families, '_'-joined; one is drawn per class and "
              "iteration", check=_check_strategy),
        Param("groups", str, "joint", "protected groups: joint (every sensitive axis, intersectional), "
              "single:<axis>, or cluster (FairDD only: the sensitive attributes are never read; each real batch is "
              "split into n_clusters k-means pseudo-groups of its embeddings; needs sampler=uniform and "
              "init_balanced off)"),
        Param("n_clusters", int, None, "with groups=cluster: pseudo-groups per real batch; default: the number of "
              "joint protected groups in the data when there are several (only that count is read), else 2",
              check=positive),
        Param("group_reduction", str, "sum", "FairDD: sum the per-group losses (paper) or average them (mean)",
              choices=REDUCTIONS),
        Param("sampler", str, "uniform", "real batches: uniform within the class (reference) or stratified "
              "(ceil(batch_real/groups) per group present)", choices=SAMPLERS),
        Param("net_width", int, 128, "channels of the ConvNet (hidden units of the MLP for tabular data)",
              check=positive),
        Param("net_depth", int, 3, "blocks of the ConvNet (hidden layers of the MLP for tabular data)",
              check=positive),
        Param("precision", str, "fp32", "matching network passes: fp32 (default: bf16/fp16 may change the result), "
              "bf16 (CPU or CUDA) or fp16 (CUDA only) under torch.autocast; synthetic images and matching losses "
              "stay float32", choices=tuple(PRECISIONS)),
        Param("checkpoint_every", int, checkpoint_every, "iterations between checkpoints (when fit has a "
              "checkpoint folder)", check=positive),
    )


@dataclass
class Context:
    """The real data of one fit, ready for batches: images on the device when they fit, group ids, the sampler.

    With ``n_clusters`` set (``groups="cluster"``) ``gid`` is all zeros and ``batch_groups`` replaces a batch's group
    ids by k-means pseudo-groups drawn with ``cluster_gen`` (one generator per iteration: ``for_iteration``).
    """

    X: torch.Tensor
    gid: torch.Tensor
    classes: list[int]
    sampler: ClassSampler
    n_groups: int
    device: torch.device
    image: bool
    make_net: Any
    n_clusters: int | None = None
    cluster_gen: torch.Generator | None = None

    def batch(self, c: int, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.sampler.draw(c, n, gen).to(self.X.device)
        return self.X[idx].to(self.device, non_blocking=True), self.gid[idx].to(self.device)

    def for_iteration(self, cluster_seed: int) -> "Context":
        """This context with the iteration's k-means generator (itself when not clustering)."""
        if self.n_clusters is None:
            return self
        return replace(self, cluster_gen=torch.Generator().manual_seed(int(cluster_seed)))

    def batch_groups(self, feats: torch.Tensor, gid: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(group ids, number of ids) of a real batch: its protected groups, or k-means clusters of ``feats``."""
        if self.n_clusters is None:
            return gid, self.n_groups
        return kmeans(feats.detach().float(), self.n_clusters, self.cluster_gen), self.n_clusters


class Distiller(Method, metaclass=ABCMeta):
    """Base of DM / DC / FairDD: subclasses set ``fair`` and implement ``_iteration`` and ``default_lr_img``."""

    fair: ClassVar[bool] = False
    modalities: ClassVar[tuple[str, ...]] = ("image",)

    def sensitive_axes(self, data) -> list[int]:
        """``groups="cluster"`` never reads s (pseudo-groups from k-means); otherwise as every method."""
        return [] if self.groups == "cluster" else super().sensitive_axes(data)

    @abstractmethod
    def default_lr_img(self) -> float:
        """The paper's image learning rate for this method and IPC."""

    @abstractmethod
    def _iteration(self, ctx: Context, syn: torch.Tensor, labels: torch.Tensor, opt, gen: torch.Generator,
                   net: nn.Module) -> float:
        """One outer iteration with the fresh network ``net``: update ``syn`` through ``opt``; return the loss."""

    # ------------------------------------------------------------------ helpers
    def autocast(self, device: torch.device):
        """The context of the matching network passes: ``torch.autocast`` at ``precision``, or nothing for fp32."""
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=dtype)

    def _check_precision(self, dev: torch.device) -> None:
        if self.precision == "fp16" and dev.type != "cuda":
            raise ConfigError(f"{self.name}: precision='fp16' needs CUDA (device is {dev.type}); use bf16 or fp32")
        if self.precision == "bf16":
            if dev.type not in ("cpu", "cuda"):
                raise ConfigError(f"{self.name}: precision='bf16' runs on cpu or cuda, not {dev.type}; use fp32")
            if dev.type == "cuda" and not torch.cuda.is_bf16_supported():
                raise ConfigError(f"{self.name}: this GPU has no bfloat16 support; use precision=fp16 or fp32")

    def _check_params(self, params) -> None:
        """groups=cluster's rules: it is FairDD's, and no option may need the real groups it does not read."""
        if params["groups"] != CLUSTER:
            if params["n_clusters"] is not None:
                raise ConfigError(f"{self.name}: n_clusters={params['n_clusters']} applies only to groups=cluster; "
                                  f"drop it or set groups=cluster")
            return
        if not self.fair:
            raise ConfigError(f"{self.name}: groups=cluster makes pseudo-groups for FairDD's loss; use "
                              f"fairdd-{self.name} or groups=joint")
        if params["sampler"] != "uniform":
            raise ConfigError(f"{self.name}: sampler={params['sampler']!r} needs the protected groups, which "
                              f"groups=cluster does not read; use sampler=uniform")
        if params["init_balanced"]:
            raise ConfigError(f"{self.name}: init_balanced needs the protected groups, which groups=cluster does "
                              f"not read; turn init_balanced off")

    def _cluster_count(self, data: FairDataset) -> int | None:
        """k of ``groups="cluster"`` (None otherwise): n_clusters, else the number of groups present (at least 2)."""
        if self.groups != CLUSTER:
            return None
        if self.n_clusters is not None:
            return int(self.n_clusters)
        present = len(data.groups("joint")[1])
        return present if present > 1 else 2

    def _net_factory(self, data: FairDataset):
        shape = data.X.shape[1:]

        def make(seed: int) -> nn.Module:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                if data.modality == "image":
                    net = ConvNet(in_channels=shape[0], n_classes=data.n_classes, image_size=tuple(shape[1:]),
                                  width=self.net_width, depth=self.net_depth)
                else:
                    net = MLP(in_channels=shape[0], n_classes=data.n_classes, image_size=(1, 1),
                              hidden=(self.net_width,) * self.net_depth)
            return net.to(resolve_device(self.device))
        return make

    def augment(self, ctx: Context, xr: torch.Tensor, xs: torch.Tensor, gen: torch.Generator):
        """Siamese DSA: both batches from two generators with the same fresh seed (drawn from ``gen``)."""
        if not (self.dsa and ctx.image):
            return xr, xs
        s = int(torch.randint(2**62, (1,), generator=gen))
        return (dsa(xr, torch.Generator().manual_seed(s), self.dsa_strategy),
                dsa(xs, torch.Generator().manual_seed(s), self.dsa_strategy))

    def _check_data(self, data: FairDataset) -> np.ndarray:
        X = data.X
        want = 4 if data.modality == "image" else 2
        if X.ndim != want:
            raise DataError(f"{self.name}: X has shape {X.shape}; {data.modality} data must be {want}-D")
        if not np.isfinite(X).all():
            raise DataError(f"{self.name}: X has NaN or infinite values; clean the images first")
        big = float(np.abs(X).max()) if X.size else 0.0
        if big > MAX_ABS_PIXEL:
            raise DataError(f"{self.name}: |X| reaches {big:.4g}; images must be normalised (e.g. /255 then "
                            f"(x - mean) / std), not raw pixels")
        return X

    # ---------------------------------------------------------------------- fit
    def _fit(self, data: FairDataset) -> SyntheticSet:
        dev = resolve_device(self.device)
        self._check_precision(dev)
        X = self._check_data(data)
        n_clusters = self._cluster_count(data)
        if n_clusters is None:
            gid, tuples = data.groups(self.groups)
        else:  # the sensitive attributes are not read: one placeholder group, pseudo-groups per batch
            gid, tuples = np.zeros(len(data), dtype=np.int64), []
        K = int(data.n_classes)
        classes, empty = self._class_plan(data.y, K, n_clusters)
        syn0, init_group = self._initial_set(X, data.y, gid, classes, n_clusters is not None)
        labels_np = np.repeat(np.asarray(classes, dtype=np.int64), self.ipc)

        Xt = to_tensor(np.ascontiguousarray(X), "cpu")  # FairDataset.X is float32: shared, not copied
        gt = torch.from_numpy(gid)
        if dev.type != "cpu" and X.nbytes <= PRELOAD_BYTES:
            Xt, gt = Xt.to(dev), gt.to(dev)
        ctx = Context(X=Xt, gid=gt, classes=classes, sampler=ClassSampler(data.y, gid, K, self.sampler),
                      n_groups=max(len(tuples), 1), device=dev, image=data.modality == "image",
                      make_net=self._net_factory(data), n_clusters=n_clusters)
        syn = torch.tensor(syn0, device=dev, requires_grad=True)
        labels = torch.from_numpy(labels_np).to(dev)
        lr_img = self.lr_img if self.lr_img is not None else self.default_lr_img()
        loss = self._optimise(ctx, syn, labels, lr_img, data)

        k = data.s.shape[1]
        return SyntheticSet.from_dataset(
            data, X=syn.detach().cpu().numpy().astype(np.float32), y=labels_np,
            s=np.full((len(labels_np), k), UNASSIGNED, dtype=np.int64), name=f"{data.name}-{self.name}",
            provenance={"init_group": init_group.tolist(), "group_tuples": [list(t) for t in tuples],
                        "groups": self.groups, "n_clusters": n_clusters, "lr_img": lr_img, "skipped_classes": empty,
                        "final_loss": loss, **self._extra_provenance()})

    def _class_plan(self, y: np.ndarray, K: int, n_clusters: int | None) -> tuple[list[int], list[int]]:
        """The classes to distil and those skipped (no rows; an error with ``init="real"``), after every check of
        class sizes against ``ipc``, ``batch_real`` and ``n_clusters``."""
        sizes = np.bincount(y, minlength=K)
        empty = [c for c in range(K) if sizes[c] == 0]
        if len(empty) == K:
            raise DataError(f"{self.name}: no class has any rows; give a non-empty dataset")
        if n_clusters is not None:
            per_batch = min(self.batch_real, int(sizes[sizes > 0].min()))
            if n_clusters > per_batch:
                raise ConfigError(f"{self.name}: n_clusters={n_clusters} exceeds the {per_batch} real images of a "
                                  f"batch (batch_real={self.batch_real}, smallest class {int(sizes[sizes > 0].min())}"
                                  f"); use n_clusters <= {per_batch}")
        if self.init == "real":
            if empty:
                raise DataError(f"{self.name}: class(es) {empty} have no rows of any group, so init=real cannot "
                                f"draw images for them; drop the classes (set n_classes) or use init=noise")
            small = {c: int(sizes[c]) for c in range(K) if sizes[c] < self.ipc}
            if small:
                raise DataError(f"{self.name}: ipc={self.ipc} exceeds the size of class(es) {small}; use ipc <= "
                                f"{min(small.values())} or init=noise")
        elif empty:
            log(f"[{self.name}] class(es) {empty} have no real rows: skipped, no synthetic images for them")
        return [c for c in range(K) if sizes[c] > 0], empty

    def _initial_set(self, X: np.ndarray, y: np.ndarray, gid: np.ndarray, classes: list[int],
                     pseudo_groups: bool) -> tuple[np.ndarray, np.ndarray]:
        """``ipc`` starting images per class (real rows drawn per ``init_balanced``, or N(0, 1) noise) and the group
        each real one came from (``UNASSIGNED`` for noise or pseudo-groups)."""
        rng = self.rng()
        if self.init == "real":
            rows = np.concatenate([initial_rows(y, gid, c, self.ipc, rng, self.init_balanced) for c in classes])
            return X[rows].copy(), (np.full(len(rows), UNASSIGNED) if pseudo_groups else gid[rows])
        syn0 = rng.standard_normal((len(classes) * self.ipc, *X.shape[1:])).astype(np.float32)
        return syn0, np.full(len(syn0), UNASSIGNED)

    def _optimise(self, ctx: Context, syn: torch.Tensor, labels: torch.Tensor, lr_img: float,
                  data: FairDataset) -> float:
        """SGD (momentum 0.5) on the synthetic images for ``iterations`` steps, each with its own network and
        augmentation seeds from SeedSequence([seed, it]); checkpoints (images + momentum) and resume. Returns the
        last loss."""
        opt = torch.optim.SGD([syn], lr=lr_img, momentum=0.5)
        ck = self.checkpointer(self.checkpoint_every, data)
        start = 0
        state = ck.load()
        if state is not None:
            start = int(state["step"])
            with torch.no_grad():
                syn.copy_(state["syn"].to(syn.device))
            if state["momentum"].numel():
                opt.state[syn]["momentum_buffer"] = state["momentum"].to(syn.device)
            log(f"[{self.name}] resumed at iteration {start}")
        prog = Progress(range(start, self.iterations), desc=self.name, total=self.iterations, start=start)
        loss = float("nan")
        for it in prog:
            net_seed, gen_seed, cluster_seed = np.random.SeedSequence([self.seed, it]).generate_state(3)
            gen = torch.Generator().manual_seed(int(gen_seed))
            loss = self._iteration(ctx.for_iteration(cluster_seed), syn, labels, opt, gen,
                                   ctx.make_net(int(net_seed)))
            prog.set(loss=loss)
            if ck.due(it + 1):
                buf = opt.state[syn].get("momentum_buffer")
                ck.save(it + 1, {"syn": syn.detach().cpu(),
                                 "momentum": torch.zeros(0) if buf is None else buf.detach().cpu()})
        return loss

    def _extra_provenance(self) -> dict[str, Any]:
        return {}


def preview_uint8(synthetic: FairDataset) -> np.ndarray:
    """Images as N x H x W x C uint8: ``report.to_display`` (the dataset's normalisation undone) scaled to 0..255."""
    from ...report import to_display
    return np.rint(to_display(synthetic.X, synthetic.meta) * 255.0).astype(np.uint8)
