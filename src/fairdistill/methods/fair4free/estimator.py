"""``Fair4Free``: fair VAE teacher + data-free student generator for tabular rows (METHODS.md §7).

fit(data):
1. teacher: conditional VAE on (x, onehot(group)) with loss RE + w_KL * KL + beta * P(z, s), beta = 10^lg_beta
   (``teacher.py``, ``penalty.py``); the group is the joint tuple of every sensitive axis (several axes work).
2. y model: ``y_mode="decoder"`` (default) — y is one more categorical block of the row, decoded with s;
   ``"head"`` — the teacher reads y and decodes it from z alone (a head z -> y trained jointly); ``"latent"`` (paper
   preset) — a small MLP z -> p(y | z) trained afterwards on teacher posterior samples of the real rows.
3. student: noise -> z' trained with Dist(z, z') + kl_weight * KL, never seeing x (``student.py``).
sample(n): z' = student(noise); s per the fitted ``s_mode_`` (``s_mode="auto"``, the default, picks it after the
fit: ``selection.py``); x = decoder(z', onehot(s)) decoded per block (``decode``);
y ~ p(y | z') (``head`` / ``latent``: y depends on s only through z', which the teacher made independent of s) or
y = the decoder's extra y block (``y_mode="decoder"``; may carry s -> y dependence back). ``y_parity="data"`` /
``"balanced"`` then shifts each group's label logits by one per-group offset (``parity.py``) so that every group's
mean p(y) equals the training label frequencies / equal shares: demographic parity of the synthetic labels by
construction (before ``label_shift``), whatever the y model; ``s_mode="posterior"`` draws s ~ q(s | z') instead of
independently of z', and ``"posterior-balanced"`` draws s in equal shares and z' ~ p(z | s) (student latents resampled
with weights q(s | z')).
``label_shift="auto"`` (default) finally moves the class-1 label logit of group g's rows by t * d_g, d_g = logit(r) -
logit(r_g) for a selection forest's positive rates r_g on the real training rows, t chosen there (``selection.py``):
labels fair on generated rows can still train a model that favours a group on real rows.

Why real-test fairness lags the own-split one, and why labels are decoded with s and repaired per group: README
"Fair4Free" (measured there, with the numbers behind each choice; ``benchmarks/fair4free-paper.md``). In short, the
dcor-penalised latent still carries s non-linearly, so decoding it with an independently drawn s shifts synthetic
groups away from real ones, and at a low positive rate equal error rates cap DPR by the base rates; balanced
per-group labels move the downstream model to an operating point where DPR and EOR can both be high.

Defaults vs the paper (``preset="paper"``: ELBO teacher (w_KL = 1) with FairDisCo's V^2 at lg_beta 7 on the whole
batch for 1000 epochs, y from a latent classifier, argmax decoding, student 5000 epochs at lr 1e-5 with the L1 loss).
The default preset [project, chosen by measurement on Adult and COMPAS, benchmarks/fair4free-paper.md]:
- teacher w_KL = 0.1: with w_KL = 1 the posterior collapses and generated rows barely depend on z;
- penalty ``dcor`` at lg_beta 1.5 (squared distance correlation of the posterior means and onehot(s)): V^2 stops
  working once the posteriors are narrow (its Gaussian kernels no longer overlap); dcor is scale-free;
- ``y_mode="decoder"`` with ``y_parity="balanced"`` (above), and ``decode="sample"`` (argmax makes every row the
  per-block mode);
- ``s_mode="auto"``: no fixed way of drawing s is best on every case (``benchmarks/fair4free-smode.md``);
- ``label_shift="auto"``: on Adult the unshifted rows leave real-test DPR at 0.81-0.88 (same file);
- about 1000 teacher steps (Adult: 67 epochs of 15 batches of 2048; COMPAS: 334 epochs), the penalty on 512 random
  rows of each batch, the student with the order-free MMD loss at lr 1e-3 for about 1000 steps of 512 rows, so that
  Adult (29k rows) fits in a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from ...dataset import UNASSIGNED, FairDataset, SyntheticSet, select_axes
from ...errors import ConfigError, DataError, check_choice
from ...models import require as require_model
from ...progress import Progress, log
from ...torchutil import resolve_device, to_tensor, torch_seed
from ..base import GROUPS, Method
from ...params import Param, SEED, non_negative, positive
from .parity import parity_offsets
from .penalty import PENALTIES
from .selection import (BACC_SLACK, SELECTION_MODELS, SHIFT_STEPS, SHIFT_STOP, select_label_shift,
                        select_s_mode)
from .student import LOSSES, Student, student_epoch
from .teacher import (CATEGORICAL, Block, TabularVAE, encode_all, fit_latent_classifier, layout_from_encoder,
                      numeric_layout, numeric_residual_sd, teacher_epoch)

# value of each preset-dependent parameter left at None: (default preset, paper preset)
# (None = about DEFAULT_STEPS optimizer steps: ceil(DEFAULT_STEPS / batches per epoch) epochs)
DEFAULT_STEPS = 1000
#: bumped whenever a change alters what a fit makes from the same seed (2: dcor2's distances computed directly);
#: benchmark run logs are keyed on it, so runs of two revisions never mix
FIT_REVISION = 2
PRESETS = {
    "teacher_epochs": (None, 1000),
    "student_epochs": (None, 5000),
    "lr_student": (1e-3, 1e-5),
    "student_loss": ("mmd", "paper"),
    "student_batch_size": (512, 2048),
    "penalty_rows": (512, 0),
    "kl_weight": (1e-3, 1.0),
    "teacher_kl_weight": (0.1, 1.0),
    "y_mode": ("decoder", "latent"),
    "y_parity": ("balanced", "none"),
    "decode": ("sample", "argmax"),
    "penalty": ("dcor", "analytic"),
    "s_mode": ("auto", "sample"),
    "label_shift": ("auto", "none"),
}
# what a default 'auto' becomes on labels with more than two classes (auto scores binary fairness ratios)
NOT_BINARY = {"s_mode": "sample", "label_shift": "none"}
LG_BETA_DCOR = 1.5  # default log10 weight of the dcor penalty (COMPAS/Adult sweep, benchmarks/fair4free-paper.md)
S_MODES = ("sample", "fixed", "counterfactual", "balanced", "posterior", "posterior-balanced", "auto")
POSTERIOR_MODES = ("posterior", "posterior-balanced", "auto")  # the modes that need q(s | z) (auto tries them)
POOL = 4  # posterior-balanced: student latents drawn per generated row, resampled per group
PARITY_REFERENCE = 20_000  # generated rows that fix the y_parity offsets of a fitted generator (per source)
Y_PARITY = ("none", "data", "balanced")


def _needs_binary(key: str, n_classes: int, name: str) -> None:
    """Refuse ``key='auto'`` on labels of other than two classes (its choice scores DPR and EOR)."""
    if int(n_classes) != 2:
        raise ConfigError(f"{key}='auto' scores demographic parity and equalized odds, which need binary labels; "
                          f"{name} has {int(n_classes)} classes — choose e.g. {key}='{NOT_BINARY[key]}'")


def _opt_positive(v):
    return None if v is None or v > 0 else "must be > 0 (or left unset for its default)"


def _opt_non_negative(v):
    return None if v is None or v >= 0 else "must be >= 0 (or left unset for its default)"


class Fair4Free(Method):
    """Fair synthetic rows: FairDisCo VAE teacher, noise-fed student, teacher decoder."""

    name = "fair4free"
    evaluation = {"model": "rf", "repeats": 5}  # the paper: random forest on synthetic (s, x) -> y
    after_training = ("selection_model",)  # it picks among draws of the trained model
    summary = "fair VAE teacher + data-free student generator (Sikder et al. 2024)"
    modalities = ("tabular",)
    params = (
        GROUPS,
        Param("preset", str, "default", "'default' (CPU-friendly schedule, MMD student) or 'paper' (teacher 1000 "
              "epochs, student 5000 epochs, lr 1e-5, L1 loss, V^2 on the whole batch); explicit options override it",
              choices=("default", "paper")),
        Param("z_dim", int, 8, "latent dimension of the teacher and the student", check=positive),
        Param("hidden", int, 64, "hidden units of the teacher's encoder and decoder", check=positive),
        Param("lg_beta", float, None, "log10 of the independence penalty weight beta (default 7 for penalty=analytic, "
              f"{LG_BETA_DCOR:g} for the scale-free dcor and mmd); beta <= 1 (lg_beta <= 0) switches the penalty off"),
        Param("penalty", str, None, "independence penalty: 'dcor' (default: squared distance correlation of the "
              "posterior means and onehot(s), scale-free) or 'analytic' (paper preset: FairDisCo's V^2 on the Gaussian "
              "posteriors; with teacher_kl_weight < 1 the posteriors shrink, the kernels stop overlapping and V^2 no "
              "longer sees s) or 'mmd' (V^2's formula with median-bandwidth Gaussian kernels on the posterior means: "
              "also sees the non-linear dependence dcor leaves, and with it the label information in z)",
              choices=PENALTIES),
        Param("penalty_rows", int, None, "rows of each teacher batch used for the V^2 estimate (O(rows^2) cost); 0 = "
              "the whole batch (default 512; paper preset 0)", check=_opt_non_negative),
        Param("teacher_epochs", int, None, "teacher epochs (default: about 1000 steps, ceil(1000 / batches per epoch); "
              "paper preset 1000)", check=_opt_positive),
        Param("student_epochs", int, None, "student epochs over the teacher latents (default: about 1000 steps; "
              "paper preset 5000)", check=_opt_positive),
        Param("batch_size", int, 2048, "teacher batch size (FairDisCo: 2048)", check=positive),
        Param("student_batch_size", int, None, "student batch size (default 512; paper preset 2048)",
              check=_opt_positive),
        Param("lr_teacher", float, 1e-3, "Adam learning rate of the teacher", check=positive),
        Param("lr_student", float, None, "Adam learning rate of the student (default 1e-3; paper preset 1e-5)",
              check=_opt_positive),
        Param("student_loss", str, None, "distillation distance: 'mmd' (default; order-free), 'swd' (sliced "
              "Wasserstein) or 'paper' (row-wise L1, collapses to the median latent; paper preset)", choices=LOSSES),
        Param("kl_weight", float, None, "weight of the student's KL(N(mu', sigma'^2) || N(0, I)) term (default "
              "1e-3 so the distance term is not drowned; paper preset 1)", check=_opt_non_negative),
        Param("noise_dim", int, 64, "dimension of the student's input noise (paper: 64)", check=positive),
        Param("student_hidden", int, 32, "hidden units of the student (paper: 32)", check=positive),
        Param("n_samples", int, None, "rows generated into synthetic_ (default: the training size)",
              check=_opt_positive),
        Param("s_mode", str, None, "sensitive group of generated rows: 'auto' (default: after fitting, the mode "
              "among sample, counterfactual, balanced, posterior and posterior-balanced whose rows train a model "
              f"(selection_model) with the largest min(DPR, EOR) on the real training rows, within {BACC_SLACK:g} of "
              "the best "
              "balanced accuracy; the choice is s_mode_, the scores s_mode_scores_; binary labels only, so the "
              "default is 'sample' for more classes, and in the paper preset), 'sample' (drawn from the training "
              "frequencies, independent of z), 'fixed' (every row gets group s_group), 'counterfactual' (each "
              "latent decoded once per group), 'balanced' (groups in equal shares), 'posterior' (s ~ q(s | z'), a "
              "small classifier fitted on the teacher's posteriors: each latent is decoded with a group it came "
              "from) or "
              "'posterior-balanced' (groups in equal shares, each latent drawn from p(z | s) by resampling student "
              "latents with weights q(s | z)). No fixed mode wins on every case: benchmarks/fair4free-smode.md",
              choices=S_MODES),
        Param("label_shift", str, None, "per-group shift of the generated labels, chosen on the real training rows: "
              "'auto' (default: the class-1 label logit of group g's rows moves by t * (logit r - logit r_g), r_g the "
              "selection_model's positive rate on group g's real training rows, r the overall one; t is walked over "
              f"0, {', '.join(f'{t:g}' for t in SHIFT_STEPS)} (stopping once min(DPR, EOR) falls {SHIFT_STOP:g} "
              "below the best so far) and the step whose draw trains that model with the largest min(DPR, EOR) "
              f"there, within {BACC_SLACK:g} of the best balanced accuracy, is kept; t = 0 leaves the labels as they "
              "are; the shift is label_shift_, t label_shift_t_, the scores label_shift_scores_; it applies to the "
              "student's draws in the fitted s_mode_; binary labels only, so the default is 'none' for more "
              "classes, and in the paper preset) or 'none'",
              choices=("auto", "none")),
        Param("selection_model", str, "rf", "the downstream model that s_mode='auto' and label_shift='auto' choose "
              "for: it is trained on each candidate draw and scored on the real training rows (default rf, the "
              "evaluation's random forest; name the model you will train on the rows: the best shift differs "
              "between models, benchmarks/fair4free-smode.md)", choices=SELECTION_MODELS),
        Param("s_group", int, 0, "group index (in the sorted list of sensitive tuples) used by s_mode=fixed",
              check=non_negative),
        Param("y_mode", str, None, "label of generated rows: 'decoder' (default: y one more decoded column, decoded "
              "with s; pair it with y_parity), 'head' (the teacher encodes y too and decodes it from z alone, so z must "
              "carry y; y independent of s when z is) or 'latent' (paper preset: an MLP z -> y trained afterwards on "
              "teacher latents)", choices=("latent", "head", "decoder")),
        Param("y_parity", str, None, "per-group label repair of generated rows: 'balanced' (default: each group's "
              "label logits get one offset so that the group's mean p(y) is 1/K for every class — demographic parity "
              "of the synthetic labels by construction (before label_shift) at a high positive rate, the ranking "
              "inside a group kept), "
              "'data' (the same with the training label frequencies) or 'none' (paper preset: y as the y model "
              "gives it)", choices=Y_PARITY),
        Param("teacher_kl_weight", float, None, "weight of the teacher's KL term (default 0.1: a beta-VAE that keeps "
              "information in z instead of collapsing the posterior; paper preset 1 = the ELBO)",
              check=_opt_positive),
        Param("decode", str, None, "one-hot blocks by 'sample' (default: a draw from the softmax; numeric columns "
              "then get Gaussian noise with the training residual spread) or 'argmax' (paper preset: the mode)",
              choices=("argmax", "sample")),
        Param("checkpoint_every", int, 10, "epochs between checkpoints (into OUT.partial/ on the command line, "
              "checkpoint_dir= in Python; --resume continues)", check=positive),
    )

    # ------------------------------------------------------------------ settings
    def setting(self, key: str, n_train: int = 0):
        """The effective value of a preset-dependent parameter (epoch defaults depend on the training size)."""
        value = getattr(self, key)
        if value is not None:
            return value
        if key == "lg_beta":
            return 7.0 if self.setting("penalty") == "analytic" else LG_BETA_DCOR
        value = PRESETS[key][0 if self.preset == "default" else 1]
        if value is None:  # an epoch count giving about DEFAULT_STEPS steps on n_train rows
            batch = self.batch_size if key == "teacher_epochs" else self.setting("student_batch_size")
            value = -(-DEFAULT_STEPS // -(-n_train // batch))
        return value

    def _setting_on(self, key: str, n_classes: int) -> str:
        """The configured ``s_mode`` / ``label_shift`` for labels of ``n_classes`` classes: the preset's default
        'auto' becomes ``NOT_BINARY[key]`` for more than two (an explicit 'auto' is refused there instead)."""
        value = self.setting(key)
        if getattr(self, key) is None and value == "auto" and int(n_classes) != 2:
            return NOT_BINARY[key]
        return value

    def effective_params(self, n_train: int, n_classes: int = 2) -> dict:
        out = self.get_params()
        for key in (*PRESETS, "lg_beta"):
            out[key] = self._setting_on(key, n_classes) if key in NOT_BINARY else self.setting(key, n_train)
        return out

    # ------------------------------------------------------------------ checks
    def _check_data(self, data: FairDataset) -> list[Block]:
        if data.X.ndim != 2:
            raise DataError(f"fair4free needs 2-D tabular X; {data.name} has shape {data.X.shape}")
        if data.s.shape[1] == 0:
            raise DataError(f"{data.name} has no sensitive column; load it with sensitive=[...]")
        gid, tuples = data.groups(self.groups)
        if self._setting_on("s_mode", data.n_classes) == "fixed" and self.s_group >= len(tuples):
            raise ConfigError(f"s_group={self.s_group} but {data.name} has only {len(tuples)} groups; give "
                              f"0..{len(tuples) - 1}")
        chooses = [key for key in NOT_BINARY if self._setting_on(key, data.n_classes) == "auto"]
        for key in chooses:
            _needs_binary(key, data.n_classes, data.name)
        if chooses:
            require_model(self.selection_model)  # before minutes of training, not after
        enc = data.meta.get("encoder")
        if enc is None or not hasattr(enc, "blocks"):
            return numeric_layout(data.X.shape[1])
        return layout_from_encoder(enc, data.X.shape[1])

    # --------------------------------------------------------------------- fit
    def _fit(self, data: FairDataset) -> SyntheticSet:
        with torch_seed(self.seed):  # layer initialisation draws from the global generator
            return self._fit_seeded(data)

    def _fit_seeded(self, data: FairDataset) -> SyntheticSet:
        layout = self._check_data(data)
        dev = resolve_device(self.device)
        gid, tuples = data.groups(self.groups)
        n_groups, n_classes, x_dim = len(tuples), int(data.n_classes), data.X.shape[1]
        y_mode = self.setting("y_mode")
        if y_mode == "decoder":  # y becomes one more categorical block at the end of x
            layout = [*layout, Block("__y__", CATEGORICAL, x_dim, x_dim + n_classes)]
        X = to_tensor(data.X, dev)
        Y = to_tensor(data.y, dev, torch.long)
        if y_mode in ("decoder", "head"):  # head: onehot(y) is read by the encoder only (not reconstructed)
            X = torch.cat([X, torch.nn.functional.one_hot(Y, n_classes).float()], 1)
        G = to_tensor(gid, dev, torch.long)
        S1h = torch.nn.functional.one_hot(G, n_groups).float()

        gen_t = torch.Generator(device=dev).manual_seed(self.seed)
        gen_s = torch.Generator(device=dev).manual_seed(self.seed + 1)
        teacher = TabularVAE(layout, n_groups, self.z_dim, self.hidden,
                             y_classes=n_classes if y_mode == "head" else 0).to(dev)
        student = Student(self.z_dim, self.noise_dim, self.student_hidden).to(dev)
        opt_t = torch.optim.Adam(teacher.parameters(), lr=self.lr_teacher)
        opt_s = torch.optim.Adam(student.parameters(), lr=self.setting("lr_student"))
        te, se = self.setting("teacher_epochs", len(data)), self.setting("student_epochs", len(data))
        beta = 10.0 ** self.setting("lg_beta")
        rows = self.setting("penalty_rows") or self.batch_size

        ckpt = self.checkpointer(self.checkpoint_every, data)
        done = 0
        history: dict[str, list] = {"teacher": [], "student": []}
        # everything a checkpoint holds, saved and restored through the same keys
        modules = {"teacher": teacher, "opt_teacher": opt_t, "student": student, "opt_student": opt_s}
        generators = {"gen_teacher": gen_t, "gen_student": gen_s}
        state = ckpt.load()
        if state is not None:
            done = int(state["step"])
            for key, part in modules.items():
                part.load_state_dict(state[key])
            for key, gen in generators.items():
                gen.set_state(state[key])
            log(f"[fair4free] resumed at epoch {done} of {te} teacher + {se} student")

        def save(step: int):
            if ckpt.due(step) or step == te + se:
                ckpt.save(step, {**{k: part.state_dict() for k, part in modules.items()},
                                 **{k: gen.get_state() for k, gen in generators.items()}})

        bar = Progress(range(done + 1, te + 1), "fair4free teacher", total=te, start=min(done, te))
        for epoch in bar:
            stats = teacher_epoch(teacher, opt_t, X, S1h, G, batch_size=self.batch_size, beta=beta,
                                  penalty=self.setting("penalty"), generator=gen_t, penalty_rows=rows,
                                  kl_weight=self.setting("teacher_kl_weight"), Y=Y)
            history["teacher"].append(stats)
            bar.set(re=stats["re"], kl=stats["kl"], v2=stats["v2"])
            save(epoch)

        mu_t, logvar_t = encode_all(teacher, X, S1h)
        self.teacher_latents_ = mu_t.cpu().numpy()
        self.numeric_sd_ = numeric_residual_sd(teacher, X, S1h, mu_t)
        self._fit_latent_models(teacher, mu_t, logvar_t, Y, G, n_classes, n_groups,
                                self._setting_on("s_mode", n_classes))

        self._train_student(student, opt_s, gen_s, mu_t, logvar_t, range(max(done, te) + 1, te + se + 1), save,
                            history["student"], first=te)
        teacher.eval()
        student.eval()
        self.teacher_, self.student_, self.history_ = teacher, student, history
        self.groups_ = tuples
        # the axes the groups are made of; generated rows leave the other axes unassigned (-1)
        self.group_axes_, self.n_axes_ = select_axes(data.sensitive_names, self.groups), data.s.shape[1]
        self.group_freq_ = np.bincount(gid, minlength=n_groups) / len(gid)
        self.label_freq_ = np.bincount(data.y, minlength=n_classes) / len(data.y)
        self.x_dim_, self.n_classes_, self.device_ = x_dim, n_classes, dev
        self._template_, self._posteriors_ = data.subset(np.arange(0)), (mu_t, logvar_t)
        self._choose_on(data, gid, self._setting_on("label_shift", n_classes) == "auto")
        return self._synthesise(len(data))

    def _choose_on(self, data: FairDataset, gid: np.ndarray, shift: bool) -> None:
        """The choices made on the real training rows (``selection.py``) for the current student: ``s_mode_`` (and
        ``s_mode_scores_`` when s_mode is 'auto'), then, when ``shift``, ``label_shift_`` / ``label_shift_t_`` /
        ``label_shift_scores_`` (else None)."""
        n = self._n_rows(len(data))
        self.s_mode_, self.s_mode_scores_ = self._setting_on("s_mode", data.n_classes), None
        self.label_shift_ = self.label_shift_t_ = self.label_shift_scores_ = None
        if self.s_mode_ == "auto":
            self.s_mode_, self.s_mode_scores_ = select_s_mode(self, data, gid, n)
        if shift:  # s_mode auto has already scored the unshifted draw, with the same model
            self._choose_label_shift(data, gid, self.s_mode_scores_[self.s_mode_] if self.s_mode_scores_ else None)

    def _choose_label_shift(self, data: FairDataset, gid: np.ndarray, base: dict | None = None) -> None:
        """``label_shift_t_``, ``label_shift_`` and ``label_shift_scores_`` chosen on ``data`` for the current student,
        ``s_mode_`` and ``selection_model`` (``base``: the unshifted draw's scores, when that model has them); on an
        error, no shift is left."""
        try:
            self.label_shift_t_, self.label_shift_, self.label_shift_scores_ = select_label_shift(
                self, data, gid, self._n_rows(len(data)), base)
        except BaseException:
            self.label_shift_ = self.label_shift_t_ = self.label_shift_scores_ = None
            raise

    def choose_label_shift(self, data: FairDataset) -> "Fair4Free":
        """Make ``label_shift="auto"``'s choice now, on ``data`` (the rows of the fit), for the fitted student,
        ``s_mode_`` and the current ``selection_model``, whatever ``label_shift`` says; ``synthetic_`` becomes the
        shifted draw. A default fit does this itself; on a ``label_shift="none"`` fit it adds the shift to the same
        teacher and student, and after ``set_params(selection_model=...)`` it chooses the shift for another model
        (benchmarks compare them on one fit; ``s_mode_`` and ``s_mode_scores_`` stay those of the fit, made with the
        fit's selection model). Returns self."""
        if not hasattr(self, "teacher_"):
            raise ConfigError("choose_label_shift() needs a fitted model; call fit(data) first")
        self._check_fit_rows(data, "choose_label_shift")
        _needs_binary("label_shift", self.n_classes_, "the fitted data")
        require_model(self.selection_model)
        self._choose_label_shift(data, data.groups(self.groups)[0])
        self.synthetic_ = self._synthesise(len(data))
        return self

    def _check_fit_rows(self, data: FairDataset, caller: str) -> None:
        """Refuse ``data`` unless it has as many rows as the fit (the choices are made on the rows of the fit)."""
        n_train = len(self._posteriors_[0])
        if len(data) != n_train:
            raise ConfigError(f"{caller}(data) got {len(data)} rows but the model was fitted on {n_train}; pass the "
                              f"FairDataset it was fitted on")

    def _chose_on_data(self) -> bool:
        """Whether the fit made a choice on the training rows (a new student must make it again)."""
        return self.s_mode_scores_ is not None or self.label_shift_scores_ is not None

    def _n_rows(self, n_train: int) -> int:
        """Rows in ``synthetic_``: ``n_samples``, else the training size."""
        return self.n_samples if self.n_samples is not None else n_train

    def _fit_latent_models(self, teacher, mu_t, logvar_t, Y, G, n_classes: int, n_groups: int, s_mode: str) -> None:
        """``y_model_``: p(y | z) (the teacher's head, or for ``y_mode="latent"`` a small MLP fitted on posterior
        samples); ``s_model_``: q(s | z) when ``s_mode`` is one of ``POSTERIOR_MODES``, else None."""
        dev = mu_t.device
        gen_y = torch.Generator(device=dev).manual_seed(self.seed + 2)
        epochs = max(3, min(30, 200000 // max(1, len(mu_t))))
        self.y_model_ = teacher.y_head
        if self.setting("y_mode") == "latent":
            self.y_model_ = fit_latent_classifier(mu_t, logvar_t, Y, n_classes, epochs=epochs, generator=gen_y)
        self.s_model_ = None
        if s_mode in POSTERIOR_MODES:  # auto: the same classifier, so its candidates match the fixed modes
            self.s_model_ = fit_latent_classifier(mu_t, logvar_t, G, n_groups, epochs=epochs,
                                                  generator=torch.Generator(device=dev).manual_seed(self.seed + 4))

    def _train_student(self, student, opt, gen, mu_t, logvar_t, steps, save, history, first: int = 0) -> None:
        """Student steps ``steps`` (numbered after the ``first`` teacher epochs, as checkpoints count them)."""
        bar = Progress(steps, "fair4free student", total=steps.stop - 1 - first, start=steps.start - 1 - first)
        for step in bar:
            stats = student_epoch(student, opt, mu_t, logvar_t, batch_size=self.setting("student_batch_size"),
                                  loss=self.setting("student_loss"), kl_weight=self.setting("kl_weight"),
                                  generator=gen)
            history.append(stats)
            bar.set(dist=stats["dist"], kl=stats["kl"])
            save(step)

    def _synthesise(self, n_train: int) -> SyntheticSet:
        out = self.sample(self._n_rows(n_train))
        h = self.history_
        out.provenance.update({"effective_params": self.effective_params(n_train, self.n_classes_),
                               "teacher_final": h["teacher"][-1] if h["teacher"] else None,
                               "student_final": h["student"][-1] if h["student"] else None})
        picked = {}
        if self.s_mode_scores_ is not None:  # s_mode="auto": the choice and what each candidate scored
            picked["s_mode"] = self.s_mode_
            out.provenance["s_mode_scores"] = self.s_mode_scores_
        if self.label_shift_scores_ is not None:  # label_shift="auto": t, the shift per group, every t's scores
            picked["label_shift"] = f"t = {self.label_shift_t_:g}"
            out.provenance.update({"label_shift": [float(v) for v in self.label_shift_],
                                   "label_shift_scores": self.label_shift_scores_})
        if picked:
            out.provenance["picked"] = picked
        return out

    def student_variant(self, data: FairDataset | None = None, **params) -> "Fair4Free":
        """A fitted copy that shares this teacher and y model and trains a new student with other student options
        (``student_loss``, ``kl_weight``, ``lr_student``, ``student_epochs``, ``student_batch_size``, ``noise_dim``,
        ``student_hidden``): compares distillation losses on one teacher. Its ``synthetic_`` is set. With
        ``s_mode="auto"`` or ``label_shift="auto"`` the new student's choices are made again, on ``data`` (the
        training rows of the fit)."""
        allowed = {"student_loss", "kl_weight", "lr_student", "student_epochs", "student_batch_size", "noise_dim",
                   "student_hidden"}
        bad = sorted(set(params) - allowed)
        if bad:
            raise ConfigError(f"student_variant cannot change {bad}; only student options {sorted(allowed)}")
        if not hasattr(self, "teacher_"):
            raise ConfigError("student_variant() needs a fitted model; call fit(data) first")
        if self._chose_on_data() and data is None:
            raise ConfigError("student_variant() of a model with s_mode or label_shift 'auto' makes the new "
                              "student's choices on the training rows: pass data=<the FairDataset it was fitted on>")
        new = type(self)(**{**self.get_params(), **params})
        for key in ("teacher_", "teacher_latents_", "numeric_sd_", "y_model_", "s_model_", "s_mode_", "s_mode_scores_",
                    "label_shift_", "label_shift_t_", "label_shift_scores_", "groups_", "group_axes_", "n_axes_",
                    "group_freq_", "label_freq_", "x_dim_", "n_classes_", "device_", "_template_", "_posteriors_"):
            setattr(new, key, getattr(self, key))
        mu_t, logvar_t = self._posteriors_
        n_train = len(mu_t)
        with torch_seed(self.seed):  # the student's initialisation, like fit's: not whatever ran before in the process
            student = Student(new.z_dim, new.noise_dim, new.student_hidden).to(self.device_)
        opt = torch.optim.Adam(student.parameters(), lr=new.setting("lr_student"))
        gen = torch.Generator(device=self.device_).manual_seed(self.seed + 1)
        new.history_ = {"teacher": self.history_["teacher"], "student": []}
        new._train_student(student, opt, gen, mu_t, logvar_t, range(1, new.setting("student_epochs", n_train) + 1),
                           lambda step: None, new.history_["student"])
        student.eval()
        new.student_ = student
        if self._chose_on_data():
            self._check_fit_rows(data, "student_variant")
            new._choose_on(data, data.groups(self.groups)[0], self.label_shift_scores_ is not None)
        out = new._synthesise(n_train)
        out.provenance.update({"method": new.name, "params": new.get_params(), "seed": new.seed,
                               "dataset": self.synthetic_.provenance.get("dataset") if hasattr(self, "synthetic_")
                               else None})
        new.synthetic_ = out
        return new

    # ------------------------------------------------------------------ sample
    def _groups_for(self, n: int, gen: torch.Generator, z: torch.Tensor, s_mode: str) -> torch.Tensor:
        k = len(self.groups_)
        if s_mode == "posterior":  # s ~ q(s | z), drawn on the CPU generator
            probs = torch.softmax(self.s_model_(z), 1).cpu()
            return torch.multinomial(probs, 1, generator=gen).reshape(-1)
        if s_mode == "sample":
            p = torch.as_tensor(self.group_freq_, dtype=torch.float)
            return torch.multinomial(p, n, replacement=True, generator=gen)
        if s_mode == "fixed":
            return torch.full((n,), self.s_group, dtype=torch.long)
        if s_mode in ("balanced", "posterior-balanced"):  # equal shares, in random order
            g = torch.arange(n) % k
            return g[torch.randperm(n, generator=gen)]
        return torch.arange(n) % k  # counterfactual: latent j decoded for groups 0..k-1 in turn

    def _draw(self, n: int, source: str, gen: torch.Generator, s_mode: str):
        """Latents z, groups g, decoder output and label logits of n generated rows (before any label repair)."""
        k = len(self.groups_)
        n_codes = {"counterfactual": -(-n // k), "posterior-balanced": POOL * n}.get(s_mode, n)
        if source == "student":
            z = self.student_.sample(n_codes, gen)
        else:
            z = torch.randn((n_codes, self.z_dim), generator=gen).to(self.device_)
        if s_mode == "counterfactual":
            z = z.repeat_interleave(k, 0)[:n]
        g = self._groups_for(n, gen, z, s_mode).to(self.device_)
        if s_mode == "posterior-balanced":  # z | s = g ~ p(z | g), by resampling the pool with weights q(g | z)
            weights = torch.softmax(self.s_model_(z), 1).cpu()
            pick = torch.empty(n, dtype=torch.long)
            for j in range(k):
                rows = torch.nonzero(g.cpu() == j).reshape(-1)
                if len(rows):
                    pick[rows] = torch.multinomial(weights[:, j], len(rows), replacement=True, generator=gen)
            z = z[pick.to(z.device)]
        out = self.teacher_.decode(z, torch.nn.functional.one_hot(g, k).float())
        logits = out[:, self.x_dim_:] if self.setting("y_mode") == "decoder" else self.y_model_(z)
        return z, g, out, logits

    @torch.no_grad()
    def _label_offsets(self, source: str, s_mode: str) -> torch.Tensor:
        """``y_parity``'s per-group logit offsets for ``source``, fixed once per fitted generator on
        ``PARITY_REFERENCE`` reference rows (seeded), so that sample(n) does not depend on n."""
        cache = self.__dict__.setdefault("_offsets_", {})  # fitted state: a refit clears it
        y_parity = self.setting("y_parity")
        key = (source, s_mode, self.s_group, y_parity, self.seed)  # they depend on how (z, s) pairs are drawn
        if key not in cache:
            target = (self.label_freq_ if y_parity == "data" else np.full(self.n_classes_, 1.0 / self.n_classes_))
            if np.any(target == 0):
                raise ConfigError(f"y_parity={y_parity!r} needs every class in the training labels; class(es) "
                                  f"{np.flatnonzero(target == 0).tolist()} never occur — use y_parity='none'")
            gen = torch.Generator(device="cpu").manual_seed(self.seed + 5)
            _, g, _, logits = self._draw(PARITY_REFERENCE, source, gen, s_mode)
            cache[key] = parity_offsets(logits, g, len(self.groups_), torch.as_tensor(target))
        return cache[key]

    def _shift_for(self, source: str, s_mode: str) -> torch.Tensor | None:
        """The per-group class-1 logit shift of ``label_shift`` for a draw, or None: it was chosen on the student's
        draws in the fitted ``s_mode_`` and applies to those only (t = 0: none)."""
        shift = getattr(self, "label_shift_", None)
        if shift is None or source != "student" or s_mode != self.s_mode_ or not np.any(shift):
            return None
        return torch.as_tensor(shift, dtype=torch.float32, device=self.device_)

    @torch.no_grad()
    def sample(self, n: int, *, source: str = "student", seed: int | None = None,
               s_mode: str | None = None) -> SyntheticSet:
        """``n`` synthetic rows in the dataset's encoded X space, with s and y.

        ``source="student"`` (Fair4Free) or ``"prior"`` (z ~ N(0, I) straight through the teacher decoder). With
        ``s_mode="counterfactual"`` every latent code is decoded once per group (ceil(n / groups) codes). ``s_mode``
        overrides the fitted model's (``s_mode_``) for this draw (the teacher and student do not depend on it; the
        posterior modes need a model fitted with one of them or 'auto', which also trains q(s | z)).
        The rows are a function of (n, seed): the same call returns the same rows (seed None = the model's seed + 3),
        so for two independent draws give two seeds. n is refused up front when its rows could not fit in memory
        (about 12 float32 copies of a row are alive at once).
        """
        if not hasattr(self, "teacher_"):
            raise ConfigError("fair4free.sample() needs a fitted model; call fit(data) first")
        if isinstance(n, bool) or not isinstance(n, (int, float, np.integer, np.floating)) or not np.isfinite(n) \
                or int(n) != n or n <= 0:
            raise ConfigError(f"n={n!r} must be a positive whole number of rows (e.g. 1000)")
        if seed is not None:
            seed = SEED.coerce(seed)
        check_choice(source, "source", ("student", "prior"))
        if s_mode is None:
            s_mode = self.s_mode_
        check_choice(s_mode, "s_mode", S_MODES)
        if s_mode == "auto":
            raise ConfigError("s_mode='auto' is chosen once, at fit time (the model's s_mode_); pass a mode, or None "
                              "for the fitted choice")
        if s_mode == "fixed" and self.s_group >= len(self.groups_):
            raise ConfigError(f"s_group={self.s_group} but the model has only {len(self.groups_)} groups; give "
                              f"0..{len(self.groups_) - 1}")
        if s_mode in POSTERIOR_MODES and getattr(self, "s_model_", None) is None:
            raise ConfigError(f"s_mode={s_mode!r} needs the q(s | z) classifier that fit() trains only when s_mode is "
                              f"one of {list(POSTERIOR_MODES)}; refit with s_mode='posterior'")
        n = int(n)
        need = n * (self.x_dim_ + self.n_classes_ + self.z_dim + self.n_axes_) * 4 * 12
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name: no guard
            total = None
        if total and need > total:
            raise ConfigError(f"n={n} rows would need about {need / 2 ** 30:.0f} GiB and this machine has "
                              f"{total / 2 ** 30:.0f} GiB; draw fewer rows per call (several calls with different "
                              f"seeds)")
        gen = torch.Generator(device="cpu").manual_seed(self.seed + 3 if seed is None else seed)
        z, g, out, logits = self._draw(n, source, gen, s_mode)
        y_mode, decode = self.setting("y_mode"), self.setting("decode")
        # decoded on the CPU with the seeded CPU generator, so sample(n, seed=s) repeats on every device
        rows = self.teacher_.to_rows(out.cpu(), decode, gen, self.numeric_sd_.cpu()).numpy()
        X = rows[:, :self.x_dim_]
        y_parity, shift = self.setting("y_parity"), self._shift_for(source, s_mode)
        if y_parity != "none":  # one logit offset per group: every group's mean p(y) = the target frequencies
            logits = logits + self._label_offsets(source, s_mode)[g]
        if shift is not None:  # label_shift: class 1's logit moves by the group's shift
            logits = logits + torch.nn.functional.pad(shift[:, None], (1, 0))[g]
        adjusted = y_parity != "none" or shift is not None
        if y_mode == "decoder" and (not adjusted or decode == "argmax"):
            y = (logits.cpu().numpy() if adjusted else rows[:, self.x_dim_:]).argmax(1)
        else:
            probs = torch.softmax(logits, 1).cpu()
            y = torch.multinomial(probs, 1, generator=gen).reshape(-1).numpy()
        s = np.full((n, self.n_axes_), UNASSIGNED, dtype=np.int64)
        s[:, self.group_axes_] = np.asarray(self.groups_, dtype=np.int64)[g.cpu().numpy()]
        return SyntheticSet.from_dataset(self._template_, X=X.astype(np.float32), y=y.astype(np.int64), s=s,
                                         provenance={"source": source, "s_mode": s_mode, "y_mode": y_mode,
                                                     "y_parity": y_parity, "decode": decode,
                                                     "groups": [list(t) for t in self.groups_]})
