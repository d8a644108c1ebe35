"""The one downstream protocol: train a model on a (synthetic, weighted) set, score it on the real test split.

``evaluate(synthetic, test, model=..., repeats=..., seed=...)`` trains ``repeats`` models (seeds seed..seed+r-1)
with the set's weights, predicts the real test rows and reports mean and std of every metric that fits the data:
- always: accuracy, balanced accuracy, macro F1, AUC (on scores, never on hard labels);
- images, or any multi-class task: DEO_M and DEO_A (x100, FairDD);
- binary tasks: recall, positive rate, demographic parity difference / ratio, equalized odds difference / ratio,
  demographic disparity, the FWC trade-off sqrt((1-AUC)^2 + DD^2); with >= 2 sensitive axes also differential
  fairness, IF_0.5 and worst / best group TPR (intersectional, reference smoothing).
Tabular models see the features plus a one-hot block per sensitive axis (FWC and Fair4Free both train on (x, s));
``use_sensitive=False`` removes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import metrics as M
from .dataset import FairDataset, SyntheticSet, group_ids
from .errors import DataError
from .params import Param, SEED, positive
from .models import make as make_model
from .progress import log


def sensitive_sizes(*datasets: FairDataset | None) -> list[int]:
    """Values per sensitive axis, 1 + the largest code in any of ``datasets`` (None skipped): the one-hot widths."""
    sets = [d for d in datasets if d is not None]
    return [int(max(d.s[:, k].max(initial=0) for d in sets)) + 1 for k in range(sets[0].s.shape[1])]


def model_inputs(data: FairDataset, n_values: list[int], use_sensitive: bool) -> np.ndarray:
    """Images unchanged; tabular X with one one-hot block per sensitive axis appended (code -1 -> all zeros)."""
    if data.modality == "image" or not use_sensitive:
        return data.X
    blocks = [data.X]
    for k, nv in enumerate(n_values):
        onehot = np.zeros((len(data), nv), dtype=np.float32)
        ok = data.s[:, k] >= 0
        onehot[np.flatnonzero(ok), data.s[ok, k]] = 1.0
        blocks.append(onehot)
    return np.concatenate(blocks, axis=1)


def score(y: np.ndarray, proba: np.ndarray, s: np.ndarray, modality: str) -> tuple[dict[str, float], list[dict]]:
    """Every metric that fits, plus a per-group table (joint groups of ``s``)."""
    pred = proba.argmax(axis=1)
    n_classes = proba.shape[1]
    binary = n_classes == 2
    sf = s if s.shape[1] > 1 else s[:, 0]
    out: dict[str, float] = {
        "accuracy": M.accuracy(y, pred), "balanced_accuracy": M.balanced_accuracy(y, pred),
        "f1": M.f1(y, pred, average="binary" if binary else "macro"),
        "auc": M.auc(y, proba[:, 1] if binary else proba),
    }
    if modality == "image" or not binary:
        out["deo_max"] = M.deo_max(y, pred, sensitive_features=sf)
        out["deo_avg"] = M.deo_avg(y, pred, sensitive_features=sf)
    if binary:
        out.update({
            "recall": M.recall(y, pred), "positive_rate": float(pred.mean()),
            "dp_difference": M.demographic_parity_difference(y, pred, sensitive_features=sf),
            "dp_ratio": M.demographic_parity_ratio(y, pred, sensitive_features=sf),
            "eo_difference": M.equalized_odds_difference(y, pred, sensitive_features=sf),
            "eo_ratio": M.equalized_odds_ratio(y, pred, sensitive_features=sf),
            "demographic_disparity": M.demographic_disparity(y, pred, sensitive_features=sf),
        })
        out["tradeoff"] = float(M.tradeoff(out["auc"], out["demographic_disparity"])[0])
        if s.shape[1] >= 2:
            out.update({
                "df": M.differential_fairness(y, pred, sensitive_features=s),
                "if_alpha": M.if_alpha(y, pred, sensitive_features=s),
                "worst_group_tpr": M.worst_group_tpr(y, pred, sensitive_features=s),
                "best_group_tpr": M.best_group_tpr(y, pred, sensitive_features=s),
            })
    gid, tuples = group_ids(s)
    rows = []
    for g, t in enumerate(tuples):
        m = gid == g
        row = {"group": t, "n": int(m.sum()), "accuracy": float((pred[m] == y[m]).mean())}
        if binary:
            pos = m & (y == 1)
            row["positive_rate"] = float(pred[m].mean())
            row["tpr"] = float(pred[pos].mean()) if pos.any() else float("nan")
            neg = m & (y == 0)
            row["fpr"] = float(pred[neg].mean()) if neg.any() else float("nan")
        rows.append(row)
    return {k: float(v) for k, v in out.items()}, rows


def _spread(v: np.ndarray) -> float:
    """The std over repeats (NaN ones left out), exactly 0 when every repeat gave the same finite value (np.nanstd
    can leave 1e-17)."""
    f = v[~np.isnan(v)]
    if np.isfinite(f).all() and np.all(f == f[0]):
        return 0.0
    with np.errstate(invalid="ignore"):  # an infinite repeat: the std is NaN, said by the value, not a warning
        return float(np.nanstd(v))


PERCENT_METRICS = ("accuracy", "balanced_accuracy", "f1", "auc", "recall")  # fractions, shown x100 for images


@dataclass
class Report:
    """Per-repeat metric values, per-group tables and the configuration that produced them."""

    model: str
    runs: list[dict[str, float]]
    groups: list[list[dict]]
    config: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, tuple[float, float]]:
        """{metric: (mean, std)} over the repeats (NaN where a metric is undefined in every repeat)."""
        keys = self.runs[0].keys() if self.runs else []
        return {k: (float(np.nanmean(v)), _spread(v)) if np.isfinite(v).any() else (float("nan"),) * 2
                for k in keys for v in [np.array([r[k] for r in self.runs], dtype=float)]}

    def flat(self) -> dict[str, float]:
        """``{metric: mean, metric_std: std}``: the content of a run folder's metrics.json."""
        out = {}
        for k, (m, s) in self.summary().items():
            out[k], out[f"{k}_std"] = m, s
        return out

    def group_table(self) -> list[dict]:
        """Per-group rows averaged over repeats."""
        if not self.groups:
            return []
        rows = []
        for i, first in enumerate(self.groups[0]):
            row = dict(first)
            for key in first:
                if key not in ("group", "n"):
                    vals = np.asarray([g[i][key] for g in self.groups], dtype=float)
                    row[key] = float(vals[~np.isnan(vals)].mean()) if (~np.isnan(vals)).any() else float("nan")
            rows.append(row)
        return rows

    def text(self, percent: bool = False) -> str:
        """A plain table: metric, mean, std. With ``percent`` (how FairDD's image results are reported) the
        accuracy-like values are shown x100; every value in percent is labelled (%) (DEO is in percent always)."""
        lines = [f"model={self.model} repeats={len(self.runs)}", f"{'metric':<28}{'mean':>10}{'std':>10}"]
        for k, (m, sd) in self.summary().items():
            scale = 100 if percent and k in PERCENT_METRICS else 1
            name = k + (" (%)" if scale == 100 or k.startswith("deo_") else "")
            lines.append(f"{name:<28}{m * scale:>10.4g}{sd * scale:>10.3g}")
        if percent:
            lines.append("(metrics.json holds accuracy-like values as fractions, DEO in percent)")
        return "\n".join(lines)


