"""FWC's nearest-point search: the aggregated costs of the inner problem F(C) (METHODS.md §6, step 2).

Rows i = 1..n, coreset points j = 1..m grouped in cells g = (d, y), cost C_ij. In F(C) (dual.py) only the cheapest
point of each cell can receive mass from a row, so F(C) only needs c_ig = min_{j in g} C_ij and its argmin j*_ig.
``CellNearest`` computes both in row chunks, never storing C, and across MM iterations skips most of the work with
exact Yinyang bounds; ``aggregate`` is one fresh search.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError, check_choice
from .parallel import parallel_map, row_ranges

def default_chunk(m: int) -> int:
    """Rows per cost chunk against m points: about 8 MiB of float64 cost entries (cache-friendly; faster than
    bigger chunks). The pruned searches of one block (m = its size) get proportionally more rows."""
    return max(256, int(2 ** 20 // max(1, m)))


UNIT_ROUNDOFF32 = 2.0 ** -24
PRECISIONS = ("auto", "float32", "float64")


class CellNearest:
    """c_ig = min_{j in g} C_ij and j*_ig = argmin for cells g whose points are ``centers[cell_start[g]:
    cell_start[g+1]]``, with C_ij = c_X(X_i, x̂_j) + 1[d_i != d_g] + 1[y_i != y_g] (encoding.py); (d_g, y_g) =
    (g // K, g % K), or the rows of ``cell_dy`` when the cells refine (group, label) cells (equalized.py).

    The n x m cost is computed in row chunks (torch kernel on ``device``; ``chunk_rows`` rows, default about 8 MiB
    of entries per block searched) and never stored; the chosen entries are recomputed exactly in float64
    (``_exact``), so c depends neither on the chunking nor on the kernel's rounding. Across calls (MM iterations)
    exact bounds skip most of the work (Yinyang k-means, with the metric δ(x, x') = ‖x − x'‖₁ (L1) or ‖x − x'‖₂
    (squared L2)): every cell is split into blocks (the whole cell by default; with ``block``, pieces of at most that
    many points; ``run_mm`` uses ``mm.PRUNE_BLOCK``); per (row, cell) keep u_ig = δ to j*_ig (exact) and per
    (row, block) a lower bound l_ib on δ to the block's points other than j* (stored cell- and block-major: cx and
    jstar are G x n, lower is B x n). When the points move by δ_j, l_ib drops by max_{j in b} δ_j (triangle inequality),
    u_ig is recomputed exactly where j* moved, and only the (row, block) pairs with u_ig > l_ib are searched again;
    a block whose nearest point cannot beat u (by its kernel bound) costs no exact recomputation, and a block that
    loses j* to another block takes the old u into its bound. The result equals a fresh exact search (up to exact
    ties, broken towards the first point, which do not change c).

    Float32 search (``precision`` "auto" = "float32" for L1; squared L2 always searches in float64, whose
    expanded formula cancels). The kernel computes D̃_ij = fl32(‖fl32(x_i) − fl32(x̂_j)‖₁). With u = 2⁻²⁴,
    r_i = ‖x_i − fl32(x_i)‖₁, ρ_j = ‖x̂_j − fl32(x̂_j)‖₁ (both 0 for float32 data and medians of it) and
    γ_p = p·u/(1 − p·u): the p differences are each rounded once and summed in some order (p − 1 roundings of
    non-negative terms), so |D̃ − D'| <= γ_p·D' for D' the distance of the rounded vectors, and |D' − D| <= r_i + ρ_j;
    hence D_ij >= D̃_ij·(1 − γ_p) − r_i − ρ_j =: L(D̃_ij), increasing in D̃ (``_bound``, which also subtracts the
    float64 slack). For the float32 argmin j₁ of a block with second-smallest value D̃₂, every other point has
    D >= L(D̃₂); if the exact D_ij₁ is below that, j₁ is the block's exact argmin and L(D̃₂) a valid bound.
    Otherwise (a float32 near-tie, rare; counted in ``tie_rows``) the row's block is recomputed exactly in float64.
    So c, j* (up to exact ties) and the bounds are those of an exact float64 search; only the skipped work differs.
    ``last_fraction``: the share of the n x m kernel distances the last call computed.
    """

    def __init__(self, X: np.ndarray, cell_start: np.ndarray, d: np.ndarray, y: np.ndarray, n_labels: int,
                 cost: str = "l1", chunk_rows: int | None = None, device: str = "cpu", prune: bool = True,
                 block: int | None = None, precision: str = "auto", cell_dy: np.ndarray | None = None):
        check_choice(precision, "precision", PRECISIONS)
        self.X = np.asarray(X, dtype=np.float64)
        self.cell_start = np.asarray(cell_start, dtype=np.int64)
        if np.any(np.diff(self.cell_start) < 1):
            raise ConfigError("every (group, label) cell needs at least one coreset point")
        self.G = len(self.cell_start) - 1
        self.m = int(self.cell_start[-1])
        self.cost, self.device, self.prune = cost, device, prune
        self.chunk_rows = chunk_rows
        g = np.arange(self.G)  # cell g holds (group, label) = (g // K, g % K), or cell_dy[g] when cells are refined
        gd, gy = (g // n_labels, g % n_labels) if cell_dy is None else np.asarray(cell_dy, dtype=np.int64).T
        self.mismatch = ((np.asarray(d)[:, None] != gd[None, :]).astype(np.float64)
                         + (np.asarray(y)[:, None] != gy[None, :]))
        starts = []
        for c in range(self.G):  # blocks of <= block points, never across cells
            lo, hi = int(self.cell_start[c]), int(self.cell_start[c + 1])
            k = -(-(hi - lo) // max(1, block)) if (prune and block) else 1
            starts += [lo + (hi - lo) * i // k for i in range(k)]
        self.block_start = np.array(starts + [self.m], dtype=np.int64)
        self.block_cell = np.searchsorted(self.cell_start, self.block_start[:-1], side="right") - 1
        self.cell_first_block = np.searchsorted(self.block_start[:-1], self.cell_start[:-1])
        self.B = len(self.block_start) - 1
        self.blocks_per_cell = np.diff(np.r_[self.cell_first_block, self.B])
        self.point_block = np.repeat(np.arange(self.B), np.diff(self.block_start))
        self.centers = None
        self.last_fraction = 1.0
        self._slack = 1e-9 if cost == "l1" else 1e-6  # sqrt of a rounded squared distance is less accurate
        self.fast32 = cost == "l1" and precision != "float64"
        if self.fast32:
            self.X32 = self.X.astype(np.float32)
            self.xround = np.abs(self.X - self.X32).sum(1)  # r_i
            p = self.X.shape[1]
            self.gamma = p * UNIT_ROUNDOFF32 / (1.0 - p * UNIT_ROUNDOFF32)
        self.tie_rows = 0  # float32 near-ties resolved exactly (last call)

    # ---- kernels
    def _metric(self, cx):
        return cx if self.cost == "l1" else np.sqrt(cx)

    def _finish(self, diff: np.ndarray) -> np.ndarray:
        """Σ_k |diff_k| (L1) or Σ_k diff_k² (squared L2) over the last axis, overwriting ``diff``: one summation
        order for every exact cost, so the same pair always gets the same float64 value."""
        np.abs(diff, out=diff) if self.cost == "l1" else np.multiply(diff, diff, out=diff)
        return diff.sum(-1)

    def _exact(self, rows, pts, centers):
        return self._finish(self.X[rows] - centers[pts])

    def _exact_rows(self, a: int, b: int, pts, centers):
        """``_exact(range(a, b), pts)`` without gathering X (same values: same subtraction and summation order)."""
        diff = centers[pts]
        return self._finish(np.subtract(self.X[a:b], diff, out=diff))

    def _exact_block(self, rows, lo: int, hi: int, centers):
        """Exact costs of ``rows`` to points lo..hi−1 (k x (hi − lo)); entry (i, j) equals ``_exact(i, lo + j)``."""
        return self._finish(self.X[rows][:, None, :] - centers[None, lo:hi, :])

    def _top2(self, xb: np.ndarray, C):
        """Kernel distances from the rows ``xb`` to the points C (torch): per row the nearest point's index and
        value and the second-smallest value (inf for a one-point block), as numpy arrays."""
        import torch

        xt = torch.as_tensor(xb, device=C.device)
        if self.cost == "l1":
            D = torch.cdist(xt, C, p=1)
        else:
            D = ((xt * xt).sum(1, keepdim=True) + (C * C).sum(1)[None, :] - 2.0 * xt @ C.T).clamp_min_(0.0)
        v1, j1 = D.min(1)
        if D.shape[1] > 1:
            D[torch.arange(len(D), device=D.device), j1] = float("inf")
            v2 = D.min(1).values.cpu().numpy()
        else:
            v2 = np.full(len(D), np.inf)
        return j1.cpu().numpy(), v1.cpu().numpy(), v2

    def _bound(self, v: np.ndarray, rows: np.ndarray, b: int) -> np.ndarray:
        """Lower bound (metric units, float64 slack included) on the exact cost behind kernel values ``v``."""
        v = v.astype(np.float64)
        if self.fast32:  # L(D̃)
            v = v * (1.0 - self.gamma) - self.xround[rows] - self._cround[b]
        v = self._metric(np.maximum(v, 0.0))
        return v - self._slack * (1.0 + v)

    def _search(self, rows: np.ndarray, b: int, centers: np.ndarray, old_j: np.ndarray, cur_x: np.ndarray):
        """Search block b for ``rows``: its nearest point j₁, e₁ = exact cost to j₁ (inf where the kernel's bound
        shows j₁ cannot beat ``cur_x``, the cell's best exact cost so far), a lower bound on the metric to every
        other point of b and one on every point of b. e₁ reuses the stored cost when j₁ is the stored j*."""
        import torch

        lo, hi = int(self.block_start[b]), int(self.block_start[b + 1])
        g = int(self.block_cell[b])
        src = self.X32 if self.fast32 else self.X
        C = torch.as_tensor(centers[lo:hi].astype(src.dtype), device=torch.device(self.device))
        chunk = int(self.chunk_rows or default_chunk(hi - lo))
        out_j = np.empty(len(rows), dtype=np.int64)
        out_e = np.full(len(rows), np.inf)
        out_other = np.full(len(rows), np.inf)
        out_all = np.empty(len(rows))
        for a in range(0, len(rows), chunk):
            r = rows[a:a + chunk]
            sl = slice(a, a + len(r))
            j1, v1, v2 = self._top2(src[r], C)
            j = j1 + lo
            low1 = self._bound(v1, r, b)
            low2 = self._bound(v2, r, b) if hi - lo > 1 else v2
            keep = old_j[r] == j
            cand = np.flatnonzero(keep | (low1 <= self._metric(cur_x[r])))
            ex = np.full(len(r), np.inf)
            ex[keep] = self.cx[g, r[keep]]
            new = cand[~keep[cand]]
            if len(new):
                ex[new] = self._exact(r[new], j[new], centers)
            if self.fast32 and hi - lo > 1:  # float32 near-tie inside the block: decide it in float64
                tie = cand[self._metric(ex[cand]) >= low2[cand]]
                if len(tie):
                    self.tie_rows += len(tie)
                    E = self._exact_block(r[tie], lo, hi, centers)
                    k1 = E.argmin(1)
                    j[tie] = k1 + lo
                    ex[tie] = E[np.arange(len(tie)), k1]
                    E[np.arange(len(tie)), k1] = np.inf
                    w2 = self._metric(E.min(1))
                    low2[tie] = w2 - self._slack * (1.0 + w2)
            me = self._metric(ex[cand])
            low1[cand] = np.minimum(low2[cand], me - self._slack * (1.0 + me))
            out_j[sl], out_e[sl], out_other[sl], out_all[sl] = j, ex, low2, low1
        return out_j, out_e, out_other, out_all

    def _refresh(self, centers: np.ndarray, move: np.ndarray):
        """cx_gi = exact cost to j*_gi for every pair whose point moved (all pairs, row-contiguous, when most did)."""
        moved = move[self.jstar] > 0
        step = max(256, 2 ** 16 // max(1, self.X.shape[1]))
        if moved.mean() > 0.25:
            def work(ab):
                a, b = ab
                for k in range(self.G):
                    self.cx[k, a:b] = self._exact_rows(a, b, self.jstar[k, a:b], centers)

            parallel_map(work, row_ranges(len(self.X), step))
            return
        gg, ii = np.nonzero(moved)

        def work_pairs(ab):
            i, g = ii[ab[0]:ab[1]], gg[ab[0]:ab[1]]
            self.cx[g, i] = self._exact(i, self.jstar[g, i], centers)

        parallel_map(work_pairs, row_ranges(len(ii), step))

    def __call__(self, centers: np.ndarray):
        """(c (n x G), jstar (n x G)) for these point features."""
        centers = np.array(centers, dtype=np.float64)
        n = len(self.X)
        self.tie_rows = 0
        if self.fast32:  # ρ_j, then its maximum per block
            cr = np.abs(centers - centers.astype(np.float32)).sum(1)
            self._cround = np.maximum.reduceat(cr, self.block_start[:-1])
        full = self.centers is None or not self.prune
        if full:
            self.jstar = np.full((self.G, n), -1, dtype=np.int32 if self.m < 2 ** 31 else np.int64)
            self.cx = np.full((self.G, n), np.inf)
            self.lower = np.empty((self.B, n))
            self.last_fraction = 1.0
        else:
            diff = centers - self.centers
            move = np.abs(diff).sum(1) if self.cost == "l1" else np.sqrt((diff * diff).sum(1))
            if not np.any(move > 0):
                self.last_fraction = 0.0
                self.centers = centers
                return self._output()
            self.lower -= np.maximum.reduceat(move, self.block_start[:-1])[:, None]
            self._refresh(centers, move)
        all_rows = np.arange(n)
        work = 0
        for g in range(self.G):
            old_j = self.jstar[g]
            cur_j, cur_x = old_j.copy(), self.cx[g].copy()
            first = int(self.cell_first_block[g])
            blocks = range(first, first + int(self.blocks_per_cell[g]))
            need = None if full else self._metric(self.cx[g])[None, :] > self.lower[first:blocks.stop]
            found = []
            for b in blocks:
                rows = all_rows if full else np.flatnonzero(need[b - first])
                work += len(rows) * int(self.block_start[b + 1] - self.block_start[b])
                if len(rows) == 0:
                    continue
                j, e, other, every = self._search(rows, b, centers, old_j, cur_x)
                cj, ce = cur_j[rows], cur_x[rows]
                better = (e < ce) | ((e == ce) & (j < cj))  # first point on exact ties
                cur_j[rows[better]] = j[better]
                cur_x[rows[better]] = e[better]
                found.append((b, rows, j, other, every))
            for b, rows, j, other, every in found:  # b's bound excludes the new j* only if j* is b's nearest
                self.lower[b, rows] = np.where(cur_j[rows] == j, other, every)
            if not full:  # j* left an unsearched block: that block's bound must now cover the old j*
                i = np.flatnonzero(cur_j != old_j)
                ob = self.point_block[old_j[i]]
                keep = ~need[ob - first, i]
                i, ob = i[keep], ob[keep]
                mo = self._metric(self.cx[g, i])
                self.lower[ob, i] = np.minimum(self.lower[ob, i], mo - self._slack * (1.0 + mo))
            self.jstar[g] = cur_j
            self.cx[g] = cur_x
        self.last_fraction = work / (n * self.m)
        self.centers = centers
        return self._output()

    def _output(self):
        c = np.add(self.cx.T, self.mismatch, out=np.empty(self.mismatch.shape))
        return c, np.ascontiguousarray(self.jstar.T, dtype=np.int64)


def aggregate(X: np.ndarray, centers: np.ndarray, cell_start: np.ndarray, d: np.ndarray, y: np.ndarray,
              n_labels: int, cost: str = "l1", chunk_rows: int | None = None, device: str = "cpu"):
    """One fresh ``CellNearest`` search: (c (n x G) float64, jstar (n x G) int64)."""
    return CellNearest(X, cell_start, d, y, n_labels, cost, chunk_rows, device)(centers)

