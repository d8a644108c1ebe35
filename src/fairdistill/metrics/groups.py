"""Group-fairness metrics with fairlearn's definitions (METRICS.md §2) and FWC's parity quantities (§4).

Per group a (the distinct values, or row tuples for N x k ``sensitive_features``, present in the rows), with
weighted counts: SR_a = P(y_pred = 1 | A = a), TPR_a = P(y_pred = 1 | y = 1, A = a),
FPR_a = P(y_pred = 1 | y = 0, A = a).
A group without positives gets TPR_a = 0 and one without negatives FPR_a = 0 (scikit-learn's row-normalised confusion
matrix, as fairlearn does); both are flagged with a :class:`MetricWarning` and visible in the per-group table.

``method="between_groups"``: difference = max_a R_a - min_a R_a, ratio = min_a R_a / max_a R_a (max = 0 -> NaN).
``method="to_overall"``: difference = max_a |R_a - R|, ratio = min_a min(R_a / R, R / R_a) over the groups where the
ratio is defined (R = the rate over all rows).
Equalized odds combine the TPR and FPR parts: ``agg="worst_case"`` takes the larger difference / smaller ratio,
``agg="mean"`` their average. A part that is NaN is left out (NaN only if both are); fairlearn's worst-case ratio
instead returns NaN when the TPR ratio is NaN but ignores a NaN FPR ratio (an artefact of Python's ``min``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, check_choice
from ._common import (as_1d, as_labels, as_weights, check_lengths, encode_groups, safe_div, warn, wcount,
                      weighted_groups, with_table)

METHODS = ("between_groups", "to_overall")
AGGS = ("worst_case", "mean")


def group_rates(y_true, y_pred, *, sensitive_features, sample_weight=None, pos_label=1,
                need_labels: bool = True) -> pd.DataFrame:
    """Per-group weighted counts and rates: count, positives, negatives, selected, selection_rate, tpr, fpr.

    ``table.attrs["overall"]`` holds the same quantities over all rows. ``need_labels=False`` allows
    ``y_true=None`` (selection rates only).
    """
    y_pred = as_1d(y_pred, "y_pred")
    given = y_true is not None
    y_true = as_1d(y_true, "y_true") if given or need_labels else np.zeros(len(y_pred), dtype=bool)
    codes, index, w, y_true, y_pred = weighted_groups(sensitive_features, sample_weight, y_true=y_true,
                                                      y_pred=y_pred)
    if given:  # predictions coded otherwise than the labels ({1, 2} against {0, 1}): more labels than the task has
        known = np.union1d(y_true, [pos_label])
        if len(np.union1d(known, y_pred)) > max(2, len(np.unique(y_true))):
            raise DataError(f"y_pred holds label(s) {np.setdiff1d(y_pred, known).tolist()[:5]} that y_true does not "
                            f"(positive label {pos_label!r}); give predictions coded as the true labels are")
    g = len(index)
    sel, pos = y_pred == pos_label, y_true == pos_label
    cnt, npos = wcount(codes, w, None, g), wcount(codes, w, pos, g)
    nneg = cnt - npos
    nsel, tp, fp = wcount(codes, w, sel, g), wcount(codes, w, sel & pos, g), wcount(codes, w, sel & ~pos, g)
    table = pd.DataFrame({"count": cnt, "positives": npos, "negatives": nneg, "selected": nsel,
                          "selection_rate": safe_div(nsel, cnt), "tpr": safe_div(tp, npos, 0.0),
                          "fpr": safe_div(fp, nneg, 0.0)}, index=index)
    tot = w.sum()
    table.attrs["overall"] = {"count": tot, "positives": npos.sum(), "negatives": nneg.sum(), "selected": nsel.sum(),
                              "selection_rate": float(safe_div(nsel.sum(), tot)),
                              "tpr": float(safe_div(tp.sum(), npos.sum(), 0.0)),
                              "fpr": float(safe_div(fp.sum(), nneg.sum(), 0.0))}
    return table


def _check_binary(table_source, name="y_true", pos_label=1):
    vals = np.unique(table_source)
    if len(vals) > 2 or (len(vals) == 2 and pos_label not in vals):
        raise DataError(f"{name} must be binary with positive label {pos_label!r}; got values {vals.tolist()[:10]}")


def _difference(rates: pd.Series, overall: float, method: str) -> float:
    check_choice(method, "method", METHODS)
    r = rates.to_numpy(dtype=np.float64)
    if method == "between_groups":
        return float(r.max() - r.min())
    return float(np.abs(r - overall).max())


def _ratio(rates: pd.Series, overall: float, method: str, what: str) -> float:
    check_choice(method, "method", METHODS)
    r = rates.to_numpy(dtype=np.float64)
    if method == "between_groups":
        if r.max() == 0:
            warn(f"{what} ratio is 0/0 (every group has {what} 0); returning NaN")
            return float("nan")
        return float(r.min() / r.max())
    with np.errstate(divide="ignore", invalid="ignore"):
        q = r / overall
        q = np.where(q > 1, 1.0 / q, q)
    if np.all(np.isnan(q)):
        warn(f"{what} ratio to overall is 0/0 for every group; returning NaN")
        return float("nan")
    return float(np.nanmin(q))


def _warn_degenerate(table: pd.DataFrame) -> None:
    no_pos = table.index[table["positives"] == 0].tolist()
    no_neg = table.index[table["negatives"] == 0].tolist()
    if no_pos:
        warn(f"group(s) {no_pos} have no positives: their TPR is set to 0, which can fake a disparity")
    if no_neg:
        warn(f"group(s) {no_neg} have no negatives: their FPR is set to 0, which can fake a disparity")


def _combine(parts: list[float], agg: str, worst) -> float:
    check_choice(agg, "agg", AGGS)
    vals = [p for p in parts if not np.isnan(p)]
    if not vals:
        return float("nan")
    return float(worst(vals) if agg == "worst_case" else np.mean(vals))


def selection_rates(y_true, y_pred, *, sensitive_features, sample_weight=None, pos_label=1) -> pd.Series:
    """SR_a = P(y_pred = pos_label | A = a) per group (y_true is ignored and may be None)."""
    return group_rates(y_true, y_pred, sensitive_features=sensitive_features, sample_weight=sample_weight,
                       pos_label=pos_label, need_labels=False)["selection_rate"]


def demographic_parity_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                                  sample_weight=None, pos_label=1, return_table=False):
    """DPD = max_a SR_a - min_a SR_a (``to_overall``: max_a |SR_a - SR|). In [0, 1], lower is fairer."""
    t = group_rates(y_true, y_pred, sensitive_features=sensitive_features, sample_weight=sample_weight,
                    pos_label=pos_label, need_labels=False)
    return with_table(_difference(t["selection_rate"], t.attrs["overall"]["selection_rate"], method), t, return_table)


def demographic_parity_ratio(y_true, y_pred, *, sensitive_features, method="between_groups",
                             sample_weight=None, pos_label=1, return_table=False):
    """DPR = min_a SR_a / max_a SR_a (nobody selected -> NaN). In [0, 1], 1 = parity. A constant classifier
    predicting 1 has DPR = 1: read it next to utility and the per-group table."""
    t = group_rates(y_true, y_pred, sensitive_features=sensitive_features, sample_weight=sample_weight,
                    pos_label=pos_label, need_labels=False)
    return with_table(_ratio(t["selection_rate"], t.attrs["overall"]["selection_rate"], method, "selection rate"),
                      t, return_table)


def demographic_disparity(y_true, y_pred, *, sensitive_features, sample_weight=None, pos_label=1,
                          return_table=False):
    """FWC's DD = |P(y_pred = 1 | D = 1) - P(y_pred = 1 | D = 0)|; for multi-valued or joint D, max - min over
    groups (= the demographic parity difference). Lower is fairer."""
    return demographic_parity_difference(y_true, y_pred, sensitive_features=sensitive_features,
                                         sample_weight=sample_weight, pos_label=pos_label, return_table=return_table)


def _eo_table(y_true, y_pred, sensitive_features, sample_weight, pos_label):
    t = group_rates(y_true, y_pred, sensitive_features=sensitive_features, sample_weight=sample_weight,
                    pos_label=pos_label)
    _check_binary(as_1d(y_true, "y_true"), "y_true", pos_label)
    _warn_degenerate(t)
    return t


def equalized_odds_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                              agg="worst_case", sample_weight=None, pos_label=1, return_table=False):
    """EOD = max(TPR difference, FPR difference) (``agg="mean"``: their mean). In [0, 1], lower is fairer."""
    t = _eo_table(y_true, y_pred, sensitive_features, sample_weight, pos_label)
    o = t.attrs["overall"]
    parts = [_difference(t["tpr"], o["tpr"], method), _difference(t["fpr"], o["fpr"], method)]
    return with_table(_combine(parts, agg, max), t, return_table)


def equalized_odds_ratio(y_true, y_pred, *, sensitive_features, method="between_groups",
                         agg="worst_case", sample_weight=None, pos_label=1, return_table=False):
    """EOR = min(TPR ratio, FPR ratio) (``agg="mean"``: their mean). In [0, 1], 1 = parity."""
    t = _eo_table(y_true, y_pred, sensitive_features, sample_weight, pos_label)
    o = t.attrs["overall"]
    parts = [_ratio(t["tpr"], o["tpr"], method, "TPR"), _ratio(t["fpr"], o["fpr"], method, "FPR")]
    return with_table(_combine(parts, agg, min), t, return_table)


def equal_opportunity_difference(y_true, y_pred, *, sensitive_features, method="between_groups",
                                 sample_weight=None, pos_label=1, return_table=False):
    """max_a TPR_a - min_a TPR_a (``to_overall``: max_a |TPR_a - TPR|)."""
    t = _eo_table(y_true, y_pred, sensitive_features, sample_weight, pos_label)
    return with_table(_difference(t["tpr"], t.attrs["overall"]["tpr"], method), t, return_table)


def equal_opportunity_ratio(y_true, y_pred, *, sensitive_features, method="between_groups",
                            sample_weight=None, pos_label=1, return_table=False):
    """min_a TPR_a / max_a TPR_a (max = 0 -> NaN)."""
    t = _eo_table(y_true, y_pred, sensitive_features, sample_weight, pos_label)
    return with_table(_ratio(t["tpr"], t.attrs["overall"]["tpr"], method, "TPR"), t, return_table)


def parity_violation(y, d, weights=None, p_target=None, *, return_table=False):
    """Data-level parity violation of a weighted set (FWC's constrained quantity, METRICS.md §4):

    J_max = max_{d, y} |p_w(y | d) / p_T(y) - 1|,   p_w(y | d) = sum_{d_j = d, y_j = y} w_j / sum_{d_j = d} w_j.

    ``y``: integer label codes. ``p_target``: the label marginal p_T of the full training split, as a sequence indexed
    by the label or a dict label -> probability; None uses the unweighted label marginal of ``y``. Groups with zero
    total weight and labels with p_T(y) = 0 are skipped. ``d`` is 1-D or N x k (joint groups).
    """
    y = as_labels(y, "y")
    codes, index = encode_groups(d)
    n = check_lengths(y=y, d=codes)
    w = as_weights(weights, n)
    labels = np.unique(y)
    if p_target is None:
        p_t = {c: float(np.mean(y == c)) for c in labels}
    elif isinstance(p_target, dict):
        p_t = {k: float(v) for k, v in p_target.items()}
    else:
        arr = np.asarray(p_target, dtype=np.float64)
        p_t = {i: float(v) for i, v in enumerate(arr)}
    missing = [c for c in labels if c not in p_t]
    if missing:
        raise ConfigError(f"p_target has no entry for label(s) {missing}; give one probability per label")
    g = len(index)
    tot = wcount(codes, w, None, g)
    rows = []
    for c, pc in sorted(p_t.items()):
        if pc <= 0:
            continue
        pw = safe_div(wcount(codes, w, y == c, g), tot)
        for gi in range(g):
            if tot[gi] > 0:
                rows.append((index[gi], c, pw[gi], pc, abs(pw[gi] / pc - 1.0)))
    table = pd.DataFrame(rows, columns=["group", "label", "p_w", "p_target", "violation"])
    value = float(table["violation"].max()) if len(table) else float("nan")
    if not len(table):
        warn("parity violation is undefined: no group has positive weight; returning NaN")
    return with_table(value, table, return_table)


def tradeoff(auc, dd, auc_std=None, dd_std=None):
    """FWC's fairness-utility trade-off: distance to the ideal point (AUC 1, DD 0), t = sqrt((1 - AUC)^2 + DD^2),
    with the propagated uncertainty dt = sqrt((DD/t * dDD)^2 + ((AUC - 1)/t * dAUC)^2).

    Returns ``(t, dt)``; dt is NaN when a standard deviation is not given or t = 0. Works elementwise on arrays.
    """
    a, d = np.asarray(auc, dtype=np.float64), np.asarray(dd, dtype=np.float64)
    t = np.hypot(1.0 - a, d)
    if auc_std is None or dd_std is None:
        dt = np.full_like(t, np.nan)
    else:
        sa, sd = np.asarray(auc_std, dtype=np.float64), np.asarray(dd_std, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            dt = np.where(t > 0, np.hypot(d / t * sd, (a - 1.0) / t * sa), np.nan)
    if t.ndim == 0:
        return float(t), float(dt)
    return t, dt
