"""Intersectional metrics (METRICS.md §5): smoothed per-group rates, Differential Fairness, IF_alpha, bootstrap.

Groups are the row tuples of ``sensitive_features`` present in the rows. With TP_g = #{y_pred = 1, y = 1, g} and
P_g = #{y = 1, g} (``rate="fpr"``: y = 0 instead of y = 1), the smoothed rate is
  reference (arXiv 2405.14521 / 2305.12495 code): m(g) = (TP_g + 2) / (P_g + 4)
  foulds (Dirichlet, concentration 1):             m(g) = (TP_g + 0.5) / (P_g + 1)
  none:                                            m(g) = TP_g / P_g, groups with P_g = 0 left out.
All logs are natural.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, check_choice
from ._common import (MetricWarning, as_1d, check_lengths, safe_div, warn, wcount, weighted_groups,
                      with_table)

SMOOTHING = {"reference": (2.0, 4.0), "foulds": (0.5, 1.0), "none": (0.0, 0.0)}
RATES = ("tpr", "fpr")
MODES = ("tpr", "eo")


def group_tpr(y_true, y_pred, *, sensitive_features, smoothing="reference", rate="tpr", sample_weight=None,
              pos_label=1) -> pd.DataFrame:
    """Per-group table: ``n`` (rows with the condition y = 1, or y = 0 for FPR), ``hits`` (of those, y_pred = 1),
    ``raw`` = hits / n (NaN when n = 0) and ``rate`` = the smoothed rate (NaN for n = 0 when smoothing="none")."""
    check_choice(smoothing, "smoothing", tuple(SMOOTHING))
    check_choice(rate, "rate", RATES)
    codes, index, w, y_true, y_pred = weighted_groups(sensitive_features, sample_weight, y_true=y_true,
                                                      y_pred=y_pred)
    cond = (y_true == pos_label) if rate == "tpr" else (y_true != pos_label)
    cnt = wcount(codes, w, cond, len(index))
    hits = wcount(codes, w, cond & (y_pred == pos_label), len(index))
    a, b = SMOOTHING[smoothing]
    return pd.DataFrame({"n": cnt, "hits": hits, "raw": safe_div(hits, cnt), "rate": safe_div(hits + a, cnt + b)},
                        index=index)


def _rates(y_true, y_pred, sensitive_features, smoothing, rate, sample_weight) -> tuple[np.ndarray, pd.DataFrame]:
    t = group_tpr(y_true, y_pred, sensitive_features=sensitive_features, smoothing=smoothing, rate=rate,
                  sample_weight=sample_weight)
    m = t["rate"].to_numpy()
    dropped = int(np.isnan(m).sum())
    if dropped:
        warn(f"{dropped} group(s) have no rows with the {rate.upper()} condition and are left out (smoothing='none')")
    return m[~np.isnan(m)], t


def _log_ratio(m: np.ndarray, what: str) -> float:
    if len(m) == 0:
        warn(f"{what} is undefined: no group has a defined rate; returning NaN")
        return float("nan")
    hi, lo = m.max(), m.min()
    if hi == 0:
        warn(f"{what} is log(0/0): every group has rate 0; returning NaN")
        return float("nan")
    if lo == 0:
        warn(f"{what} is +inf: a group has rate 0 (use smoothing to keep rates inside (0, 1))")
        return float("inf")
    return float(np.log(hi / lo))


def _per_mode(fn, mode, y_true, y_pred, sensitive_features, smoothing, sample_weight, return_table):
    """Evaluate ``fn(rates, rate_name)`` on TPR (mode "tpr") or on TPR and FPR, keeping the larger (mode "eo")."""
    check_choice(mode, "mode", MODES)
    values, tables = [], {}
    for rate in ("tpr",) if mode == "tpr" else ("tpr", "fpr"):
        m, t = _rates(y_true, y_pred, sensitive_features, smoothing, rate, sample_weight)
        values.append(fn(m, rate))
        tables[rate] = t
    value = float(np.max(values)) if not np.any(np.isnan(values)) else float("nan")
    table = tables["tpr"] if mode == "tpr" else pd.concat(tables, axis=1)
    return with_table(value, table, return_table)


def differential_fairness(y_true, y_pred, *, sensitive_features, smoothing="reference", mode="tpr",
                          sample_weight=None, return_table=False):
    """DF = log(max_g m(g) / min_g m(g)) on the smoothed TPR (``mode="eo"``: the larger of DF on TPR and on FPR).
    >= 0, lower is fairer."""
    return _per_mode(lambda m, r: _log_ratio(m, f"DF on {r.upper()}"), mode, y_true, y_pred, sensitive_features,
                     smoothing, sample_weight, return_table)


def differential_fairness_outcomes(y_true, y_pred, *, sensitive_features, concentration=1.0, sample_weight=None,
                                   return_table=False):
    """Foulds et al.'s smoothed epsilon-DF on outcomes (y_true is ignored):
    P(y | g) = (N_{y,g} + concentration/|Y|) / (N_g + concentration) over the outcomes Y = {0, 1} united with the
    predicted labels; eps = max over y and group pairs of |log P(y | g) - log P(y | g')|."""
    codes, index, w, y_pred = weighted_groups(sensitive_features, sample_weight, y_pred=y_pred)
    outcomes = np.union1d(np.unique(y_pred), [0, 1])
    alpha = concentration / len(outcomes)
    tot = wcount(codes, w, None, len(index))
    probs = {f"p_{o}": safe_div(wcount(codes, w, y_pred == o, len(index)) + alpha, tot + concentration)
             for o in outcomes}
    table = pd.DataFrame({"n": tot, **probs}, index=index)
    logp = np.log(table[list(probs)].to_numpy())
    if np.any(~np.isfinite(logp)):
        warn("a smoothed outcome probability is 0 (concentration=0): epsilon is +inf or NaN")
    value = float(np.max(logp.max(axis=0) - logp.min(axis=0))) if len(index) else float("nan")
    return with_table(value, table, return_table)


def worst_group_tpr(y_true, y_pred, *, sensitive_features, smoothing="reference", rate="tpr", sample_weight=None,
                    return_table=False):
    """min_g m(g), the worst-off group's smoothed rate (the table also has the raw rates)."""
    m, t = _rates(y_true, y_pred, sensitive_features, smoothing, rate, sample_weight)
    return with_table(float(m.min()) if len(m) else float("nan"), t, return_table)


def best_group_tpr(y_true, y_pred, *, sensitive_features, smoothing="reference", rate="tpr", sample_weight=None,
                   return_table=False):
    """max_g m(g), the best-off group's smoothed rate (the table also has the raw rates)."""
    m, t = _rates(y_true, y_pred, sensitive_features, smoothing, rate, sample_weight)
    return with_table(float(m.max()) if len(m) else float("nan"), t, return_table)


def _harms(m: np.ndarray, rate: str) -> np.ndarray:
    """harm(g) = 1 - TPR (the FNR) for TPR; for FPR the rate is mapped to TNR = 1 - FPR first, so harm = FPR."""
    return 1.0 - m if rate == "tpr" else m


def _check_alpha(alpha: float) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha={alpha!r} must be a number in [0, 1]; give a value in [0, 1]")


def _if_project(harm: np.ndarray, alpha: float) -> float:
    if len(harm) == 0:
        warn("IF_alpha is undefined: no group has a defined rate; returning NaN")
        return float("nan")
    worst, best = harm.max(), harm.min()
    if alpha == 1.0:  # no relative term: the worst group's harm, defined even when a harm is 0
        return float(worst)
    if worst == 0:
        warn("IF_alpha is 0/0: every group has harm 0; returning NaN")
        return float("nan")
    if best == 0:
        warn("IF_alpha is +inf: a group has harm 0 (use smoothing to keep rates inside (0, 1))")
        return float("inf")
    return float(alpha * worst + (1.0 - alpha) * worst / best)


def if_alpha(y_true, y_pred, *, sensitive_features, alpha=0.5, smoothing="reference", mode="tpr",
             sample_weight=None, return_table=False):
    """alpha-Intersectional Fairness, the project's reading of Maheshwari et al. (EMNLP 2023):

    harm(g) = 1 - m(g); IF_alpha = alpha * harm_worst + (1 - alpha) * harm_worst / harm_best, with
    harm_worst = max_g harm(g), harm_best = min_g harm(g). Lower is fairer; alpha = 1 is the worst group's harm,
    alpha = 0 a purely relative (DF-like) measure. ``mode="eo"``: the larger of the values on TPR harms (FNR) and on
    FPR harms (1 - TNR). With smoothing="none" and alpha < 1 a group with harm 0 gives +inf (warned).
    """
    _check_alpha(alpha)
    return _per_mode(lambda m, r: _if_project(_harms(m, r), alpha), mode, y_true, y_pred, sensitive_features,
                     smoothing, sample_weight, return_table)


def _if_reference(harm: np.ndarray, alpha: float) -> float:
    if len(harm) == 0 or harm.max() == 0:
        warn("IF_alpha (reference) is undefined: no group has positive harm; returning NaN")
        return float("nan")
    return float(alpha * harm.max() + (1.0 - alpha) * harm.min() / harm.max())


def if_alpha_reference(y_true, y_pred, *, sensitive_features, alpha=0.5, smoothing="reference", mode="tpr",
                       sample_weight=None, return_table=False):
    """IF_alpha as the authors' code computes it (function ``if_alpha``, printed as "IF-0.5"), for cross-checks only:
    alpha * harm_worst + (1 - alpha) * harm_best / harm_worst.

    WARNING: its relative part *decreases* as the disparity grows (the ratio is inverted with respect to the paper's
    description); the project's metric is :func:`if_alpha`. ``mode="eo"`` maps FPR to TNR = 1 - FPR before taking
    harms and keeps the larger of the TPR and FPR values.
    """
    _check_alpha(alpha)
    return _per_mode(lambda m, r: _if_reference(_harms(m, r), alpha), mode, y_true, y_pred, sensitive_features,
                     smoothing, sample_weight, return_table)


def if_alpha_from_rates(worst: float, best: float, *, alpha: float = 0.5, reference: bool = False) -> float:
    """IF_alpha from the worst and best group's (smoothed) TPR alone, which is all either reading depends on:
    harm_worst = 1 - worst, harm_best = 1 - best; :func:`if_alpha` (``reference=False``) or
    :func:`if_alpha_reference` (``True``). For summaries that kept the two rates but not the predictions."""
    _check_alpha(alpha)
    harm = 1.0 - np.array([worst, best], dtype=float)
    return (_if_reference if reference else _if_project)(harm, alpha)


def bootstrap(metric_fn: Callable, y_true, y_pred, sensitive_features, n: int = 1000, seed: int = 0,
              **kwargs) -> tuple[float, float, float]:
    """Resample the rows ``n`` times with replacement (``numpy.random.default_rng(seed)``), evaluate
    ``metric_fn(y_true[idx], y_pred[idx], sensitive_features=sf[idx], **kwargs)`` on each resample and return
    (mean, 5th percentile, 95th percentile), ignoring resamples where the metric is NaN (an infinite value is kept)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ConfigError(f"n={n!r} must be a whole number of resamples >= 1")
    y_true, y_pred = as_1d(y_true, "y_true"), as_1d(y_pred, "y_pred")
    sf = sensitive_features.to_numpy() if isinstance(sensitive_features, (pd.Series, pd.DataFrame)) \
        else np.asarray(sensitive_features)
    rows = check_lengths(y_true=y_true, y_pred=y_pred, sensitive_features=sf)
    if rows == 0:
        raise DataError("no rows to resample; give at least one row")
    rng = np.random.default_rng(seed)
    vals = np.empty(n, dtype=np.float64)
    with warnings.catch_warnings():  # degenerate resamples are expected; they show up as NaN / inf values
        warnings.simplefilter("ignore", MetricWarning)
        for i in range(n):
            idx = rng.integers(0, rows, size=rows)
            vals[i] = metric_fn(y_true[idx], y_pred[idx], sensitive_features=sf[idx], **kwargs)
    finite = vals[~np.isnan(vals)]
    if len(finite) == 0:
        warn("the metric is NaN on every bootstrap resample; returning NaN")
        return float("nan"), float("nan"), float("nan")
    # interpolated percentiles; an end that interpolates between infinite values (DF without smoothing) is NaN
    # (inf - inf), and takes the nearest order statistic instead, inf
    with np.errstate(invalid="ignore"):
        ends = np.percentile(finite, [5, 95])
    nearest = np.percentile(finite, [5, 95], method="inverted_cdf")
    lo, hi = np.where(np.isnan(ends), nearest, ends)
    return float(finite.mean()), float(lo), float(hi)
