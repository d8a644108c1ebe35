"""Downstream classifiers of the evaluation protocol: convnet, mlp, rf, logreg, xgboost.

Each takes numeric features (images N x C x H x W for convnet, 2-D otherwise), integer labels and optional sample
weights, and returns class probabilities. Options are declared as ``Param`` so that the CLI and errors are uniform.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import nullcontext
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import ConfigError, DataError, check_members, check_name
from ..params import Param, non_negative, positive
from ..seeding import random_state
from ..torchutil import resolve_device, single_thread, to_tensor, torch_seed
from .torch_train import TrainConfig, predict_logits, softmax_np, train_classifier


_HIDDEN_FORM = "layer sizes as whole numbers >= 1, comma separated (e.g. 128,64,32)"


#: a whole number (an int, a float like 12.0, or text like "12"), by the one rule of ``Param.coerce``
_whole = Param("layer size", int, 0, "").coerce


def _hidden(v) -> tuple[int, ...]:
    """Hidden layer sizes from "128,64,32" (or "(128, 64)", one int, or a sequence of ints); ValueError otherwise."""
    if isinstance(v, str):
        v = [t for t in v.replace("(", "").replace(")", "").split(",") if t.strip()]
    elif np.ndim(v) == 0:
        v = [v]
    try:
        out = tuple(_whole(t) for t in v)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(_HIDDEN_FORM) from None
    if not out or min(out) < 1:
        raise ValueError(_HIDDEN_FORM)
    return out


def _depth(v) -> int | None:
    """A maximum depth >= 1, or none / None / null for no limit; ValueError otherwise."""
    if v is None or isinstance(v, str) and v.strip().lower() in ("none", "null"):
        return None
    form = "a whole number >= 1, or none for unlimited"
    try:
        d = _whole(v)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(form) from None
    if d < 1:
        raise ValueError(form)
    return d


class Classifier(ABC):
    name: ClassVar[str] = ""
    modality: ClassVar[str] = "tabular"
    options: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, n_classes: int, seed: int = 0, device: str = "auto", **opts: Any):
        spec = {p.name: p for p in self.options}
        check_members(sorted(opts), f"option(s) of model {self.name!r}", sorted(spec))
        self.opts = {k: p.coerce(opts.get(k, p.default)) for k, p in spec.items()}
        self.n_classes, self.seed, self.device = n_classes, seed, device

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None,
            valid: tuple[np.ndarray, np.ndarray] | None = None) -> "Classifier":
        """Train on ``X, y`` with optional weights and validation data; return self."""

    @abstractmethod
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """N x n_classes class probabilities (rows sum to 1)."""


class _TorchClassifier(Classifier):
    info: dict

    @abstractmethod
    def _net(self, X: np.ndarray) -> torch.nn.Module:
        """A freshly initialised network for inputs shaped like ``X`` (logits out)."""

    @abstractmethod
    def _config(self) -> tuple[TrainConfig, Any]:
        """The training schedule and the batch augmentation (a callable on image batches, or None)."""

    def fit(self, X, y, w=None, valid=None, on_epoch=None):
        """Train; ``on_epoch(epoch, self)`` is called after every epoch (``predict_proba`` works inside it)."""
        dev = resolve_device(self.device)
        gen = torch.Generator().manual_seed(self.seed)
        cfg, augment = self._config()
        t = lambda a, dt=torch.float32: to_tensor(a, dev, dt)  # noqa: E731
        v = None if valid is None else (t(valid[0]), t(valid[1], torch.long))
        hook = None if on_epoch is None else (lambda epoch, _net: on_epoch(epoch, self))
        with torch_seed(self.seed):  # initialisation and dropout draw from the global generator
            self.net_, self._dev = self._net(X).to(dev), dev
            self.info = train_classifier(self.net_, t(X), t(y, torch.long), None if w is None else t(w), cfg, gen,
                                         augment=augment, valid=v, on_epoch=hook)
        return self

    def predict_proba(self, X):
        return softmax_np(predict_logits(self.net_, to_tensor(X, self._dev)))


class ConvNetClassifier(_TorchClassifier):
    """FairDD's evaluation network (ConvNet-3) with the reference's SGD schedule: E + 1 epochs, the learning rate
    x0.1 with a fresh optimiser after epoch E//2 + 1."""

    name, modality = "convnet", "image"
    options = (
        Param("epochs", int, 300, "training epochs E; E + 1 are run, as in the reference (spec: 1000 for DM sets, "
              "300 for DC sets)", check=positive),
        Param("dsa", bool, False, "differentiable siamese augmentation on every batch (spec: on for DM sets)"),
        Param("batch_size", int, 256, "minibatch size", check=positive),
        Param("lr", float, 0.01, "SGD learning rate (momentum 0.9)", check=positive),
        Param("weight_decay", float, 5e-4, "SGD weight decay", check=non_negative),
        Param("width", int, 128, "channels per conv block", check=positive),
    )

    def _net(self, X):
        from ..nn.convnet import ConvNet
        if X.ndim != 4:
            raise DataError(f"convnet needs images N x C x H x W; got shape {X.shape}")
        return ConvNet(in_channels=X.shape[1], n_classes=self.n_classes, image_size=X.shape[2],
                       width=self.opts["width"])

    def _config(self):
        o = self.opts
        augment = None
        if o["dsa"]:
            from ..nn.augment import dsa
            augment = dsa
        # the reference evaluation (METHODS.md §1): E + 1 epochs (0..E); after epoch E//2 + 1 the learning rate
        # drops tenfold with a fresh optimiser
        cfg = TrainConfig(epochs=o["epochs"] + 1, batch_size=o["batch_size"], optimizer="sgd", lr=o["lr"],
                          momentum=0.9, weight_decay=o["weight_decay"], lr_decay_epoch=o["epochs"] // 2 + 2,
                          desc="convnet")
        return cfg, augment


