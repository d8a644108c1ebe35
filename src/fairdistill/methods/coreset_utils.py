"""Array-level building blocks of the coreset baselines (METHODS.md §5): reweighing, k-medoids, sensitivity sampling.

Everything here works on plain arrays (rows of the encoded space Z = (D, X, Y)) so that it can be tested in
isolation; ``coresets.py`` wraps these into estimators.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import ConfigError, DataError
from ..seeding import random_state

_CHUNK_BYTES = 64 * 2**20  # working memory of one distance chunk


# ---------------------------------------------------------------------------------------------- reweighing
def kamiran_calders(weights, d, y) -> np.ndarray:
    """Kamiran–Calders reweighing of weighted rows with group ``d`` and label ``y``.

    With W = Σ w, P_w(d) = Σ_{d_j=d} w_j / W, P_w(y) and P_w(d, y) likewise,
    ``w'_j = w_j · P_w(d_j) · P_w(y_j) / P_w(d_j, y_j)``. Then Σ w' = W and, under w', D and Y are independent:
    P_w'(d, y) = P_w(d) P_w(y). Rows of a cell with zero weight keep weight 0. When some (d, y) cell holds no weight
    (a small coreset), no reweighing of the rows can make D and Y independent: that cell's share P_w(d) P_w(y) is
    missing from Σ w' (< W), and a warning names the cells.
    """
    w = np.asarray(weights, dtype=np.float64)
    d = np.asarray(d).reshape(-1)
    y = np.asarray(y).reshape(-1)
    if not (w.shape == d.shape == y.shape):
        raise DataError(f"kamiran_calders: weights {w.shape}, d {d.shape} and y {y.shape} must have one entry per row")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise DataError("kamiran_calders: weights must be finite and >= 0")
    total = w.sum()
    if total <= 0:
        return w.copy()
    _, di = np.unique(d, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    di, yi = di.reshape(-1), yi.reshape(-1)
    p_d = np.bincount(di, weights=w) / total
    p_y = np.bincount(yi, weights=w) / total
    p_dy = np.zeros((len(p_d), len(p_y)))
    np.add.at(p_dy, (di, yi), w / total)
    cell = p_dy[di, yi]
    factor = np.divide(p_d[di] * p_y[yi], cell, out=np.zeros_like(cell), where=cell > 0)
    product = np.outer(p_d, p_y)
    empty = np.argwhere((p_dy == 0) & (product > 0))
    if len(empty):
        du, yu = np.unique(d), np.unique(y)
        cells = ", ".join(f"({du[a]}, {yu[b]})" for a, b in empty)
        warnings.warn(f"Kamiran–Calders: (group, label) cell(s) {cells} hold no weight, so D and Y cannot be made "
                      f"independent; the total weight drops by {product[p_dy == 0].sum():.1%} (give a larger "
                      f"coreset so that every cell is present)", stacklevel=2)
    return w * factor


# ------------------------------------------------------------------------------------------------ distances
def _row_chunk(n_cols: int, dim: int) -> int:
    return max(1, int(_CHUNK_BYTES // (8 * max(1, n_cols) * max(1, dim))))


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances ‖a_i − b_j‖₂ (exact enough for argmin: clipped at 0 before the root)."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def nearest(Z: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and Euclidean distance to the nearest centre for every row of ``Z`` (row chunks, O(n·k) time)."""
    Z = np.asarray(Z, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    lab = np.empty(len(Z), dtype=np.int64)
    dist = np.empty(len(Z))
    step = _row_chunk(len(centres), Z.shape[1])
    for a in range(0, len(Z), step):
        D = euclidean(Z[a:a + step], centres)
        lab[a:a + step] = D.argmin(1)
        dist[a:a + step] = D[np.arange(len(D)), lab[a:a + step]]
    return lab, dist


# ------------------------------------------------------------------------------------------------ k-medoids
def kmedoids_pp(Z: np.ndarray, k: int, rng: np.random.Generator, n_trials: int | None = None) -> np.ndarray:
    """k-medoids++ seeding: k-means++ with distances (not squared) as the sampling potential.

    First medoid uniform; each next one is the best (lowest Σ_i min-distance) of ``2 + ⌊ln k⌋`` candidates drawn with
    probability ∝ D(z_i), the distance to the nearest medoid so far (the greedy variant scikit-learn uses for
    k-means++). Returns k distinct row indices. Memory O(n · trials).
    """
    Z = np.asarray(Z, dtype=np.float64)
    n = len(Z)
    if not 1 <= k <= n:
        raise ConfigError(f"k={k} medoids cannot be drawn from {n} rows; choose 1 <= k <= {n}")
    trials = n_trials or 2 + int(np.log(k))
    first = int(rng.integers(n))
    medoids = [first]
    closest = euclidean(Z, Z[[first]])[:, 0]
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # every row coincides with a medoid: take unused rows in order
            rest = np.setdiff1d(np.arange(n), medoids)[: k - len(medoids)]
            medoids.extend(int(i) for i in rest)
            break
        cand = np.searchsorted(np.cumsum(closest), rng.random(trials) * total, side="right")
        cand = np.minimum(cand, n - 1)
        dist = np.minimum(closest[:, None], euclidean(Z, Z[cand]))
        best = int(np.argmin(dist.sum(0)))
        medoids.append(int(cand[best]))
        closest = dist[:, best]
    return np.asarray(medoids, dtype=np.int64)


def _cluster_medoid(Zc: np.ndarray, current: int) -> int:
    """Row of ``Zc`` minimising the summed Euclidean distance to all rows of ``Zc``; ``current`` wins ties.

    Computed in row chunks, never more than ``_CHUNK_BYTES`` at once (a cluster of s rows costs O(s²) time).
    """
    s = len(Zc)
    cost = np.empty(s)
    step = _row_chunk(s, Zc.shape[1])
    for a in range(0, s, step):
        cost[a:a + step] = euclidean(Zc[a:a + step], Zc).sum(1)
    best = int(np.argmin(cost))
    return current if cost[current] <= cost[best] else best


def alternating_kmedoids(Z: np.ndarray, medoids: np.ndarray, max_iter: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Alternate (Voronoi-iteration) k-medoids from initial medoid rows, without any n×n matrix.

    Repeat: assign each row to its nearest medoid (Euclidean); in each cluster move the medoid to the member with the
    smallest summed distance to the other members (the current medoid is kept on ties); stop when no medoid moves or
    after ``max_iter`` rounds. The objective Σ_i min_j ‖z_i − z_{m_j}‖ never increases. Returns (medoids, labels).
    """
    Z = np.asarray(Z, dtype=np.float64)
    medoids = np.asarray(medoids, dtype=np.int64).copy()
    labels = np.zeros(len(Z), dtype=np.int64)
    for _ in range(max_iter):
        labels, _ = nearest(Z, Z[medoids])
        new = medoids.copy()
        for j in range(len(medoids)):
            members = np.flatnonzero(labels == j)
            if len(members) == 0:
                continue
            pos = np.flatnonzero(members == medoids[j])
            current = int(pos[0]) if len(pos) else int(np.argmin(euclidean(Z[members], Z[[medoids[j]]])[:, 0]))
            new[j] = members[_cluster_medoid(Z[members], current)]
        if np.array_equal(new, medoids):
            break
        medoids = new
    labels, _ = nearest(Z, Z[medoids])
    return medoids, labels


def kmedoids_dense(Z: np.ndarray, medoids: np.ndarray, max_iter: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """The same alternate k-medoids with the ``kmedoids`` package on the full n×n Euclidean matrix (small n only)."""
    import kmedoids

    Z = np.asarray(Z, dtype=np.float64)
    diss = euclidean(Z, Z)
    np.fill_diagonal(diss, 0.0)
    res = kmedoids.alternating(diss, np.asarray(medoids, dtype=np.int64).copy(), max_iter=max_iter)
    med = np.asarray(res.medoids, dtype=np.int64)
    return med, diss[:, med].argmin(1).astype(np.int64)


# -------------------------------------------------------------------------------------- sensitivity sampling
def bicriteria(Z: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A cheap bicriteria solution: k-means++ seeding plus one Lloyd step (as the IndFair reference code does).

    Returns (labels, Euclidean distance of each row to its centre).
    """
    from sklearn.cluster import KMeans

    k = min(k, len(Z))
    km = KMeans(n_clusters=k, init="k-means++", n_init=1, max_iter=1, random_state=random_state(seed)).fit(Z)
    return nearest(Z, km.cluster_centers_)


def kmedian_sensitivity(dist: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Upper bounds on the k-median sensitivity of each row from a bicriteria solution B (p = 1).

    With c̄ = (1/n) Σ_i d(z_i, B), c̄_b = the mean distance inside cluster b, and α = 16 (ln k + 2):
    ``s_i = α · (d(z_i, B) + c̄_{b(i)}) / c̄ + 4 n / |C_{b(i)}|`` (Feldman–Langberg style bound; the form used by
    the IndFair reference code). When every row sits on a centre (c̄ = 0) only the cluster-size term remains.
    """
    dist = np.asarray(dist, dtype=np.float64)
    n = len(dist)
    sizes = np.bincount(labels, minlength=labels.max() + 1).astype(np.float64)
    per_cluster = np.bincount(labels, weights=dist, minlength=len(sizes)) / np.maximum(sizes, 1)
    alpha = 16.0 * (np.log(k) + 2.0)
    mean = dist.mean()
    dist_term = alpha * (dist + per_cluster[labels]) / mean if mean > 0 else np.zeros(n)
    return dist_term + 4.0 * n / sizes[labels]


def indfair_sensitivity(kmedian_sens: np.ndarray, k: int, epsilon: float) -> np.ndarray:
    """Sensitivity for the individually fair k-median coreset: the k-median bound plus the uniform term
    ``16 k ln(n) / (ε n)`` that pays for the per-point fairness radius (Chhaya et al. 2022, as their code adds it)."""
    n = len(kmedian_sens)
    return kmedian_sens + 16.0 * k * np.log(max(n, 2)) / (epsilon * n)


def sensitivity_sample(sens: np.ndarray, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """m i.i.d. draws with probability p_i ∝ sens_i; raw importance weights 1/(m · p_i).

    For any f, E[Σ_j w_j f(z_{i_j})] = Σ_i f(z_i) (Horvitz–Thompson with replacement), so Σ_j w_j estimates n.
    Returns (row indices, raw weights).
    """
    sens = np.asarray(sens, dtype=np.float64)
    if np.any(sens < 0) or sens.sum() <= 0:
        raise DataError("sensitivities must be >= 0 with a positive sum")
    p = sens / sens.sum()
    idx = rng.choice(len(p), size=m, replace=True, p=p)
    return idx, 1.0 / (m * p[idx])
