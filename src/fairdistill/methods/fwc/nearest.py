"""FWC's nearest-point search: the aggregated costs of the inner problem F(C) (METHODS.md §6, step 2).

Rows i = 1..n, coreset points j = 1..m grouped in cells g = (d, y), cost C_ij. In F(C) (dual.py) only the cheapest
point of each cell can receive mass from a row, so F(C) only needs c_ig = min_{j in g} C_ij and its argmin j*_ig.
``CellNearest`` computes both row by row in a compiled kernel, never storing C, and across MM iterations skips most
of the work with exact Yinyang bounds; ``aggregate`` is one fresh search.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...jit import kernel
from .parallel import parallel_map, row_ranges, task_ranges

#: at most this many rows per task of the CPU search (the threads take whole tasks)
TASK_ROWS = 2 ** 15
_FLOAT64_MAX = float(np.finfo(np.float64).max)


def device_chunk(m: int, p: int) -> int:
    """Rows per step of the GPU search: about 32 MiB of float64 differences (rows x m x p)."""
    return max(1, 2 ** 22 // max(1, m * p))


@kernel
def _cost(X, i, C, j, l1):
    """Σ_k |X_ik − C_jk| (L1) or Σ_k (X_ik − C_jk)² (squared L2), summed in k order: the one summation order of every
    exact cost here, so the same pair always gets the same float64 value."""
    s = 0.0
    for k in range(X.shape[1]):
        t = X[i, k] - C[j, k]
        s += abs(t) if l1 else t * t
    return s


@kernel
def _metric(v, l1):
    return v if l1 else np.sqrt(v)


@kernel
def _below(v, l1, slack):
    """A lower bound on metric(v) that float64 rounding of the triangle inequality cannot break; finite even for
    an infinite v (no other point in the block, or an overflowed cost), so moves can still bring the block back."""
    w = _metric(min(v, _FLOAT64_MAX), l1)  # an overflowed cost is >= the largest float
    return w - slack * (1.0 + w)


@kernel
def _block_costs(X, i, P, l1, buf):
    """buf[q] = cost of row i to column q of the block's transposed points P (p x w), vectorised over the points,
    each sum in k order (so the same values as ``_cost``)."""
    W = P.shape[1]
    for q in range(W):
        buf[q] = 0.0
    if l1:
        for k in range(X.shape[1]):
            xk = X[i, k]
            for q in range(W):
                buf[q] += abs(xk - P[k, q])
    else:
        for k in range(X.shape[1]):
            xk = X[i, k]
            for q in range(W):
                u = xk - P[k, q]
                buf[q] += u * u


@kernel
def _search_rows(a, b, X, C, flat, l1, full, block_start, cell_first_block, point_block, moved, drift, slack,
                 jstar, cx, lower):
    """Rows a..b−1 of ``CellNearest.__call__`` (see there); returns the number of distances computed. ``flat``:
    block b's points transposed (p x its width) at flat[p·lo_b : p·hi_b]."""
    G = cx.shape[1]
    p = X.shape[1]
    buf = np.empty(np.max(block_start[1:] - block_start[:-1]))
    B = len(block_start) - 1
    s_j = np.empty(B, np.int64)
    s_1 = np.empty(B)
    s_2 = np.empty(B)
    searched = np.zeros(B, np.bool_)
    work = 0
    for i in range(a, b):
        for g in range(G):
            first, stop = cell_first_block[g], cell_first_block[g + 1]
            if full:
                old_j, old_x = block_start[first], np.inf
            else:
                old_j = jstar[i, g]
                if moved[old_j]:
                    cx[i, g] = _cost(X, i, C, old_j, l1)
                old_x = cx[i, g]
                for t in range(first, stop):
                    lower[i, t] -= drift[t]
            cur_j, cur_x, u = old_j, old_x, _metric(old_x, l1)
            for t in range(first, stop):
                searched[t] = False
                if not full and u <= lower[i, t]:
                    continue
                lo, hi = block_start[t], block_start[t + 1]
                w = hi - lo
                _block_costs(X, i, flat[p * lo:p * hi].reshape((p, w)), l1, buf)
                d1, j1, d2 = np.inf, lo, np.inf
                for q in range(w):  # smallest (first on ties) and second smallest
                    if buf[q] < d1:
                        d2, d1, j1 = d1, buf[q], lo + q
                    elif buf[q] < d2:
                        d2 = buf[q]
                work += w
                searched[t], s_j[t], s_1[t], s_2[t] = True, j1, d1, d2
                if d1 < cur_x or (d1 == cur_x and j1 < cur_j):
                    cur_j, cur_x, u = j1, d1, _metric(d1, l1)
            for t in range(first, stop):  # a searched block's bound excludes j* only if j* is its nearest point
                if searched[t]:
                    lower[i, t] = _below(s_2[t] if s_j[t] == cur_j else s_1[t], l1, slack)
            if cur_j != old_j and not full:  # j* left an unsearched block: its bound must now cover the old j*
                ob = point_block[old_j]
                if not searched[ob]:
                    lower[i, ob] = min(lower[i, ob], _below(old_x, l1, slack))
            jstar[i, g] = cur_j
            cx[i, g] = cur_x
    return work


