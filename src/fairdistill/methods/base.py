"""Estimator base class: a method's parameters, declared once as ``Param`` objects (``params.py``), serve its
constructor, validation, provenance and the CLI.

A method subclasses ``Method``, lists its hyper-parameters as ``Param`` objects in ``params`` and implements
``_fit(data) -> SyntheticSet``. ``fit`` validates the input, runs ``_fit``, stores ``synthetic_`` and returns self.
"""
from __future__ import annotations

import copy
import inspect
import textwrap
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from .. import __version__
from ..dataset import FairDataset, SyntheticSet, select_axes
from ..errors import ConfigError, DataError, check_members
from ..params import DEVICE, SEED, Param


COMMON_PARAMS = (
    Param("preset", str, "default", "'paper': the published setting (for this method its defaults are the paper's) "
          "and, through `fairdistill run`, the dataset loaded in its faithful (reference-code) form where it has one; "
          "the reference code's defects stay behind explicit options", choices=("default", "paper")),
    SEED,
    DEVICE,
)


#: the sensitive grouping shared by the methods that take one: the joint tuple of every axis, or one axis
GROUPS = Param("groups", str, "joint", "sensitive grouping: 'joint' (every sensitive axis, intersectional; default) or "
               "'single:<axis>' (one axis; a bare axis name means the same; checked against the data at fit)",
               check=lambda v: None if v.strip() and v.strip() != "single:" else
               "must be 'joint' or 'single:<axis>' with an axis name")


