"""Coreset baselines for FWC (METHODS.md §5): uniform, k-means, k-medoids, k-median and IndFair sensitivity coresets.

Every baseline maps the training rows to Z = (D, X, Y) (the same encoding as FWC), picks m weighted
representatives (d̂_j, x̂_j, ŷ_j, w_j) with Σ_j w_j = m, and optionally applies Kamiran–Calders reweighing to the
weights (``reweigh=True``). The output's X lies in the dataset's encoded X space, so it decodes like any row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dataset import FairDataset, SyntheticSet, group_ids
from ..seeding import random_state
from .base import GROUPS, Method, resolve_size
from ..params import Param, positive
from .coreset_utils import (alternating_kmedoids, bicriteria, indfair_sensitivity, kamiran_calders,
                            kmedian_sensitivity, kmedoids_dense, kmedoids_pp, sensitivity_sample)
from .fwc.encoding import encode
from .subsample import allocate


COMMON = (
    Param("size", "size", 0.05, "coreset size m: a fraction of the training rows (< 1) or a count (default 5%)"),
    Param("reweigh", bool, False, "apply Kamiran–Calders reweighing to the output weights (D and Y independent)"),
    GROUPS,
)


@dataclass
class Picked:
    """Representatives chosen by a baseline: encoded X, label, group id, full sensitive tuple, raw weight."""

    X: np.ndarray
    y: np.ndarray
    d: np.ndarray
    s: np.ndarray
    weights: np.ndarray
    origin: np.ndarray
    indices: np.ndarray | None = None  # training row of each representative when it is a real row

    @classmethod
    def rows(cls, data: FairDataset, d: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> "Picked":
        idx = np.asarray(idx, dtype=np.int64)
        return cls(data.X[idx], data.y[idx], d[idx], data.s[idx], np.asarray(weights, float),
                   np.zeros(len(idx), np.int8), idx)


def _majority(values: np.ndarray) -> int:
    """Most frequent value; ties go to the smallest."""
    vals, counts = np.unique(values, return_counts=True)
    return int(vals[np.argmax(counts)])


class CoresetBaseline(Method):
    """Shared frame: size, grouping, Z encoding, weight normalisation to Σ w = m, optional reweighing.

    Subclasses define ``_pick(data, d, Z, xs, m) -> Picked`` (d = group id per training row, Z = encoded rows,
    xs = the X columns of Z).
    """

    modalities = ("tabular",)
    params = COMMON
    evaluation = {"model": "mlp", "repeats": 5}  # FWC paper: one-hidden-layer MLP with early stopping

    def _fit(self, data: FairDataset) -> SyntheticSet:
        n = len(data)
        m = resolve_size(self.size, n)
        enc = encode(data, self.groups, "l1")  # FWC's Z = (D, X, Y) with the L1 coding
        tuples = enc.group_tuples
        picked = self._pick(data, enc.d, enc.z(), enc.x_slice, m)
        w = picked.weights
        w = w * (m / w.sum())
        if self.reweigh:
            w = kamiran_calders(w, picked.d, picked.y)
        prov = {"m": m, "n": n, "groups": [list(t) for t in tuples]}
        if picked.indices is not None:
            prov["indices"] = picked.indices.tolist()[:100000]
        return SyntheticSet.from_dataset(data, X=picked.X, y=picked.y, s=picked.s, weights=w, origin=picked.origin,
                                         provenance=prov)


# ------------------------------------------------------------------------------------------------- uniform
class Uniform(CoresetBaseline):
    """Uniform subsampling: m rows without replacement, w_j = 1 (``replace=True``: m i.i.d. draws, weight n/m each,
    rescaled to 1 so that Σ w = m; the CoresetIndividualFairness script's variant)."""

    name = "uniform"
    summary = "uniform subsample of m rows (coreset baseline)"
    params = COMMON + (Param("replace", bool, False, "draw with replacement (default: without)"),)

    def _pick(self, data, d, Z, xs, m):
        idx = self.rng().choice(len(data), size=m, replace=self.replace)
        if not self.replace:
            idx = np.sort(idx)
        return Picked.rows(data, d, idx, np.ones(m))


# ------------------------------------------------------------------------------------------- clustering
class ClusterBaseline(CoresetBaseline):
    """m clusters of Z (or m_{d,y} clusters per (d, y) cell with ``per_group``); one representative per cluster.

    Weight w_j = m·|cluster_j|/n (``weights="cluster_size"``) or 1 (``"uniform"``). Subclasses define
    ``_cluster(Z, k, seed) -> (centres, labels, medoid rows or None)``.
    """

    params = COMMON + (
        Param("weights", str, "cluster_size", "representative weight: cluster_size (m|C_j|/n) or uniform (1)",
              choices=("cluster_size", "uniform")),
        Param("per_group", bool, False, "cluster each (d, y) cell separately, m split over the non-empty cells in "
              "proportion to their sizes (largest remainder, >= 1 each: FWC's allocation m_{d,y}, without FWC's point "
              "for an empty cell)"),
        Param("max_iter", int, 300, "iteration cap of the clustering algorithm", check=positive),
    )

    def _pick(self, data, d, Z, xs, m):
        if self.per_group:
            cell = d * data.n_classes + data.y
            keys = np.unique(cell)
            counts = {int(k): int(np.sum(cell == k)) for k in keys}
            alloc = allocate(m, counts)
            parts = []
            for k, mk in alloc.items():
                rows = np.flatnonzero(cell == k)
                parts.append(self._represent(data, d, Z, xs, rows, mk, seed_offset=k + 1))
            picked = Picked(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                              ("X", "y", "d", "s", "weights", "origin")),
                            indices=None if parts[0].indices is None else
                            np.concatenate([p.indices for p in parts]))
        else:
            picked = self._represent(data, d, Z, xs, np.arange(len(data)), m, seed_offset=0)
        if self.weights == "uniform":
            picked.weights = np.ones(len(picked.weights))
        return picked

    def _represent(self, data, d, Z, xs, rows, k, seed_offset) -> Picked:
        """Cluster rows ``rows`` into k clusters; weights = cluster sizes."""
        centres, labels, medoids = self._cluster(Z[rows], k, self.seed + 7919 * seed_offset)
        sizes = np.bincount(labels, minlength=k).astype(np.float64)
        if medoids is not None:
            return Picked.rows(data, d, rows[medoids], sizes)
        full_id, full_tuples = group_ids(data.s)
        dd, yy, ss = np.empty(k, np.int64), np.empty(k, np.int64), np.empty((k, data.s.shape[1]), np.int64)
        for j in range(k):
            members = rows[labels == j]
            if len(members) == 0:  # empty cluster (fewer distinct rows than k): the nearest row's labels
                members = rows[[int(np.argmin(np.abs(Z[rows] - centres[j]).sum(1)))]]
            dd[j] = _majority(d[members])
            yy[j] = _majority(data.y[members])
            ss[j] = full_tuples[_majority(full_id[members[d[members] == dd[j]]])]
        return Picked(centres[:, xs].astype(np.float32), yy, dd, ss, sizes, np.ones(k, np.int8))