class MLPClassifier(_TorchClassifier):
    """FWC's downstream MLP by default: one hidden layer of 20 ReLU units, Adam 1e-3, batch 32, <= 500 epochs,
    early stopping on validation loss with patience 10 (when validation data is given)."""

    name = "mlp"
    options = (
        Param("hidden", _hidden, (20,), "hidden layer sizes, comma separated (e.g. 128,64,32)"),
        Param("dropout", float, 0.0, "dropout after each hidden layer", check=non_negative),
        Param("epochs", int, 500, "maximum epochs", check=positive),
        Param("batch_size", int, 32, "minibatch size", check=positive),
        Param("lr", float, 1e-3, "Adam learning rate", check=positive),
        Param("patience", int, 10, "early-stopping patience on validation loss (0 = off)", check=non_negative),
    )

    def _net(self, X):
        layers, d = [], X.shape[1]
        for h in self.opts["hidden"]:
            layers += [torch.nn.Linear(d, h), torch.nn.ReLU()]
            if self.opts["dropout"] > 0:
                layers.append(torch.nn.Dropout(self.opts["dropout"]))
            d = h
        return torch.nn.Sequential(*layers, torch.nn.Linear(d, self.n_classes))

    def _config(self):
        o = self.opts
        return TrainConfig(epochs=o["epochs"], batch_size=o["batch_size"], optimizer="adam", lr=o["lr"],
                           patience=o["patience"] or None, desc="mlp"), None

    #: train and predict with one torch thread (faster for these small nets; see benchmarks/demo-timing.json)
    single_threaded = True

    def fit(self, X, y, w=None, valid=None, on_epoch=None):
        with single_thread() if self.single_threaded else nullcontext():
            return super().fit(X, y, w, valid, on_epoch)

    def predict_proba(self, X):
        with single_thread() if self.single_threaded else nullcontext():
            return super().predict_proba(X)


class _SklearnClassifier(Classifier):
    @abstractmethod
    def _estimator(self):
        """Implemented by every concrete classifier."""

    def fit(self, X, y, w=None, valid=None):
        """Fit on the classes present, recoded 0..K'-1 (XGBoost needs codes without gaps); ``predict_proba`` puts
        them back in the task's ``n_classes`` columns, an absent class with probability 0."""
        self.est_ = self._estimator()
        self.present_ = np.unique(y).astype(np.intp)  # label codes (0.0 and 1.0 index columns 0 and 1)
        self.est_.fit(X, np.searchsorted(self.present_, y), sample_weight=w)
        return self

    def predict_proba(self, X):
        out = np.zeros((len(X), self.n_classes))
        out[:, self.present_] = self.est_.predict_proba(X)
        return out


class RandomForest(_SklearnClassifier):
    """scikit-learn RandomForestClassifier (Fair4Free's downstream model), defaults as in scikit-learn."""

    name = "rf"
    options = (Param("n_estimators", int, 100, "number of trees", check=positive),
               Param("max_depth", _depth, None, "maximum depth, a whole number >= 1 (none = unlimited)"))

    def _estimator(self):
        from sklearn.ensemble import RandomForestClassifier
        return RandomForestClassifier(n_estimators=self.opts["n_estimators"], max_depth=self.opts["max_depth"],
                                      random_state=random_state(self.seed), n_jobs=1)


class LogReg(_SklearnClassifier):
    name = "logreg"
    options = (Param("C", float, 1.0, "inverse regularisation strength", check=positive),)

    def _estimator(self):
        from sklearn.linear_model import LogisticRegression
        return LogisticRegression(C=self.opts["C"], max_iter=2000)


class XGBoost(_SklearnClassifier):
    """XGBoost (as FairX uses it); optional dependency: ``pip install fairdistill[xgboost]``."""

    name = "xgboost"
    options = (Param("n_estimators", int, 100, "boosting rounds", check=positive),)

    def _estimator(self):
        try:
            from xgboost import XGBClassifier
        except ImportError:
            raise ConfigError("model 'xgboost' needs the xgboost package: pip install 'fairdistill[xgboost]'") \
                from None
        return XGBClassifier(n_estimators=self.opts["n_estimators"], random_state=random_state(self.seed), n_jobs=1)


MODELS: dict[str, type[Classifier]] = {c.name: c for c in (ConvNetClassifier, MLPClassifier, RandomForest, LogReg,
                                                           XGBoost)}


def model_class(name: str) -> type[Classifier]:
    """The classifier called ``name``; an unknown name is a ConfigError with the closest name and the choices."""
    check_name(name, "model", MODELS)
    return MODELS[name]


def make(name: str, n_classes: int, seed: int = 0, device: str = "auto", **opts) -> Classifier:
    return model_class(name)(n_classes=n_classes, seed=seed, device=device, **opts)


def require(name: str) -> None:
    """Raise ConfigError (naming the package to install) unless the scikit-learn-style model ``name`` can be built
    here; for a check before long work that ends by training it."""
    clf = make(name, 2)
    if isinstance(clf, _SklearnClassifier):
        clf._estimator()