def _check_split(data, role: str, synthetic: FairDataset | None) -> None:
    """``data`` is a FairDataset; the real ``test`` / ``valid`` split also matches ``synthetic``'s modality, row
    shape and sensitive attributes."""
    if not isinstance(data, FairDataset):
        raise DataError(f"evaluate: {role} must be a FairDataset or SyntheticSet; got {type(data).__name__} "
                        f"(load it with fairdistill.datasets.load)")
    if not len(data) and role != "synthetic":  # (an empty synthetic set has its own message below)
        raise DataError(f"evaluate: the {role} split has no rows; give one with rows (a tiny table may leave a split "
                        f"empty)")
    if synthetic is None:
        return
    if isinstance(data, SyntheticSet):  # evaluate(test, synthetic): the real rows would train, the set would score
        raise DataError(f"evaluate: the {role} split is a SyntheticSet (a method's output); pass the set to train on "
                        f"first and the real split second: evaluate(fit.synthetic_, splits['{role}'], ...)")
    if synthetic.modality != data.modality:
        raise DataError(f"synthetic set is {synthetic.modality} but the {role} split is {data.modality}")
    if synthetic.X.shape[1:] != data.X.shape[1:]:
        raise DataError(f"synthetic rows have shape {synthetic.X.shape[1:]} but {role} rows {data.X.shape[1:]}; "
                        f"evaluate against the split the set was built from")
    if synthetic.sensitive_names != data.sensitive_names:
        raise DataError(f"sensitive attributes differ: synthetic {synthetic.sensitive_names} vs {role} "
                        f"{data.sensitive_names}")


#: models trained per evaluation (``evaluate`` and ``fairdistill evaluate``)
REPEATS = Param("repeats", int, 5, "models trained, seeds seed..seed+repeats-1", check=positive)


