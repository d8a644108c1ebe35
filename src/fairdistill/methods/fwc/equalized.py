"""Experimental equalized-odds-style constraints for FWC (METHODS.md §6, "Beyond the paper").

A fixed auxiliary classifier h (logistic regression X -> y on the training rows, binary labels) splits every
(group, label) cell into cells (d, y, v) by v = h(x̂_j) of its points. On top of the parity rows, for every d and y

    |p_θ(h = 1 | y, d) / q_y − 1| <= ε_eo,   p_θ(h = 1 | y, d) = T_{d,y,1} / (T_{d,y,0} + T_{d,y,1}),
    q_y = p_T(h = 1 | y) (the share of training rows of label y that h calls positive),

that is the rows (1 + ε) q_y (T_{d,y,0} + T_{d,y,1}) − T_{d,y,1} >= 0 and T_{d,y,1} − (1 − ε) q_y (T_{d,y,0} +
T_{d,y,1}) >= 0: linear in the cell totals, so the dual solver is unchanged. h(x̂_j) changes when the points move,
so the cells are recomputed every MM iteration (``run_mm(refine=...)``) and the objective is no longer monotone.
A (d, y) cell whose points all fall on one side of h cannot meet its two rows. When training rows of (d, y) lie on
the other side, its point nearest the decision boundary is moved to their mean (which h puts on that side: h is
linear and the mean is a convex combination), like an empty k-means cluster; otherwise (or with a single point)
the rows are left out for that iteration and reported (``Cells.dropped``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import ConfigError
from ...seeding import random_state
from .dual import fairness_matrix


@dataclass
class Cells:
    """Refined cells: ``order`` lists the point indices grouped by cell (cell k holds ``order[cell_start[k]:
    cell_start[k+1]]``), ``cell_dy`` (G' x 2) the (group, label) and ``cell_v`` the h value of each cell, ``A`` the
    constraint rows over the G' cells, ``dropped`` the (group, label) cells whose h rows were left out."""

    order: np.ndarray
    cell_start: np.ndarray
    cell_dy: np.ndarray
    cell_v: np.ndarray
    A: np.ndarray
    dropped: list = field(default_factory=list)
    centers: np.ndarray | None = None  # the points after re-seeding one-sided cells (None: unchanged)

    def same_as(self, other: "Cells") -> bool:
        return np.array_equal(self.order, other.order) and np.array_equal(self.cell_start, other.cell_start)


def odds_rows(q: np.ndarray, cell_dy: np.ndarray, cell_v: np.ndarray, epsilon: float) -> tuple[np.ndarray, list]:
    """The two rows per (group, label) cell that has points on both sides of h (see module doc), and the cells
    that do not."""
    G = len(cell_dy)
    rows, dropped = [], []
    for dd, yy in sorted({(int(a), int(b)) for a, b in cell_dy}):
        mine = (cell_dy[:, 0] == dd) & (cell_dy[:, 1] == yy)
        if not (np.any(mine & (cell_v == 0)) and np.any(mine & (cell_v == 1))):
            dropped.append((dd, yy))
            continue
        pos = mine & (cell_v == 1)
        upper, lower = np.zeros(G), np.zeros(G)
        upper[mine] = (1.0 + epsilon) * q[yy]
        upper[pos] -= 1.0
        lower[mine] = -(1.0 - epsilon) * q[yy]
        lower[pos] += 1.0
        rows += [upper, lower]
    return np.array(rows).reshape(-1, G), dropped


class EqualizedOdds:
    """``run_mm``'s ``refine`` for the rows above; the parity rows (``fairness_matrix`` at ``epsilon``) stay."""

    def __init__(self, X: np.ndarray, d: np.ndarray, y: np.ndarray, point_cell: np.ndarray, n_groups: int,
                 p_target: np.ndarray, epsilon: float, eo_epsilon: float, seed: int = 0):
        from sklearn.linear_model import LogisticRegression

        if len(p_target) != 2:
            raise ConfigError(f"constraint='eo' needs binary labels (this data has {len(p_target)}); use "
                              "constraint='dp'")
        self.h = LogisticRegression(max_iter=1000, random_state=random_state(seed)).fit(X, y)
        pred = self.h.predict(X)
        self.q = np.array([pred[y == k].mean() for k in range(2)])
        row_cell = 2 * (np.asarray(d, dtype=np.int64) * 2 + np.asarray(y)) + pred  # (d, y, v) of every row
        self.means = {int(c): X[row_cell == c].mean(0) for c in np.unique(row_cell)}
        self.point_cell = np.asarray(point_cell, dtype=np.int64)
        self.K = 2
        self.parity = fairness_matrix(n_groups, p_target, epsilon)
        self.eo_epsilon = eo_epsilon

    def predict(self, centers: np.ndarray) -> np.ndarray:
        return self.h.predict(centers).astype(np.int64)

    def _reseed(self, centers: np.ndarray, v: np.ndarray) -> np.ndarray | None:
        """Move, in every one-sided (d, y) cell with >= 2 points and training rows on the other side, the point
        nearest h's boundary to those rows' mean. None when nothing moves."""
        out, score = None, np.abs(self.h.decision_function(centers))
        for cell in np.unique(self.point_cell):
            pts = np.flatnonzero(self.point_cell == cell)
            side = v[pts]
            if len(pts) < 2 or side.min() != side.max() or (2 * cell + 1 - side[0]) not in self.means:
                continue
            out = centers.copy() if out is None else out
            out[pts[np.argmin(score[pts])]] = self.means[2 * cell + 1 - side[0]]
        return out

    def __call__(self, centers: np.ndarray) -> Cells:
        v = self.predict(centers)
        moved = self._reseed(centers, v) if np.isfinite(self.eo_epsilon) else None
        if moved is not None:
            centers, v = moved, self.predict(moved)
        sub = 2 * self.point_cell + v
        order = np.argsort(sub, kind="stable")
        present, counts = np.unique(sub, return_counts=True)
        base = present // 2
        cell_dy = np.stack([base // self.K, base % self.K], 1)
        cell_v = present % 2
        A = self.parity[:, base]
        dropped = []
        if np.isfinite(self.eo_epsilon):
            rows, dropped = odds_rows(self.q, cell_dy, cell_v, self.eo_epsilon)
            A = np.vstack([A, rows])
        return Cells(order=order, cell_start=np.concatenate([[0], np.cumsum(counts)]), cell_dy=cell_dy,
                     cell_v=cell_v, A=A, dropped=dropped, centers=moved)

    def violation(self, theta: np.ndarray, centers: np.ndarray) -> float:
        """max over (group, label) cells with weight of |p_θ(h = 1 | y, d) / q_y − 1| (q_y > 0)."""
        v = self.predict(centers)
        tot = np.bincount(self.point_cell, weights=theta)
        pos = np.bincount(self.point_cell, weights=theta * v, minlength=len(tot))
        y = np.arange(len(tot)) % self.K
        ok = (tot > 0) & (self.q[y] > 0)
        return float(np.abs(pos[ok] / tot[ok] / self.q[y[ok]] - 1.0).max()) if ok.any() else 0.0
