"""Input handling shared by the metric functions: arrays, weights, groups, warnings, per-group tables."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..dataset import integer_valued
from ..errors import DataError


class MetricWarning(UserWarning):
    """A metric is undefined (NaN) or rests on a degenerate group (no positives, no negatives, 0/0)."""


def warn(msg: str) -> None:
    warnings.warn(msg, MetricWarning, stacklevel=3)


def as_1d(a, name: str) -> np.ndarray:
    """A 1-D numpy array (pandas objects and lists accepted; an N x 1 column is squeezed)."""
    arr = np.asarray(a)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"{name} must be 1-D; got shape {arr.shape}")
    return arr


def as_labels(a, name: str) -> np.ndarray:
    """``as_1d`` for hard labels (``dataset.integer_valued``: ints, bools, or whole-number floats such as 0./1.);
    scores, NaN and text are DataErrors, so that a metric on labels (fairness, accuracy, ...) never silently reads
    scores as labels."""
    return integer_valued(as_1d(a, name), name, "label metrics need integer or boolean labels; encode them first "
                          f"(e.g. {name} == 'yes')", "label metrics need hard labels; threshold the scores first "
                          "(e.g. scores >= 0.5)")


def check_lengths(**arrays) -> int:
    lens = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lens.values())) > 1:
        raise DataError(f"inputs must have the same number of rows; got {lens}")
    return next(iter(lens.values())) if lens else 0


def as_weights(sample_weight, n: int) -> np.ndarray:
    """Float64 weights of length ``n`` (ones when None); negative or non-finite weights are rejected."""
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    w = as_1d(sample_weight, "sample_weight").astype(np.float64)
    if len(w) != n:
        raise DataError(f"sample_weight has {len(w)} entries for {n} rows; give one weight per row")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError("sample_weight must be finite and non-negative; found a negative, NaN or inf weight")
    return w


def weighted_groups(sensitive_features, sample_weight, **arrays: np.ndarray):
    """Group codes, group index, weights and the named label ``arrays`` (checked as hard labels by ``as_labels``,
    length-checked against the groups, at least one row) restricted to the rows of positive weight: a group whose rows
    all weigh 0 does not exist (fairlearn's MetricFrame drops it too). Returns (codes, index, w, *arrays in the order
    given). Every fairness metric reads its y_true / y_pred through here."""
    arrays = {k: as_labels(v, k) for k, v in arrays.items()}
    codes, index = encode_groups(sensitive_features)
    n = check_lengths(**arrays, sensitive_features=codes)
    if n == 0:
        raise DataError("no rows to evaluate; give at least one row")
    w = as_weights(sample_weight, n)
    keep = w > 0
    if keep.all():
        return (codes, index, w, *arrays.values())
    if not keep.any():
        raise DataError("every sample_weight is 0; give at least one row a positive weight")
    if isinstance(sensitive_features, (pd.DataFrame, pd.Series)):
        kept = sensitive_features[keep]
    else:
        kept = np.asarray(sensitive_features)[keep]
    codes, index = encode_groups(kept)
    return (codes, index, w[keep], *(a[keep] for a in arrays.values()))


def encode_groups(sensitive_features) -> tuple[np.ndarray, pd.Index]:
    """Map rows of ``sensitive_features`` (1-D, or N x k for intersectional groups) to group codes.

    Returns ``codes`` (int64, one per row, indexing the groups present in sorted order) and a pandas Index
    (a MultiIndex for k > 1 columns, named after DataFrame columns when given) of the group values.
    """
    names = None
    if isinstance(sensitive_features, pd.DataFrame):
        names = [str(c) for c in sensitive_features.columns]
        cols = [sensitive_features[c].to_numpy() for c in sensitive_features.columns]
    elif isinstance(sensitive_features, pd.Series):
        names = [str(sensitive_features.name)] if sensitive_features.name is not None else None
        cols = [sensitive_features.to_numpy()]
    else:
        arr = np.asarray(sensitive_features)
        if arr.ndim == 1:
            cols = [arr]
        elif arr.ndim == 2:
            cols = [arr[:, j] for j in range(arr.shape[1])]
        else:
            raise DataError(f"sensitive_features must be 1-D or N x k; got shape {arr.shape}")
    if not cols or len(cols[0]) == 0:
        return np.zeros(0, dtype=np.int64), pd.Index([])
    uniques, per_col = [], []
    for c in cols:
        if pd.isna(c).any():  # NaN / None / NaT would otherwise form a group of its own
            raise DataError(f"sensitive_features has {int(pd.isna(c).sum())} missing value(s); fill them or drop "
                            f"those rows first")
        try:
            u, inv = np.unique(c, return_inverse=True)
        except TypeError:  # values that cannot be ordered: None beside text, numbers beside text
            kinds = sorted({type(v).__name__ for v in c})
            raise DataError(f"sensitive_features mixes values of types {kinds}; give one type per column (e.g. "
                            f"fill missing values, or convert them all to text)") from None
        uniques.append(u)
        per_col.append(inv.reshape(-1))
    combos, codes = np.unique(np.stack(per_col, axis=1), axis=0, return_inverse=True)
    values = [[u[i] for i in combos[:, j]] for j, u in enumerate(uniques)]
    if len(cols) == 1:
        index = pd.Index(values[0], name=names[0] if names else "group")
    else:
        index = pd.MultiIndex.from_arrays(values, names=names or [f"s{j}" for j in range(len(cols))])
    return codes.reshape(-1).astype(np.int64), index


def wcount(codes: np.ndarray, weights: np.ndarray, mask: np.ndarray | None, n_groups: int) -> np.ndarray:
    """Weighted count per group of the rows where ``mask`` holds."""
    w = weights if mask is None else weights * mask
    return np.bincount(codes, weights=w, minlength=n_groups).astype(np.float64)


def safe_div(num, den, zero_value=np.nan):
    """Elementwise num / den with ``zero_value`` where den == 0."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, zero_value, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def with_table(value: float, table: pd.DataFrame, return_table: bool):
    return (value, table) if return_table else value
