"""Fidelity of reduced or synthetic sets (METRICS.md §6): exact Wasserstein distance, clustering cost, density and
coverage (Naeem et al. 2020), and MMD with a sum of Gaussian kernels. Inputs are rows in one encoded space."""
from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial.distance import cdist, pdist

from ..errors import ConfigError, DataError, FairDistillError, check_choice
from ._common import as_weights, warn

# The kernel definitions of fairdistill.nn.mmd, repeated so that importing the metrics needs neither torch nor POT
# (a test checks that both agree).
DEFAULT_SIGMAS = (1.0, 10.0, 20.0, 30.0, 40.0, 50.0)
MEDIAN_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)

GROUND_METRICS = {"l1": "cityblock", "cityblock": "cityblock", "l2": "euclidean", "euclidean": "euclidean",
                  "sqeuclidean": "sqeuclidean"}


def _rows(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"{name} must be a 2-D array of rows; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or inf; encode and impute the rows first")
    return arr


def _pair(x, y, names=("X", "Y")):
    x, y = _rows(x, names[0]), _rows(y, names[1])
    if x.shape[1] != y.shape[1]:
        raise DataError(f"{names[0]} has {x.shape[1]} columns and {names[1]} {y.shape[1]}; encode both the same way")
    return x, y


def _masses(weights, n: int, name: str) -> np.ndarray:
    w = as_weights(weights, n)
    if w.sum() <= 0:
        raise DataError(f"{name} sum to 0; give positive weights")
    return w / w.sum()


def wasserstein_distance(X, Y, weights_x=None, weights_y=None, metric="l1", num_iter_max: int = 10_000_000) -> float:
    """Exact optimal-transport cost W = min_{pi >= 0, pi 1 = a, pi^T 1 = b} <M, pi> between the rows of X (masses a,
    uniform or ``weights_x`` normalised) and Y (masses b), ground cost M_ij = ||X_i - Y_j||_1 (``metric="l1"``; also
    "l2" and "sqeuclidean"). Solved by network simplex (``ot.emd2``); raises FairDistillError if the solver stops at
    ``num_iter_max`` iterations instead of reaching the optimum. Never Sinkhorn."""
    import ot  # imported here: POT takes seconds to import

    check_choice(metric, "metric", tuple(GROUND_METRICS))
    x, y = _pair(X, Y)
    if len(x) == 0 or len(y) == 0:
        raise DataError(f"wasserstein_distance needs rows on both sides; got {len(x)} and {len(y)}")
    a, b = _masses(weights_x, len(x), "weights_x"), _masses(weights_y, len(y), "weights_y")
    m = ot.dist(x, y, metric=GROUND_METRICS[metric])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the iteration-cap warning is turned into an error below
        cost, log = ot.emd2(a, b, m, numItermax=int(num_iter_max), log=True)
    if log.get("warning") is not None:
        raise FairDistillError(f"exact OT did not converge ({log['warning']}); raise num_iter_max above "
                               f"{int(num_iter_max)}")
    return float(cost)


def clustering_cost(X, centers, chunk: int = 4096) -> float:
    """sum_i min_j ||X_i - centers_j||_2^2 over all rows of X (unweighted), computed in row chunks."""
    x, c = _pair(X, centers, ("X", "centers"))
    if len(c) == 0:
        raise DataError("clustering_cost needs at least one centre")
    total = 0.0
    for start in range(0, len(x), chunk):
        total += float(cdist(x[start:start + chunk], c, "sqeuclidean").min(axis=1).sum())
    return total


