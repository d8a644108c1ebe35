"""FWC's L1 feature update: coordinate-wise weighted medians of the rows each coreset point serves (mm.py).

x̂_jk = the smallest value v of column k with Σ_{i -> j, X_ik <= v} P_ij >= ½ Σ_{i -> j} P_ij, which minimises
Σ_i P_ij |X_ik − v| (the L1 surrogate is separable over points and coordinates).
"""
from __future__ import annotations

import numpy as np

from ...jit import kernel
from .parallel import parallel_map


def weighted_median(V: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Coordinate-wise weighted median of the rows of V (s x p): per column the smallest value whose cumulative
    weight reaches half the total."""
    V = np.asarray(V, dtype=np.float64)
    o = np.argsort(V, axis=0, kind="stable")
    cw = np.cumsum(np.asarray(w, dtype=np.float64)[o], axis=0)
    idx = np.argmax(cw >= 0.5 * cw[-1], axis=0)
    cols = np.arange(V.shape[1])
    return V[o[idx, cols], cols]


@kernel
def _column_medians(order, vals, key, w, unit, target, out):
    """One column: walk its rows in value order (``order``, values ``vals``) adding each row's weight (1 where
    ``unit``, else w_i) to its point key_i (rows with key_i < 0 skipped); out[j] = the value at which point j's sum
    first reaches target[j]."""
    acc = np.zeros(len(target))
    for r in range(len(order)):
        i = order[r]
        j = key[i]
        if j < 0 or acc[j] >= target[j]:
            continue
        acc[j] += 1.0 if unit else w[i]
        if acc[j] >= target[j]:
            out[j] = vals[r]


class MedianUpdater:
    """Weighted medians for all points at once. Each column is sorted once (``__init__``); per iteration one pass
    over every column in value order finds all points' medians together (O(n) per column, columns in parallel on
    ``parallel_map``'s threads; the pass reads the rows' point indices in random order, so they are kept as int16
    when m allows, and the weights are not read at all when every row is whole, the usual case). Rows split over
    several points (at most a few) send their points through ``weighted_median``. The column sorts need not be
    stable: equal values are interchangeable, and the cumulative weight before and after a run of equal values does
    not depend on their order, so the median value does not either. With fractional weights the half total and the
    running sums are added in different orders, so where a running sum lands exactly on half the total the result
    may be the next value instead (both minimise the L1 sum)."""

    def __init__(self, X: np.ndarray):
        self.X = X
        itype = np.int32 if len(X) < 2 ** 31 else np.int64
        cols = np.ascontiguousarray(X.T)
        order = parallel_map(lambda v: np.argsort(v).astype(itype), cols)  # tie order is irrelevant (see class doc)
        self.order = np.stack(order)
        self.vals = np.stack([v[o] for v, o in zip(cols, order)])

    def __call__(self, rows, pts, w, centers: np.ndarray) -> np.ndarray:
        n, m = len(self.X), len(centers)  # triplets: the first n are row i's main assignment
        out = centers.copy()
        main_j = pts[:n]
        extra_rows, extra_j, extra_w = rows[n:], pts[n:], w[n:]
        split = np.zeros(n, bool)
        split[extra_rows] = True
        affected = np.unique(np.concatenate([extra_j, main_j[split]]))
        main_w = np.asarray(w[:n], dtype=np.float64)
        skip = split | (main_w <= 0) | np.isin(main_j, affected)
        key = main_j.astype(np.int16 if m < 2 ** 15 else np.int64)
        key[skip] = -1
        target = 0.5 * np.bincount(main_j[~skip], weights=main_w[~skip], minlength=m)
        unit = bool(np.all(main_w[~skip] == 1.0))
        if np.any(target > 0):
            cols = np.ascontiguousarray(out.T)
            parallel_map(lambda k: _column_medians(self.order[k], self.vals[k], key, main_w, unit, target, cols[k]),
                         range(self.X.shape[1]))
            out = np.ascontiguousarray(cols.T)
        for j in affected:
            sel = np.flatnonzero((main_j == j) & (w[:n] > 0))
            xs = np.flatnonzero(extra_j == j)
            r = np.concatenate([sel, extra_rows[xs]])
            ww = np.concatenate([w[sel], extra_w[xs]])
            if ww.sum() > 0:
                out[j] = weighted_median(self.X[r], ww)
        return out
