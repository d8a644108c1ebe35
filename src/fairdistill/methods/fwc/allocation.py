"""Step 1 of FWC: fix the labels (d̂, ŷ) of the m coreset points (METHODS.md §6, step 1).

Cells g = (d, y) are numbered g = d·K + y (K labels). m_{d,y} ∝ n_{d,y} by largest remainder with at least one point
per non-empty cell (``fairdistill.methods.subsample.allocate``). A cell with no rows still needs a point, or the
parity constraints are infeasible: it gets exactly one, placed (by the caller) at the coordinate-wise median of X over
the rows of its group d, with a warning [project].
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ..subsample import allocate
from .encoding import Encoded


def cell_counts(enc: Encoded) -> np.ndarray:
    """n_{d,y} as a flat array over cells g = d·K + y."""
    return np.bincount(enc.d * enc.n_labels + enc.y, minlength=enc.n_groups * enc.n_labels)


def allocate_cells(m: int, enc: Encoded) -> np.ndarray:
    """Points per cell (sums to m; >= 1 per cell; <= n_{d,y} for non-empty cells; exactly 1 for empty cells)."""
    counts = cell_counts(enc)
    G = len(counts)
    if m < G:
        raise ConfigError(f"size gives m={m} coreset points but there are {G} (group, label) cells and each needs one; "
                          f"ask for at least {G} points")
    if m > enc.n:
        raise ConfigError(f"size gives m={m} coreset points but the data has only {enc.n} rows; ask for at most {enc.n}")
    empty = counts == 0
    full = {g: int(counts[g]) for g in np.flatnonzero(~empty)}
    out = np.zeros(G, dtype=np.int64)
    out[empty] = 1
    for g, k in allocate(m - int(empty.sum()), full, minimum=1).items():
        out[g] = k
    return out