def untrainable(synthetic: FairDataset) -> str | None:
    """Why no classifier can be trained on ``synthetic`` (no row of positive weight, or one class among them), as a
    message that names the fix; None when it can be."""
    keep = synthetic.w > 0
    if not keep.any():
        return "the synthetic set is empty (or all weights are 0); nothing to train on"
    classes = np.unique(synthetic.y[keep])
    if classes.size < 2:
        c = int(classes[0])
        name = synthetic.class_names[c] if synthetic.class_names and c < len(synthetic.class_names) else c
        return (f"the synthetic set holds a single class ({name!r}, {int(keep.sum())} rows); a classifier needs two: "
                f"give the method a larger size (a small sample can miss a class) or use one that keeps every class "
                f"(e.g. random, which samples per class)")
    return None


def evaluate(synthetic: FairDataset, test: FairDataset, model: str | None = None, repeats: int = 5, seed: int = 0,
             valid: FairDataset | None = None, use_sensitive: bool = True, device: str = "auto",
             **model_options) -> Report:
    """Train ``model`` on ``synthetic`` (respecting its weights) ``repeats`` times, with seeds seed, seed+1, ...;
    score each on the real ``test`` split. Returns a ``Report``: ``summary()`` {metric: (mean, std)} over repeats,
    ``flat()`` (metrics.json), ``group_table()`` (per joint group), ``text()``.

    Metrics (``score``): accuracy, balanced_accuracy, f1, auc; for binary labels also recall, positive_rate,
    dp_difference / dp_ratio, eo_difference / eo_ratio (fairlearn's definitions), demographic_disparity and FWC's
    tradeoff √((1 − AUC)² + DD²), and with two or more sensitive axes df, if_alpha, worst / best_group_tpr; for
    images and multi-class labels deo_max / deo_avg (FairDD's, in percent). Every other value is a fraction.

    ``model``: "convnet" for images and "mlp" for tabular data by default; also "logreg", "rf", "xgboost"
    (``fairdistill.models.MODELS``); ``model_options`` go to it (each model's ``options`` lists them).
    ``valid`` (real rows) enables the MLP's early stopping. ``use_sensitive``: tabular models also read one one-hot
    block per sensitive axis (``model_inputs``), as the papers' downstream models do.
    """
    _check_split(synthetic, "synthetic", None)
    _check_split(test, "test", synthetic)
    if valid is not None:
        _check_split(valid, "valid", synthetic)
    repeats, seed = REPEATS.coerce(repeats), SEED.coerce(seed)
    for k, axis in enumerate(test.sensitive_names):
        if np.unique(test.s[:, k]).size < 2:
            log(f"[evaluate] warning: the test split has a single group on sensitive axis {axis!r}; its fairness "
                f"numbers are vacuous (e.g. dp_ratio 1.0)")
    problem = untrainable(synthetic)
    if problem:
        raise DataError(problem)
    keep = synthetic.w > 0
    if not keep.all():
        synthetic = synthetic.subset(np.flatnonzero(keep))
    w = synthetic.w
    model = model or ("convnet" if test.modality == "image" else "mlp")
    n_classes = max(int(test.n_classes), int(synthetic.n_classes))
    n_values = sensitive_sizes(synthetic, test, valid)
    Xs = model_inputs(synthetic, n_values, use_sensitive)
    Xt = model_inputs(test, n_values, use_sensitive)
    v = None if valid is None else (model_inputs(valid, n_values, use_sensitive), valid.y)
    runs, groups = [], []
    log(f"[evaluate] training {repeats} {model} model(s) on {len(synthetic)} rows, testing on {len(test)} real rows"
        + (f"; options {model_options}" if model_options else ""))
    for r in range(repeats):
        clf = make_model(model, n_classes, seed=seed + r, device=device, **model_options)
        if r == 0 and v is None and clf.opts.get("patience"):
            log(f"[evaluate] no valid split given: {model}'s early stopping is off (pass valid=, the dataset's "
                f"'valid' split, as `fairdistill evaluate` does)")
        clf.fit(Xs, synthetic.y, w, valid=v)
        values, table = score(test.y, clf.predict_proba(Xt), test.s, test.modality)
        runs.append(values)
        groups.append(table)
        log(f"[evaluate] {model} repeat {r + 1}/{repeats}: accuracy={values['accuracy']:.4f}")
    cfg = {"model": model, "repeats": repeats, "seed": seed, "use_sensitive": use_sensitive,
           "model_options": clf.opts, "n_train": len(synthetic), "n_test": len(test)}
    return Report(model=model, runs=runs, groups=groups, config=cfg)
