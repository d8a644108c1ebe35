"""Utility metrics (METRICS.md §1). All counts are weighted: count = sum of ``sample_weight`` (default 1). Labels and
predictions are integer or boolean codes (``_common.as_labels``: text and scores are refused; AUC takes scores)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from ..errors import DataError, check_choice
from ._common import as_labels, as_weights, check_lengths, safe_div, warn


def _prepare(y_true, y_pred, sample_weight):
    y_true, y_pred = as_labels(y_true, "y_true"), as_labels(y_pred, "y_pred")
    n = check_lengths(y_true=y_true, y_pred=y_pred)
    return y_true, y_pred, as_weights(sample_weight, n)


def accuracy(y_true, y_pred, *, sample_weight=None) -> float:
    """sum w 1[y_pred = y_true] / sum w (a fraction; FairDD reports it x100). No rows -> NaN."""
    y_true, y_pred, w = _prepare(y_true, y_pred, sample_weight)
    if w.sum() == 0:
        warn("accuracy of an empty (or zero-weight) set is undefined; returning NaN")
        return float("nan")
    return float(np.dot(w, y_true == y_pred) / w.sum())


def balanced_accuracy(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean over the classes c present in y_true of recall_c = P(y_pred = c | y_true = c) (scikit-learn,
    ``adjusted=False``); classes that occur only in y_pred are ignored. No rows -> NaN."""
    y_true, y_pred, w = _prepare(y_true, y_pred, sample_weight)
    classes = [c for c in np.unique(y_true) if w[y_true == c].sum() > 0]
    if not classes:
        warn("balanced accuracy of an empty (or zero-weight) set is undefined; returning NaN")
        return float("nan")
    recalls = [np.dot(w[y_true == c], y_pred[y_true == c] == c) / w[y_true == c].sum() for c in classes]
    return float(np.mean(recalls))


def _binary_counts(y_true, y_pred, w, pos_label):
    t, p = y_true == pos_label, y_pred == pos_label
    return np.dot(w, t & p), np.dot(w, ~t & p), np.dot(w, t & ~p)  # TP, FP, FN


def recall(y_true, y_pred, *, pos_label=1, sample_weight=None) -> float:
    """TP / (TP + FN) for ``pos_label``; 0/0 -> 0.0 (scikit-learn's ``zero_division=0``)."""
    y_true, y_pred, w = _prepare(y_true, y_pred, sample_weight)
    tp, _, fn = _binary_counts(y_true, y_pred, w, pos_label)
    return float(safe_div(tp, tp + fn, 0.0))


def f1(y_true, y_pred, *, pos_label=1, sample_weight=None, average: str | None = None) -> float:
    """``average="binary"``: 2TP / (2TP + FP + FN) for ``pos_label``, 0/0 -> 0.0. ``"macro"``: the mean of that over
    the labels present in y_true or y_pred, each one-vs-rest. None guesses from the labels present (binary when
    they are within {0, 1} or {pos_label, other}); a caller that knows the task should say, since a multiclass
    subset may hold only two labels."""
    check_choice(average, "average", ("binary", "macro", None))
    y_true, y_pred, w = _prepare(y_true, y_pred, sample_weight)
    labels = np.union1d(y_true, y_pred)
    binary = average == "binary" or (average is None and len(labels) <= 2
                                      and (pos_label in labels or len(labels) < 2))
    targets = [pos_label] if binary else list(labels)
    scores = []
    for c in targets:
        tp, fp, fn = _binary_counts(y_true, y_pred, w, c)
        scores.append(safe_div(2 * tp, 2 * tp + fp + fn, 0.0))
    return float(np.mean(scores)) if scores else 0.0


def auc(y_true, scores, *, sample_weight=None) -> float:
    """ROC AUC on scores, never on hard labels.

    Binary (y_true in {0, 1}): ``scores`` is the positive-class score (1-D) or an N x 2 probability matrix (column 1
    is used); AUC = P(score of a random positive > score of a random negative), ties counting 1/2.
    Multiclass: ``scores`` is N x C (column c = score of class c, classes coded 0..C-1); the macro average of the
    one-vs-rest AUCs over the classes that have both positives and negatives in y_true.
    Only one class in y_true -> NaN (with a warning).
    """
    y_true = as_labels(y_true, "y_true")
    s = np.asarray(scores, dtype=np.float64)
    n = check_lengths(y_true=y_true, scores=s)
    if not np.all(np.isfinite(s)):
        raise DataError(f"scores hold NaN or inf in {int((~np.isfinite(s)).sum())} entries; AUC needs finite scores")
    w = as_weights(sample_weight, n)
    present = np.unique(y_true[w > 0])
    if len(present) < 2:
        warn(f"AUC needs both classes in y_true; found only {present.tolist()}; returning NaN")
        return float("nan")
    if s.ndim == 1 or (s.ndim == 2 and s.shape[1] == 2 and set(present.tolist()) <= {0, 1}):
        pos = s if s.ndim == 1 else s[:, 1]
        if not set(present.tolist()) <= {0, 1}:
            raise DataError(f"a 1-D score needs binary labels in {{0, 1}}; got classes {present.tolist()}")
        return float(roc_auc_score(y_true == 1, pos, sample_weight=w))
    if s.ndim != 2:
        raise DataError(f"scores must be 1-D or N x C; got shape {s.shape}")
    if present.min() < 0 or present.max() >= s.shape[1]:
        raise DataError(f"labels must be coded 0..{s.shape[1] - 1} to match {s.shape[1]} score columns; "
                        f"got {present.tolist()}")
    per_class = []
    for c in range(s.shape[1]):
        t = y_true == c
        if w[t].sum() > 0 and w[~t].sum() > 0:
            per_class.append(roc_auc_score(t, s[:, c], sample_weight=w))
    if len(per_class) < s.shape[1]:
        warn(f"{s.shape[1] - len(per_class)} class(es) absent from y_true are left out of the macro AUC")
    return float(np.mean(per_class))