class CellNearest:
    """c_ig = min_{j in g} C_ij and j*_ig = argmin (first point on exact ties) for cells g whose points are
    ``centers[cell_start[g]:cell_start[g+1]]``, with C_ij = c_X(X_i, x̂_j) + 1[d_i != d_g] + 1[y_i != y_g]
    (encoding.py); (d_g, y_g) = (g // K, g % K), or the rows of ``cell_dy`` when the cells refine (group, label)
    cells (equalized.py).

    On the CPU a compiled kernel (numba) works row by row on ``chunk_rows``-row tasks (default: about four per
    thread, at most ``TASK_ROWS`` rows) in parallel, in float64, every cost summed in the same order (``_cost``), so
    c depends neither on the tasks nor on the pruning. Across calls (MM iterations) exact bounds skip most of the work (Yinyang k-means, with the
    metric δ(x, x') = ‖x − x'‖₁ (L1) or ‖x − x'‖₂ (squared L2)): every cell is split into blocks (the whole cell by
    default; with ``block``, pieces of at most that many points; ``run_mm`` uses ``mm.PRUNE_BLOCK``). Per (row,
    cell) it keeps u_ig = δ to j*_ig (exact) and per (row, block) a lower bound l_ib on δ to the block's points
    other than j* (``cx``, ``jstar`` are n x G, ``lower`` n x B). When the points move by δ_j, l_ib drops by
    max_{j in b} δ_j (triangle inequality), u_ig is recomputed where j* moved, and a block is searched again only
    while u_ig > l_ib (u shrinking as the row's blocks are searched); a block that loses j* to another block takes
    the old u into its bound. Bounds carry a relative slack of 1e-9 (L1) or 1e-6 (the square root of a rounded
    squared distance) against float64 rounding. The result equals a fresh exact search (up to exact ties, which
    do not change c). ``last_fraction``: the share of the n x m distances the last call computed.

    On a CUDA device every call is a fresh search in torch, in float64, ``device_chunk`` rows per step: no bounds,
    the device's brute force is fast enough (its sums run in another order, so c may differ from the CPU's in the
    last bits). Other devices (mps lacks float64) search on the CPU.
    """

    def __init__(self, X: np.ndarray, cell_start: np.ndarray, d: np.ndarray, y: np.ndarray, n_labels: int,
                 cost: str = "l1", chunk_rows: int | None = None, device: str = "cpu", prune: bool = True,
                 block: int | None = None, cell_dy: np.ndarray | None = None):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.cell_start = np.asarray(cell_start, dtype=np.int64)
        if np.any(np.diff(self.cell_start) < 1):
            raise ConfigError("every (group, label) cell needs at least one coreset point")
        self.G = len(self.cell_start) - 1
        self.m = int(self.cell_start[-1])
        self.cost, self.device, self.chunk_rows = cost, device, chunk_rows
        self.gpu = str(device).startswith("cuda")
        self.prune = prune and not self.gpu
        g = np.arange(self.G)  # cell g holds (group, label) = (g // K, g % K), or cell_dy[g] when cells are refined
        gd, gy = (g // n_labels, g % n_labels) if cell_dy is None else np.asarray(cell_dy, dtype=np.int64).T
        self.mismatch = ((np.asarray(d)[:, None] != gd[None, :]).astype(np.float64)
                         + (np.asarray(y)[:, None] != gy[None, :]))
        starts = []
        for c in range(self.G):  # blocks of <= block points, never across cells
            lo, hi = int(self.cell_start[c]), int(self.cell_start[c + 1])
            k = -(-(hi - lo) // max(1, block)) if (self.prune and block) else 1
            starts += [lo + (hi - lo) * i // k for i in range(k)]
        self.block_start = np.array(starts + [self.m], dtype=np.int64)
        self.B = len(self.block_start) - 1
        self.cell_first_block = np.searchsorted(self.block_start, self.cell_start)
        self.point_block = np.repeat(np.arange(self.B), np.diff(self.block_start))
        self.centers = None
        self.last_fraction = 1.0
        self._slack = 1e-9 if cost == "l1" else 1e-6
        self._X_dev = None  # X on the CUDA device, moved there by the first GPU search

    def __call__(self, centers: np.ndarray):
        """(c (n x G), jstar (n x G)) for these point features."""
        centers = np.array(centers, dtype=np.float64)
        if self.gpu:
            self._device_search(centers)
            self.centers = centers
            return self._output()
        n, l1 = len(self.X), self.cost == "l1"
        full = self.centers is None or not self.prune
        if full:
            self.jstar = np.full((n, self.G), -1, dtype=np.int64)
            self.cx = np.full((n, self.G), np.inf)
            self.lower = np.empty((n, self.B))
            moved, drift = np.zeros(self.m, bool), np.zeros(self.B)
        else:
            diff = centers - self.centers
            moved = np.any(diff != 0, axis=1)  # not move > 0: a squared norm can underflow
            if not moved.any():
                self.last_fraction = 0.0
                return self._output()
            move = np.abs(diff).sum(1) if l1 else np.sqrt((diff * diff).sum(1))
            drift = np.maximum.reduceat(move, self.block_start[:-1])
        bounds = zip(self.block_start[:-1], self.block_start[1:])
        flat = np.concatenate([centers[lo:hi].T.ravel() for lo, hi in bounds])

        def task(ab):
            return _search_rows(ab[0], ab[1], self.X, centers, flat, l1, full, self.block_start,
                                self.cell_first_block, self.point_block, moved, drift, self._slack,
                                self.jstar, self.cx, self.lower)

        tasks = row_ranges(n, self.chunk_rows) if self.chunk_rows else task_ranges(n, TASK_ROWS)
        work = sum(parallel_map(task, tasks))
        self.last_fraction = work / (n * self.m)
        self.centers = centers
        return self._output()

    def _device_search(self, centers: np.ndarray) -> None:
        """A fresh exact search on ``self.device`` (torch, float64): cx and jstar for every row and cell."""
        import torch

        dev = torch.device(self.device)
        if self._X_dev is None:
            self._X_dev = torch.as_tensor(self.X, device=dev)
        C = torch.as_tensor(centers, device=dev)
        n = len(self.X)
        cx = torch.empty((n, self.G), dtype=torch.float64, device=dev)
        jstar = torch.empty((n, self.G), dtype=torch.int64, device=dev)
        step = device_chunk(self.m, self.X.shape[1])
        for a in range(0, n, step):
            diff = self._X_dev[a:a + step, None, :] - C[None, :, :]
            D = (diff.abs_() if self.cost == "l1" else diff.square_()).sum(-1)
            for g in range(self.G):
                lo, hi = int(self.cell_start[g]), int(self.cell_start[g + 1])
                v, j = D[:, lo:hi].min(1)
                cx[a:a + step, g], jstar[a:a + step, g] = v, j + lo
        self.cx, self.jstar = cx.cpu().numpy(), jstar.cpu().numpy()
        self.last_fraction = 1.0

    def _output(self):
        return self.cx + self.mismatch, self.jstar.copy()


def aggregate(X: np.ndarray, centers: np.ndarray, cell_start: np.ndarray, d: np.ndarray, y: np.ndarray,
              n_labels: int, cost: str = "l1", chunk_rows: int | None = None, device: str = "cpu"):
    """One fresh ``CellNearest`` search: (c (n x G) float64, jstar (n x G) int64)."""
    return CellNearest(X, cell_start, d, y, n_labels, cost, chunk_rows, device)(centers)
