"""Fairlets: fair clustering through a tree-based fairlet decomposition (Backurs, Indyk, Onak, Schieber, Vakilian,
Wagner, "Scalable Fair Clustering", ICML 2019; Chierichetti et al., NeurIPS 2017), as a weighted coreset baseline of
FWC's tables (METHODS.md §5).

**Balance.** With a binary colour (the sensitive group D), a set with r rows of one colour and b of the other has
balance min(r/b, b/r) (0 if a colour is missing). For an integer t >= 1 a *fairlet* is a set with both colours and
balance >= 1/t: at most t rows of its majority colour per row of its minority colour. A decomposition of the data
into fairlets exists iff the data itself has balance >= 1/t, so the default t is the data's majority/minority ratio
rounded up (the smallest t that admits one). Any union of fairlets again has balance >= 1/t, so every cluster built
from whole fairlets is fair.

**Tree (near-linear time).** The rows (in Z without its D block: the colour is what fairlets balance, never a
coordinate) are put in a randomly shifted quadtree: a cube of side 2Δ (Δ = largest coordinate range) shifted by
U[0, Δ)^dim, halved in every coordinate per level until every cell holds identical rows. Top-down, every node holds a
set of not yet decomposed rows with balance >= 1/t (the root: all rows). Each child keeps as many of its rows as it
can while staying balanced and hands the rest up, as few as possible: first the surplus it cannot keep
(r - t·b of its majority colour, or everything when one colour is absent); if the handed-up pool is then unbalanced,
rows of the pool's missing colour that children can spare, then the remainders beyond each child's saturated
(t : 1) fairlets. The pool (balanced by construction) is split at the node into fairlets with one row of its minority
colour each and its majority rows shared out as evenly as possible, matched in tree order so fairlet members are
close in the tree; the children recurse on what they kept. O(n · depth) time. In expectation over the shift the
tree metric distorts distances by O(dim · log n), which makes the decomposition an O(dim · log n)-approximation of
the optimal fairlet decomposition cost (Backurs et al.).

**Clustering (the coreset).** Each fairlet f gets a representative c_f, its medoid (the member minimising the summed
Euclidean distance to the others; a real row, as in the reference code). Then m clusters of the representatives
weighted by fairlet size, computed as the plain clustering of the rows with every row moved onto its fairlet's
representative (identical to the weighted problem with integer weights |f|): ``cluster="kmedoids"`` (default;
Euclidean k-median with real-row centres, Backurs et al.'s choice; k-medoids++ seeding and alternating updates, the
code of ``KMedoidsCoreset``) or ``"kmeans"`` (Lloyd, the code of ``KMeansCoreset``). Every row joins its fairlet's
cluster, so every cluster is a union of fairlets and has balance >= 1/t. By the triangle inequality the fair
k-median cost is at most the fairlet cost Σ_f Σ_{i∈f} ‖z_i − c_f‖ plus the weighted k-median cost of the
representatives (Chierichetti et al.); for k-means the same holds up to a factor 2. (Fairlet means would split the
k-means cost exactly, but averaging a fairlet's far-apart members shrinks the point cloud: W1 on Crime at 5 % went
from 40 to 49.)

**Coreset points.** Point j = cluster j's centre (a medoid row, or a k-means centre with the cluster's majority Y),
weight w_j = m·|C_j|/n (so Σ w = m). A fair cluster has no meaningful group majority, so by default
(``apportion=True``) the points' groups are chosen by ``apportion_groups``: the clusters richest in group 1 represent
group 1 until their weight reaches the data's group-1 share (to within half a cluster); a point whose group changes
takes d and s (a medoid: the whole row) from its cluster's member of that group nearest to its centre.
``apportion=False`` keeps the k-means / k-medoids baselines' rule (a centre takes the majority group, a medoid its
own), which on Crime leaves group 1 with 6 % of the k-means coreset's weight against 48 % in the data.
"""
from __future__ import annotations

import numpy as np

from ..dataset import FairDataset, SyntheticSet
from ..errors import ConfigError, FairDistillError
from ..params import Param, non_negative, positive
from .coresets import COMMON, ClusterBaseline, KMeansCoreset, KMedoidsCoreset

MAX_LEVELS = 52  # grid coordinates floor(u · 2^level) stay exact in float64 up to here


# --------------------------------------------------------------------------------------------- balance
def is_balanced(r, b, t: int):
    """Whether counts (r, b) form an empty set or one with both colours and at most t of one per one of the other."""
    r, b = np.asarray(r), np.asarray(b)
    return ((r == 0) & (b == 0)) | ((r >= 1) & (b >= 1) & (r <= t * b) & (b <= t * r))


