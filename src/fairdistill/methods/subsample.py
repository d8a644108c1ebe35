"""Methods that learn nothing: the whole training set, and uniform per-class subsampling."""
from __future__ import annotations

import numpy as np

from ..dataset import FairDataset, SyntheticSet
from ..errors import ConfigError
from .base import Method, resolve_size
from ..params import Param, positive


class Full(Method):
    """The whole training set, unchanged (its weights, 1 by default): the upper reference every table reports as
    "Whole"."""

    name = "full"
    summary = "the whole training set (reference)"
    uses_weights = True
    reads_sensitive = False

    def _fit(self, data: FairDataset) -> SyntheticSet:
        return SyntheticSet.from_dataset(data, weights=data.w.copy(), origin=np.zeros(len(data), np.int8))


class Random(Method):
    """Uniform subsampling within each class, without replacement.

    Give ``ipc`` or ``size``, not both. ``ipc``: that many rows of every class. ``size``: that many rows in all (a
    fraction of n or a count), allocated to classes in proportion to their size (largest remainder, at least one per
    class). Neither: ``ipc=10`` for images, ``size=0.05`` for tabular data.
    """

    name = "random"
    summary = "uniform per-class subsample (--ipc rows per class, or --size rows in all)"
    params = (
        Param("ipc", int, None, "rows per class, for images or tabular data (default for images: 10); not with --size",
              check=positive),
        Param("size", "size", None, "rows in all, split over classes by their share: a fraction of n (< 1) or a "
              "count, for tabular or image data (default for tabular: 0.05); not with --ipc"),
    )

    reads_sensitive = False

    def _check_params(self, params) -> None:
        if params["ipc"] is not None and params["size"] is not None:
            raise ConfigError(f"random: give ipc (rows per class) or size (rows in all), not both; got "
                              f"ipc={params['ipc']} and size={params['size']}")

    def _fit(self, data: FairDataset) -> SyntheticSet:
        rng = self.rng()
        counts = np.bincount(data.y, minlength=data.n_classes)
        present = np.flatnonzero(counts)
        if self.ipc is not None or (data.modality == "image" and self.size is None):
            ipc = self.ipc or 10
            small = [int(c) for c in present if counts[c] < ipc]
            if small:
                raise ConfigError(f"ipc={ipc} exceeds the size of class(es) {small} "
                                  f"(smallest has {int(counts[small].min())} rows); lower --ipc")
            per_class = {int(c): ipc for c in present}
        else:
            m = resolve_size(self.size if self.size is not None else 0.05, len(data))
            if m < len(present):
                raise ConfigError(f"size={self.size} gives {m} rows, fewer than the {len(present)} classes; "
                                  f"ask for at least {len(present)}")
            per_class = allocate(m, {int(c): int(counts[c]) for c in present})
        idx = np.concatenate([rng.choice(np.flatnonzero(data.y == c), k, replace=False)
                              for c, k in per_class.items()])
        out = data.subset(np.sort(idx))
        return SyntheticSet.from_dataset(out, weights=np.ones(len(out)), origin=np.zeros(len(out), np.int8),
                                         provenance={"indices": np.sort(idx).tolist()[:100000]})


def allocate(m: int, sizes: dict, minimum: int = 1) -> dict:
    """Split ``m`` over cells in proportion to ``sizes`` (largest remainder), at least ``minimum`` per cell.

    The result sums to ``m`` and never exceeds a cell's size.
    """
    keys = list(sizes)
    n = np.array([sizes[k] for k in keys], dtype=float)
    if m < minimum * len(keys) or m > n.sum():
        raise ConfigError(f"cannot split {m} rows over {len(keys)} cells of sizes {n.astype(int).tolist()} with "
                          f"at least {minimum} each; choose a size between {minimum * len(keys)} and {int(n.sum())}")
    exact = m * n / n.sum()
    base = np.maximum(np.floor(exact), minimum).astype(int)
    base = np.minimum(base, n.astype(int))
    while base.sum() > m:  # minimums pushed us over: take from the largest allocations
        j = int(np.argmax(base - exact + (base <= minimum) * -1e9))
        base[j] -= 1
    rem = exact - base
    while base.sum() < m:
        rem = np.where(base < n, rem, -np.inf)
        j = int(np.argmax(rem))
        base[j] += 1
        rem[j] -= 1
    return {k: int(b) for k, b in zip(keys, base)}
