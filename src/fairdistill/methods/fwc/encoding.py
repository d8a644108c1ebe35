"""The encoded space Z = (D, X, Y) in which FWC measures transport cost (METHODS.md §6, pitfalls).

D is the sensitive group (the joint tuple of several axes, or one axis), Y the label. A discrete coordinate with two
values is one 0/1 column; one with k > 2 values is a one-hot block scaled so that a mismatch costs exactly 1:
by 1/2 under the L1 cost (two entries differ by 1/2) and by 1/sqrt(2) under the squared L2 cost (two entries
differ by 1/2 after squaring). Hence, for any cost,

    c(Z_i, Z_j) = c_X(X_i, X_j) + 1[D_i != D_j] + 1[Y_i != Y_j],

which is what the solver computes (cheaper than the full Z), and ``Encoded.z`` gives the literal vectors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...dataset import FairDataset, group_ids, select_axes
from ...errors import DataError, check_choice

COSTS = ("l1", "sqeuclidean")


def block_width(k: int) -> int:
    """Columns used to code a discrete coordinate with k values: 1 for k <= 2, else k (one-hot)."""
    return 1 if k <= 2 else int(k)


def code_block(values: np.ndarray, k: int, cost: str) -> np.ndarray:
    """Code integer values in 0..k-1 as one 0/1 column (k <= 2) or a scaled one-hot block (k > 2)."""
    values = np.asarray(values, dtype=np.int64).reshape(-1)
    if block_width(k) == 1:
        return values.astype(np.float64)[:, None]
    scale = 0.5 if cost == "l1" else 1.0 / np.sqrt(2.0)
    return np.eye(k)[values] * scale


def pairwise_cost(a: np.ndarray, b: np.ndarray, cost: str) -> np.ndarray:
    """Dense cost matrix between rows of ``a`` and ``b`` (small inputs only; tests and reference computations)."""
    diff = np.asarray(a, np.float64)[:, None, :] - np.asarray(b, np.float64)[None, :, :]
    return np.abs(diff).sum(-1) if cost == "l1" else (diff * diff).sum(-1)


@dataclass
class Encoded:
    """Rows of a dataset in FWC's terms.

    ``X`` (n x p float64), ``d`` group index per row (0..n_groups-1, indexing ``group_tuples``), ``y`` label index per
    row (0..n_labels-1, indexing ``labels``), ``axes`` the sensitive columns that form D, ``p_target`` the label
    marginal p_T(y) over ``labels`` (classes with no row are dropped).
    """

    X: np.ndarray
    d: np.ndarray
    y: np.ndarray
    group_tuples: list[tuple[int, ...]]
    labels: np.ndarray
    axes: list[int]
    p_target: np.ndarray
    cost: str

    @property
    def n(self) -> int:
        return len(self.X)

    @property
    def n_groups(self) -> int:
        return len(self.group_tuples)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def cells(self) -> np.ndarray:
        """Cell index g = d·K + y of every row (K labels)."""
        return self.d * self.n_labels + self.y

    @property
    def x_slice(self) -> slice:
        """The columns of ``z()`` that hold X (after the D block)."""
        start = block_width(self.n_groups)
        return slice(start, start + self.X.shape[1])

    def z(self, X: np.ndarray | None = None, d: np.ndarray | None = None, y: np.ndarray | None = None) -> np.ndarray:
        """The literal Z = (D, X, Y) vectors of the data rows, or of given (X, d, y) (e.g. coreset points)."""
        X = self.X if X is None else np.asarray(X, np.float64)
        d = self.d if d is None else d
        y = self.y if y is None else y
        return np.hstack([code_block(d, self.n_groups, self.cost), X, code_block(y, self.n_labels, self.cost)])

    def sensitive_codes(self, d: np.ndarray, n_axes: int) -> np.ndarray:
        """Per-axis sensitive codes (N x n_axes) of group indices ``d``; axes outside D are -1 (unassigned)."""
        out = np.full((len(d), n_axes), -1, dtype=np.int64)
        tuples = np.asarray(self.group_tuples, dtype=np.int64).reshape(self.n_groups, -1)
        out[:, self.axes] = tuples[np.asarray(d, dtype=np.int64)]
        return out


def encode(data: FairDataset, groups: str = "joint", cost: str = "l1") -> Encoded:
    """Encode a tabular FairDataset; D is the joint tuple of the chosen axes ("joint" or "single:<axis>")."""
    check_choice(cost, "cost", COSTS)
    if data.modality != "tabular":
        raise DataError(f"coresets need tabular data; {data.name} is {data.modality}")
    X = np.asarray(data.X, dtype=np.float64).reshape(len(data), -1)
    if not np.all(np.isfinite(X)):
        bad = int((~np.isfinite(X)).any(axis=1).sum())
        raise DataError(f"{data.name}: X has NaN or infinite values in {bad} rows; impute or drop them first")
    axes = select_axes(data.sensitive_names, groups)
    s = data.s[:, axes]
    if np.any(s < 0):
        raise DataError(f"{data.name}: sensitive codes must be >= 0 for a coreset (found unassigned rows); drop them "
                        "first")
    d, tuples = group_ids(s)
    labels, y = np.unique(data.y, return_inverse=True)
    if len(labels) < 2:
        raise DataError(f"{data.name}: every row has label {int(labels[0])}; a coreset over (group, label) cells "
                        "needs at least two classes: give data with at least two labels")
    p_target = np.bincount(y, minlength=len(labels)) / len(y)
    return Encoded(X=X, d=d, y=y.reshape(-1).astype(np.int64), group_tuples=tuples, labels=labels, axes=axes,
                   p_target=p_target, cost=cost)