class Method(ABC):
    """Base estimator. Subclasses set ``name``, ``modalities``, ``params`` and implement ``_fit``."""

    name: ClassVar[str] = "method"
    summary: ClassVar[str] = ""
    modalities: ClassVar[tuple[str, ...]] = ("tabular", "image")
    params: ClassVar[tuple[Param, ...]] = ()
    #: parameters that act only after the checkpointed training (a resume may change them)
    after_training: ClassVar[tuple[str, ...]] = ()
    #: the downstream protocol the method's paper uses (``fairdistill evaluate`` follows it unless told otherwise):
    #: {"model": name, "repeats": r, "options": {...}}
    evaluation: ClassVar[dict[str, Any]] = {}
    #: whether ``_fit`` reads ``data.weights``; a method that does not refuses data with unequal weights
    uses_weights: ClassVar[bool] = False
    #: whether ``_fit`` reads the sensitive attributes at all (see ``sensitive_axes``)
    reads_sensitive: ClassVar[bool] = True
    #: the dataset arguments of the `fairdistill run NAME --help` example, where the default ones would fail
    example: ClassVar[str | None] = None
    #: the class docstring as written (``__doc__`` adds the parameter list; the CLI's --help shows its own)
    _doc_head: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        """``help(cls)`` and ``inspect.signature(cls)`` show the declared parameters, their defaults and help."""
        super().__init_subclass__(**kwargs)
        spec = cls.param_spec()
        cls.__signature__ = inspect.Signature(
            [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=p.default) for k, p in spec.items()])
        doc = inspect.cleandoc(cls.__dict__.get("__doc__") or cls.summary or "")
        lines = [textwrap.fill(f"{k}: {p.help}" if "(default" in p.help else f"{k} (default {p.default!r}): {p.help}",
                               width=116, initial_indent="    ", subsequent_indent="        ") for k, p in spec.items()]
        cls.__doc__ = f"{doc}\n\nParameters (keyword only):\n" + "\n".join(lines)
        cls._doc_head = doc

    def __init__(self, **kwargs: Any):
        self.set_params(**{k: p.default for k, p in self.param_spec().items() if k not in kwargs}, **kwargs)

    @classmethod
    def param_spec(cls) -> dict[str, Param]:
        return {p.name: p for p in (*COMMON_PARAMS, *cls.params)}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The parameters (scikit-learn's protocol: ``deep`` is accepted; methods hold no sub-estimators)."""
        return {k: getattr(self, k) for k in self.param_spec()}

    def set_params(self, **params: Any) -> "Method":
        """Set parameters, each checked as the constructor checks it; returns self (scikit-learn's protocol)."""
        spec = self.param_spec()
        check_members(sorted(params), f"parameter(s) of {self.name}", sorted(spec))
        typed = {key: spec[key].coerce(value) for key, value in params.items()}
        self._check_params({**{k: getattr(self, k) for k in spec if hasattr(self, k)}, **typed})
        for key, value in typed.items():  # only once every value passed
            setattr(self, key, value)
        return self

    def _check_params(self, params: dict[str, Any]) -> None:
        """Rules between parameters (each is checked alone by its Param); raise ConfigError. Default: none."""

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags (>= 1.6), so that its helpers (``check_is_fitted``, the HTML repr) accept a
        method: it reads a FairDataset, not arrays (``no_validation``), and ``fit`` takes no separate y."""
        from sklearn.utils import Tags, TargetTags
        return Tags(estimator_type=None, target_tags=TargetTags(required=False), no_validation=True)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v != self.param_spec()[k].default}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ----------------------------------------------------------------------
    def check_modality(self, modality: str, dataset: str) -> None:
        """A DataError unless this method works on ``modality`` data (checked before a dataset is loaded, too)."""
        if modality not in self.modalities:
            kinds = "/".join(self.modalities)
            raise DataError(f"{self.name} works on {kinds} data; {dataset} is {modality}: choose a {kinds} dataset "
                            f"(`fairdistill datasets`) or a method for {modality} data (`fairdistill run list`)")

    def fit(self, data: FairDataset, y=None, *, checkpoint_dir=None, resume: bool = False) -> "Method":
        """Learn from ``data`` and return self, with the result in ``self.synthetic_`` (a ``SyntheticSet``); long
        methods checkpoint into ``checkpoint_dir`` and continue with ``resume``. A refit starts afresh. ``y`` exists
        only to refuse scikit-learn's ``fit(X, y)``: X, y and s travel together in one FairDataset."""
        if y is not None:
            raise DataError(f"{self.name}.fit takes one FairDataset holding X, y and s, not fit(X, y): build it with "
                            f"FairDataset(X=X, y=y, s=s, sensitive_names=[...]) or fairdistill.datasets.from_frame")
        self._checkpoint_dir, self._resume = checkpoint_dir, resume
        self._check_fit_data(data)
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, key)  # a previous fit's state (fitted attributes end in "_", as in scikit-learn)
        t0 = time.perf_counter()
        out = self._fit(data)
        out.provenance = {
            "method": self.name, "params": self.get_params(), "seed": self.seed, "dataset": data.name,
            "dataset_meta": {k: v for k, v in data.meta.items() if isinstance(v, (str, int, float, bool))},
            "fairdistill_version": __version__, "fit_seconds": round(time.perf_counter() - t0, 3),
            "eval": self.evaluation_protocol(),
            **out.provenance,
        }
        self.synthetic_ = out
        return self

    def _check_fit_data(self, data: FairDataset) -> None:
        """What every method needs: a valid FairDataset of its modality with rows, two classes, two values on every
        sensitive axis the fit reads (fairness across one group is vacuous), and no row weights unless the method
        reads them."""
        if not isinstance(data, FairDataset):
            raise DataError(f"{self.name}.fit expects a FairDataset (see fairdistill.datasets.load / from_frame); "
                            f"got {type(data).__name__}")
        self.check_modality(data.modality, data.name)
        if len(data) == 0:
            raise DataError(f"{data.name} has no rows")
        data.validate()
        if len(np.unique(data.y)) < 2:
            raise DataError(f"{data.name}: every row has label {int(data.y[0])}; {self.name} needs at least two "
                            "classes: give data with at least two labels")
        for j in self.sensitive_axes(data):
            axis, values = data.sensitive_names[j], np.unique(data.s[:, j])
            if len(values) < 2:
                raise DataError(f"{data.name}: the sensitive attribute {axis!r} is constant ({int(values[0])} on every "
                                f"row), so fairness across its groups is vacuous; choose another attribute")
        w = data.weights
        if w is not None and not self.uses_weights and len(w) and np.ptp(w) > 1e-12 * max(abs(float(w[0])), 1.0):
            raise DataError(f"{self.name} ignores row weights and {data.name} has unequal ones; drop them first "
                            f"(dataclasses.replace(data, weights=None); reweigh=True then reweighs inside the method "
                            f"where it offers it)")

    def sensitive_axes(self, data: FairDataset) -> list[int]:
        """The sensitive axes a fit on ``data`` reads: those ``groups`` names where the method has that parameter,
        else every axis; none for a method that never reads s (``reads_sensitive`` False)."""
        if not self.reads_sensitive:
            return []
        return select_axes(data.sensitive_names, getattr(self, "groups", "joint"))

    @abstractmethod
    def _fit(self, data: FairDataset) -> SyntheticSet:
        """Learn from ``data`` and return the synthetic set (``fit`` adds provenance)."""

    def evaluation_protocol(self) -> dict[str, Any]:
        """The recommended downstream protocol for this fitted configuration (default: the class's)."""
        return copy.deepcopy(self.evaluation)  # callers may edit it; the class default must not change

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    @classmethod
    def checkpoints(cls) -> bool:
        """Whether ``fit`` keeps checkpoints (the method has a ``checkpoint_every`` parameter)."""
        return any(p.name == "checkpoint_every" for p in cls.params)

    def checkpointer(self, every: int, data: FairDataset | None = None):
        """A ``Checkpointer`` bound to this fit's folder, parameters (those in ``after_training`` left out) and
        training rows (inactive when fit got no folder). A checkpoint of an older version that lacks a parameter is
        taken to have its default, and one without the rows' fingerprint to match them."""
        from ..fileio import TRAINING_ROWS, Checkpointer
        folder = getattr(self, "_checkpoint_dir", None)
        params = {k: v for k, v in self.get_params().items() if k not in self.after_training}
        config = {"method": self.name, **params, "dataset": None if data is None else data.name,
                  "n": None if data is None else len(data),
                  TRAINING_ROWS: None if data is None or folder is None else data.fingerprint()}
        assumed = {**{k: self.param_spec()[k].default for k in params}, TRAINING_ROWS: config[TRAINING_ROWS]}
        return Checkpointer(folder, config, every, resume=getattr(self, "_resume", False), assumed=assumed)


def resolve_size(size: int | float, n: int, what: str = "size") -> int:
    """A fraction in (0, 1) of ``n`` (rounded, at least 1) or an absolute count in 1..n."""
    if size <= 0:
        raise ConfigError(f"{what}={size} must be > 0: a fraction in (0, 1) or a count in 1..{n}")
    m = int(round(size * n)) if size < 1 else int(size)
    if m > n:
        raise ConfigError(f"{what}={size} asks for {m} rows but the data has only {n}; give at most {n}")
    return max(m, 1)