def _subsample(x: np.ndarray, max_rows: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_rows is None or len(x) <= max_rows:
        return x
    return x[np.sort(rng.choice(len(x), size=max_rows, replace=False))]


def _knn_radii(x: np.ndarray, k: int, chunk: int) -> np.ndarray:
    """Distance from each row to its k-th nearest *other* row (the row itself is the 0-th, at distance 0).

    Computed with the same ``cdist`` as the distances it is compared with, ``chunk`` rows at a time: two routines
    differ by rounding, and a point exactly on the sphere, or inside the empty ball of a duplicated row (radius 0),
    would then count as inside the open ball."""
    radii = np.empty(len(x))
    for start in range(0, len(x), chunk):
        d = cdist(x[start:start + chunk], x)
        radii[start:start + chunk] = np.partition(d, k, axis=1)[:, k]
    return radii


class RealBalls:
    """The real side of density / coverage (Naeem et al., ICML 2020): the k-NN balls B_i = B(X_i, r_i) of the real
    rows, r_i = distance from X_i to its k-th nearest other real row, built once and scored against any number of
    synthetic sets (:meth:`score`). ``real`` is subsampled to ``max_rows`` rows (seeded); each :meth:`score` draws
    its own subsample of the synthetic rows from the generator state left after that draw, so it returns exactly
    what :func:`density_coverage` returns with the same arguments."""

    def __init__(self, real, k: int = 5, max_rows: int | None = 10_000, seed: int = 0, chunk: int = 1024):
        if k < 1:
            raise ConfigError(f"k={k!r} must be a positive integer")
        rng = np.random.default_rng(seed)
        self.x = _subsample(_rows(real, "real"), max_rows, rng)
        if len(self.x) <= k:
            raise DataError(f"density/coverage needs more than k={k} real rows; got {len(self.x)}")
        self.k, self.max_rows, self.chunk = k, max_rows, chunk
        self._rng_state = rng.bit_generator.state  # where the synthetic rows' subsample starts
        self.radii = _knn_radii(self.x, k, chunk)

    def score(self, fake, recall: bool = True) -> dict[str, float]:
        """density = sum_j #{i : Y_j in B_i} / (k M), coverage = #{i : some Y_j in B_i} / N,
        precision = #{j : Y_j in some B_i} / M, recall = #{i : X_i in some fake ball B(Y_j, s_j)} / N (s_j: k-th NN
        radius among the fake rows; NaN when M <= k or with ``recall=False``, which skips its M x M pass).
        Distances are computed ``chunk`` fake rows at a time: memory O(chunk x N), never N x N."""
        x, y = _pair(self.x, fake, ("real", "fake"))
        if len(y) == 0:
            warn("density/coverage of an empty synthetic set is undefined; returning NaN")
            return dict.fromkeys(("density", "coverage", "precision", "recall"), float("nan"))
        rng = np.random.default_rng()
        rng.bit_generator.state = self._rng_state
        y = _subsample(y, self.max_rows, rng)
        k, chunk = self.k, self.chunk
        r_fake = _knn_radii(y, k, chunk) if recall and len(y) > k else None
        inside_total = 0
        precise = 0
        covered = np.zeros(len(x), dtype=bool)
        recalled = np.zeros(len(x), dtype=bool)
        for start in range(0, len(y), chunk):
            d = cdist(y[start:start + chunk], x)  # (chunk, N)
            inside = d < self.radii[None, :]
            inside_total += int(inside.sum())
            precise += int(inside.any(axis=1).sum())
            covered |= inside.any(axis=0)
            if r_fake is not None:
                recalled |= (d < r_fake[start:start + chunk, None]).any(axis=0)
        return {"density": inside_total / (k * len(y)), "coverage": float(covered.mean()),
                "precision": precise / len(y), "recall": float(recalled.mean()) if r_fake is not None else float("nan")}


def density_coverage(real, fake, k: int = 5, max_rows: int | None = 10_000, seed: int = 0,
                     chunk: int = 1024, recall: bool = True) -> dict[str, float]:
    """Naeem et al. (ICML 2020) density, coverage, precision and recall with k-NN balls (open: strict <) of the
    real rows against the fake rows: ``RealBalls(real, k, max_rows, seed, chunk).score(fake, recall)``, where the
    definitions are stated. Both sets are subsampled to ``max_rows`` (seeded). To score several synthetic sets
    against one real set, build :class:`RealBalls` once: its N x N radius pass is the costly part."""
    return RealBalls(real, k, max_rows, seed, chunk).score(fake, recall)


def median_bandwidths(X, Y, factors=MEDIAN_FACTORS, max_rows: int = 2048) -> tuple[float, ...]:
    """Median pairwise Euclidean distance of the pooled first ``max_rows`` rows of each set, times ``factors``
    (the same rule as :func:`fairdistill.nn.mmd.median_bandwidths`)."""
    x, y = _pair(X, Y)
    med = float(np.median(pdist(np.concatenate([x[:max_rows], y[:max_rows]]))))
    med = med if med > 0 else 1.0
    return tuple(med * f for f in factors)


def _kernel_quad(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, sigmas, chunk: int) -> float:
    """a^T K(x, y) b for k(u, v) = sum_s exp(-||u - v||^2 / (2 s^2)), computed in row chunks of x."""
    total = 0.0
    for start in range(0, len(x), chunk):
        d2 = cdist(x[start:start + chunk], y, "sqeuclidean")
        k = sum(np.exp(-d2 / (2.0 * s * s)) for s in sigmas)
        total += float(a[start:start + chunk] @ k @ b)
    return total


def mmd(X, Y, bandwidth=DEFAULT_SIGMAS, estimator="unbiased", weights_x=None, weights_y=None, chunk: int = 2048,
        return_bandwidth: bool = False):
    """MMD^2 with k(x, y) = sum_{s in bandwidth} exp(-||x - y||^2 / (2 s^2)) (numpy; the torch loss is
    :func:`fairdistill.nn.mmd.mmd2`).

    estimator "unbiased" (U-statistic; default; may be slightly negative):
        sum_{i != i'} K_xx / (m(m-1)) + sum_{j != j'} K_yy / (n(n-1)) - 2 mean K_xy;
    "biased" (V-statistic): mean K_xx + mean K_yy - 2 mean K_xy.
    With ``weights_x`` or ``weights_y`` (normalised to a, b) the weighted form a^T K_xx a + b^T K_yy b - 2 a^T K_xy b
    is used whatever the estimator. ``bandwidth``: a sequence of sigmas (default {1, 10, 20, 30, 40, 50}) or
    "median" (median pairwise distance x {1/4, 1/2, 1, 2, 4}). Returns MMD^2, or (MMD^2, sigmas) with
    ``return_bandwidth=True``. Kernel matrices are built ``chunk`` rows at a time.
    """
    check_choice(estimator, "estimator", ("unbiased", "biased"))
    x, y = _pair(X, Y)
    m, n = len(x), len(y)
    if m == 0 or n == 0:
        raise DataError(f"mmd needs rows on both sides; got {m} and {n}")
    if isinstance(bandwidth, str):
        if bandwidth != "median":
            raise ConfigError(f"bandwidth={bandwidth!r} is unknown; give 'median' or a list of positive sigmas")
        sigmas = median_bandwidths(x, y)
    else:
        sigmas = tuple(float(s) for s in np.atleast_1d(bandwidth))
        if not sigmas or min(sigmas) <= 0:
            raise ConfigError(f"bandwidth={bandwidth!r} must be positive sigmas or 'median'")
    weighted = weights_x is not None or weights_y is not None
    a = _masses(weights_x, m, "weights_x") if weighted else np.full(m, 1.0 / m)
    b = _masses(weights_y, n, "weights_y") if weighted else np.full(n, 1.0 / n)
    kxx, kyy, kxy = (_kernel_quad(x, x, a, a, sigmas, chunk), _kernel_quad(y, y, b, b, sigmas, chunk),
                     _kernel_quad(x, y, a, b, sigmas, chunk))
    if weighted or estimator == "biased":
        value = kxx + kyy - 2.0 * kxy
    else:
        if m < 2 or n < 2:
            raise DataError(f"the unbiased MMD needs at least 2 rows on each side; got {m} and {n}")
        diag = float(len(sigmas))  # k(x, x) = |sigmas|
        value = ((kxx * m * m - m * diag) / (m * (m - 1)) + (kyy * n * n - n * diag) / (n * (n - 1)) - 2.0 * kxy)
    return (float(value), sigmas) if return_bandwidth else float(value)