class KMeansCoreset(ClusterBaseline):
    """k-means coreset: Lloyd k-means (k-means++, n_init="auto", max_iter 300, scikit-learn) on Z with m clusters.

    Representative = centre (X part); d̂, ŷ = majority of D, Y in the cluster (ties → smallest); the s tuple is the
    majority full tuple among members of group d̂.
    """

    name = "kmeans"
    summary = "k-means centres of Z with cluster-size weights (coreset baseline)"

    def _cluster(self, Z, k, seed):
        import warnings

        from sklearn.cluster import KMeans
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # duplicates: fewer distinct points than k
            km = KMeans(n_clusters=k, init="k-means++", n_init="auto", max_iter=self.max_iter,
                        random_state=random_state(seed)).fit(Z)
        return km.cluster_centers_, km.labels_.astype(np.int64), None


class KMedoidsCoreset(ClusterBaseline):
    """k-medoids coreset: alternate (Voronoi-iteration) k-medoids, Euclidean on Z, k-medoids++ seeding.

    Representatives are real rows (their own d, y, s). Up to ``dense_max`` rows the ``kmedoids`` package runs on the
    full n×n distance matrix; above it the same iteration runs with chunked assignment and per-cluster medoid
    updates, so memory stays O(n·m + s²) for the largest cluster size s (Adult: never the 8.7 GB matrix). Both paths
    start from the same seeded k-medoids++ medoids and give the same result.
    """

    name = "kmedoids"
    summary = "k-medoids (real rows) with cluster-size weights (coreset baseline)"
    params = ClusterBaseline.params + (
        Param("dense_max", int, 3000, "largest n clustered with the kmedoids package on a full n x n matrix; "
              "above it, chunked per-cluster updates", check=positive),
    )

    def _cluster(self, Z, k, seed):
        init = kmedoids_pp(Z, k, np.random.default_rng(seed))
        run = kmedoids_dense if len(Z) <= self.dense_max else alternating_kmedoids
        medoids, labels = run(Z, init, max_iter=self.max_iter)
        return Z[medoids], labels, medoids


# ------------------------------------------------------------------------------------- sensitivity sampling
class KMedianCoreset(CoresetBaseline):
    """k-median coreset by sensitivity sampling around ``k`` bicriteria centres (Euclidean on Z).

    Bicriteria: k-means++ seeding plus one Lloyd step; sensitivities from ``kmedian_sensitivity``; m draws with
    replacement with p_i ∝ s_i, weight 1/(m p_i), rescaled so Σ w = m.
    """

    name = "kmedian-coreset"
    summary = "k-median sensitivity-sampling coreset (5 bicriteria centres)"
    params = COMMON + (Param("k", int, 5, "number of bicriteria centres", check=positive),)

    def _sensitivity(self, Z: np.ndarray) -> np.ndarray:
        labels, dist = bicriteria(Z, self.k, self.seed)
        return kmedian_sensitivity(dist, labels, min(self.k, len(Z)))

    def _pick(self, data, d, Z, xs, m):
        idx, w = sensitivity_sample(self._sensitivity(Z), m, self.rng())
        return Picked.rows(data, d, idx, w)


class IndFairCoreset(KMedianCoreset):
    """Coreset for individually fair k-median (Chhaya et al., AISTATS 2022, as used in FWC's tables).

    Our reading: the k-median sensitivity plus the uniform term 16 k ln(n)/(ε n) that covers each point's fairness
    radius (``fair_epsilon`` = ε, 0.1 in the reference code); then the same sampling as ``KMedianCoreset``.
    """

    name = "indfair-coreset"
    summary = "individually fair k-median sensitivity-sampling coreset"
    params = KMedianCoreset.params + (
        Param("fair_epsilon", float, 0.1, "ε of the individual-fairness sensitivity term", check=positive),)

    def _sensitivity(self, Z):
        return indfair_sensitivity(super()._sensitivity(Z), min(self.k, len(Z)), self.fair_epsilon)


__all__ = ["CoresetBaseline", "IndFairCoreset", "KMeansCoreset", "KMedianCoreset", "KMedoidsCoreset", "Uniform",
           "kamiran_calders"]