def default_t(colour: np.ndarray) -> int:
    """The smallest t admitting a fairlet decomposition: ⌈majority count / minority count⌉."""
    counts = np.bincount(np.asarray(colour, dtype=np.int64), minlength=2)
    return int(-(-counts.max() // counts.min())) if counts.min() > 0 else 0


def _ceil_div(a, t: int):
    return -(-np.asarray(a) // t)


def hand_up(r, b, t: int) -> tuple[np.ndarray, np.ndarray]:
    """How many rows of each colour each child hands up to its parent, given its counts (r_c, b_c).

    Requires (Σr, Σb) balanced. Returns (hr, hb) with every kept part (r_c - hr_c, b_c - hb_c) balanced and the
    pool (Σhr, Σhb) balanced, handing up as little as the three phases of the module docstring allow.
    """
    r, b = np.asarray(r, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if not is_balanced(r.sum(), b.sum(), t):
        raise FairDistillError(f"hand_up: counts ({r.sum()}, {b.sum()}) are not balanced for t={t}")
    # phase 1: what no balanced child can keep
    hr = np.where(b == 0, r, np.maximum(r - t * b, 0))
    hb = np.where(r == 0, b, np.maximum(b - t * r, 0))
    if is_balanced(hr.sum(), hb.sum(), t):
        return hr, hb
    if hb.sum() > t * hr.sum():  # the pool lacks red: the same with the colours swapped
        hb, hr = _complete_pool(b, r, hb, hr, t)
    else:
        hr, hb = _complete_pool(r, b, hr, hb, t)
    return hr, hb


def _complete_pool(r, b, hr, hb, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Phases 2-3 for a pool with too few b-rows (Σhr > t·Σhb)."""
    kr, kb = r - hr, b - hb
    need = int(_ceil_div(hr.sum(), t)) - int(hb.sum())
    # phase 2: b-rows a child can spare and stay balanced
    spare = np.where(kr > 0, kb - np.maximum(1, _ceil_div(kr, t)), 0)
    take = np.clip(need - (np.cumsum(spare) - spare), 0, spare)
    hb = hb + take
    if is_balanced(hr.sum(), hb.sum(), t):
        return hr, hb
    # phase 3: each child keeps only its saturated (t : 1) fairlets; remainders go up until the pool is balanced
    kr, kb = r - hr, b - hb
    sat = kr // t
    rem_r, rem_b = kr - t * sat, kb - sat
    for c in np.flatnonzero(rem_r + rem_b):
        hr[c] += rem_r[c]
        hb[c] += rem_b[c]
        if is_balanced(hr.sum(), hb.sum(), t):
            return hr, hb
    raise FairDistillError(f"hand_up: no balanced pool for t={t} (internal error)")


def _split_pool(red: np.ndarray, blue: np.ndarray, labels: np.ndarray, first: int) -> int:
    """Split a balanced pool into fairlets with one row of its minority colour each; label them first, first+1, ...

    ``red`` and ``blue`` are row positions in tree order; majority rows are shared out in contiguous blocks of
    ⌊R/B⌋ or ⌈R/B⌉ (≤ t), so the i-th minority row meets the i-th block. Returns the next free label.
    """
    major, minor = (red, blue) if len(red) >= len(blue) else (blue, red)
    f = len(minor)
    if f == 0:
        return first
    sizes = len(major) // f + (np.arange(f) < len(major) % f)
    labels[minor] = first + np.arange(f)
    labels[major] = first + np.repeat(np.arange(f), sizes)
    return first + f


# ------------------------------------------------------------------------------------------------ tree
def shifted_quadtree(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cell index of every row at every level of a randomly shifted quadtree: array (levels + 1) x n.

    Level 0 is the root (one cell); cell ids at level ℓ+1 are sorted by their parent's id, so sorting rows by their
    deepest id lists every cell as a contiguous run. Stops when every cell holds only identical rows (or at
    ``MAX_LEVELS``).
    """
    pts = np.asarray(points, dtype=np.float64)
    n, dim = pts.shape
    ids = [np.zeros(n, dtype=np.int64)]
    lower = pts.min(0)
    spread = float((pts.max(0) - lower).max()) if n else 0.0
    if spread == 0.0:
        return np.stack(ids)
    u = (pts - lower + rng.uniform(0.0, spread, dim)) / (2.0 * spread)  # in [0, 1)
    distinct = len(np.unique(pts, axis=0))
    for level in range(1, MAX_LEVELS + 1):
        half = (np.floor(u * 2.0 ** level).astype(np.int64) & 1).astype(bool)  # which half of the parent, per axis
        key = np.column_stack([ids[-1], np.packbits(half, axis=1).astype(np.int64)])
        _, cell = np.unique(key, axis=0, return_inverse=True)
        ids.append(cell.reshape(-1).astype(np.int64))
        if ids[-1].max() + 1 >= distinct:
            break
    return np.stack(ids)


def tree_fairlets(points: np.ndarray, colour: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
    """Fairlet label (0..F-1) of every row: a (1, t)-fairlet decomposition by the shifted quadtree (module docstring).

    Every fairlet has both colours and at most t rows of one colour per row of the other.
    """
    colour = np.asarray(colour).reshape(-1)
    if set(np.unique(colour).tolist()) != {0, 1}:
        raise ConfigError(f"fairlets need a colour with the two values 0 and 1; got {np.unique(colour).tolist()}")
    if t < 1 or not is_balanced(np.sum(colour == 1), np.sum(colour == 0), t):
        raise ConfigError(f"t={t} is below the data's majority/minority ratio; give t >= {default_t(colour)}")
    ids = shifted_quadtree(points, rng)
    order = np.lexsort(ids[::-1])
    ids, red = ids[:, order], colour[order] == 1
    n, deepest = len(red), len(ids) - 1
    alive = np.ones(n, dtype=bool)
    labels = np.full(n, -1, dtype=np.int64)
    nxt = 0
    stack = [(0, 0, n)]  # (level, start, end) of a cell in tree order
    while stack:
        level, a, b = stack.pop()
        live = a + np.flatnonzero(alive[a:b])
        if len(live) == 0:
            continue
        if level == deepest:  # identical rows: decompose what is left here
            nxt = _split_pool(live[red[live]], live[~red[live]], labels, nxt)
            alive[live] = False
            continue
        child = ids[level + 1, a:b]
        starts = a + np.flatnonzero(np.r_[True, child[1:] != child[:-1]])
        if len(starts) == 1:
            stack.append((level + 1, a, b))
            continue
        ends = np.r_[starts[1:], b]
        lo, hi = np.searchsorted(live, starts), np.searchsorted(live, ends)
        seg = np.repeat(np.arange(len(starts)), hi - lo)
        r = np.bincount(seg, weights=red[live], minlength=len(starts)).astype(np.int64)
        hr, hb = hand_up(r, (hi - lo) - r, t)
        pool_r, pool_b = [], []
        for c in np.flatnonzero(hr + hb):
            rows = live[lo[c]:hi[c]]
            pool_r.append(rows[red[rows]][len(rows[red[rows]]) - hr[c]:])  # the last ones in tree order
            pool_b.append(rows[~red[rows]][len(rows[~red[rows]]) - hb[c]:])
        if pool_r:
            pr, pb = np.concatenate(pool_r), np.concatenate(pool_b)
            nxt = _split_pool(pr, pb, labels, nxt)
            alive[pr] = alive[pb] = False
        stack.extend((level + 1, s, e) for c, (s, e) in enumerate(zip(starts, ends)) if hi[c] - lo[c] > hr[c] + hb[c])
    out = np.empty(n, dtype=np.int64)
    out[order] = labels
    return out


# ------------------------------------------------------------------------------------------ representatives
def fairlet_medoids(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Row index of every fairlet's medoid: argmin over members c of Σ_{i∈f} ‖z_i − z_c‖₂ (first in row order
    on ties). O(Σ_f |f|² · dim) time in blocks of equal-size fairlets."""
    pts = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(labels)
    order = np.argsort(labels, kind="stable")
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    rows = np.empty(len(sizes), dtype=np.int64)
    for s in np.unique(sizes):
        fl = np.flatnonzero(sizes == s)
        members = order[first[fl][:, None] + np.arange(s)]  # (F_s, s) rows
        block = pts[members]
        cost = np.stack([np.linalg.norm(block - block[:, [j]], axis=2).sum(1) for j in range(s)], axis=1)
        rows[fl] = members[np.arange(len(fl)), np.argmin(cost, axis=1)]
    return rows


def apportion_groups(sizes, share, p: float) -> np.ndarray:
    """Which clusters a group-1 point represents so that the points' weighted group-1 share is p ± one cluster.

    Cluster j (|C_j| rows, a fraction share_j of them in group 1) labelled 1 leaves |C_j|(1 − share_j) rows of the
    other group represented by a group-1 point, labelled 0 it leaves |C_j| share_j. Among labellings whose group-1
    weight is W·p, the mismatched mass is smallest when the clusters with the largest share take group 1 (exchange
    argument; the fractional knapsack); we take the prefix of clusters sorted by decreasing share whose weight is
    closest to W·p, so |Σ_{j labelled 1} |C_j| − W p| <= max_j |C_j| / 2. Returns a boolean mask.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    order = np.argsort(-np.asarray(share, dtype=np.float64), kind="stable")
    cum = np.r_[0.0, np.cumsum(sizes[order])]
    out = np.zeros(len(sizes), dtype=bool)
    out[order[:int(np.argmin(np.abs(cum - p * sizes.sum())))]] = True
    return out


# ---------------------------------------------------------------------------------------------- estimator
SECOND_STAGE = {"kmedoids": KMedoidsCoreset._cluster, "kmeans": KMeansCoreset._cluster}


class Fairlets(ClusterBaseline):
    """Fairlet coreset (Backurs et al. 2019): tree fairlets, then k-median (or k-means) of the fairlet
    representatives weighted by fairlet size; one coreset point per cluster.

    Fitted attributes: ``fairlets_`` and ``clusters_`` (fairlet and cluster index of every training row), ``t_``
    (the balance parameter used).
    """

    name = "fairlets"
    summary = "fair clustering through tree fairlets (Backurs et al. 2019), cluster-size weights (coreset baseline)"
    params = COMMON + (
        Param("t", int, 0, "balance: every fairlet, hence every cluster, has at most t rows of one group per row of "
              "the other; 0 = the data's majority/minority ratio rounded up (the smallest feasible t)",
              check=non_negative),
        Param("cluster", str, "kmedoids", "clustering of the fairlet medoids, weighted by fairlet size: kmedoids "
              "(Euclidean k-median with real-row centres; Backurs et al.) or kmeans (Lloyd)",
              choices=tuple(SECOND_STAGE)),
        Param("apportion", bool, True, "give the coreset points the data's group proportions (clusters richest in "
              "group 1 represent it, up to one cluster's weight); false: a centre takes its cluster's majority "
              "group, a medoid its own, as the k-means / k-medoids baselines"),
        Param("max_iter", int, 300, "iteration cap of the clustering algorithm", check=positive),
        Param("dense_max", int, 3000, "kmedoids: largest n clustered on a full n x n matrix; above it, chunked "
              "per-cluster updates", check=positive),
    )

    def _fit(self, data: FairDataset) -> SyntheticSet:
        out = super()._fit(data)
        out.provenance.update({"t": self.t_, "n_fairlets": int(self.fairlets_.max() + 1)})
        return out

    def _pick(self, data, d, Z, xs, m):
        groups = np.unique(d)
        if len(groups) != 2:
            raise ConfigError(f"fairlets need exactly two sensitive groups; groups={self.groups!r} on axes "
                              f"{list(data.sensitive_names)} gives {len(groups)}: choose one binary axis with "
                              f"groups='single:<axis>' (--groups single:<axis>)")
        t = self.t or default_t(d)
        feats = Z[:, xs.start:]  # (X, Y): the colour D is what fairlets balance, not a coordinate
        self.fairlets_ = tree_fairlets(feats, d, t, self.rng())
        self.t_ = t
        n_fairlets = int(self.fairlets_.max() + 1)
        if m > n_fairlets:
            raise ConfigError(f"size={self.size} asks for {m} coreset points but the fairlet decomposition (t={t}) "
                              f"has only {n_fairlets} fairlets; give size <= {n_fairlets}")
        picked = self._represent(data, d, feats, slice(0, xs.stop - xs.start), np.arange(len(d)), m, seed_offset=0)
        if self.apportion:
            self._apportion(picked, data, d, feats)
        return picked

    def _apportion(self, picked, data, d, feats) -> None:
        """Relabel the coreset points' groups in place by ``apportion_groups``; a point whose group changes takes
        d, s (and, for a medoid, the whole row) from its cluster's member of the new group nearest to its centre."""
        labels, k = self.clusters_, len(picked.d)
        sizes = np.bincount(labels, minlength=k)
        share = np.bincount(labels, weights=d == 1, minlength=k) / np.maximum(sizes, 1)
        colour = apportion_groups(sizes, share, float(np.mean(d == 1))).astype(np.int64)
        for j in np.flatnonzero((picked.d != colour) & (sizes > 0)):
            members = np.flatnonzero((labels == j) & (d == colour[j]))
            row = members[np.argmin(np.linalg.norm(feats[members] - self.centres_[j], axis=1))]
            picked.d[j], picked.s[j] = colour[j], data.s[row]
            if picked.indices is not None:  # medoids stay real rows
                picked.X[j], picked.y[j], picked.indices[j] = data.X[row], data.y[row], row

    def _cluster(self, Z, k, seed):
        """Cluster the rows moved onto their fairlet's representative (= the weighted problem on representatives)."""
        rep_rows = fairlet_medoids(Z, self.fairlets_)
        centres, labels, medoids = SECOND_STAGE[self.cluster](self, Z[rep_rows[self.fairlets_]], k, seed)
        if medoids is not None:
            medoids = rep_rows[self.fairlets_[medoids]]
        self.clusters_, self.centres_ = labels, centres
        return centres, labels, medoids


__all__ = ["Fairlets", "apportion_groups", "default_t", "fairlet_medoids", "hand_up", "is_balanced",
           "shifted_quadtree", "tree_fairlets"]
