"""Seeded row splits shared by the dataset loaders.

Each function draws from its own NumPy generator, seeded with ``[seed, constant]`` (a different constant per function),
so a split depends only on its arguments: the same ``seed`` gives the same rows on every machine and in every process,
whatever else was drawn before. The constants are part of the published splits: changing one changes every benchmark.
"""
from __future__ import annotations

import numpy as np

_RANDOM_SPLIT_STREAM = 7919
_HOLDOUT_STREAM = 104729


def random_split(n: int, test_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split rows ``0..n-1`` at random into (rest, test), both sorted.

    ``test`` holds ``round(test_frac * n)`` rows (Python rounding: half to even): the first ones of a permutation drawn
    by ``np.random.default_rng([seed, 7919])``; ``rest`` holds the others.
    """
    perm = np.random.default_rng([seed, _RANDOM_SPLIT_STREAM]).permutation(n)
    n_test = int(round(test_frac * n))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def stratified_holdout(idx: np.ndarray, strata: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split the rows ``idx`` into (keep, held), both sorted, holding out a share ``frac`` of every stratum.

    ``strata`` has one row per entry of ``idx`` (for example the columns (y, s)); each distinct row is a stratum. From
    stratum g (taken in sorted order of the distinct rows) ``round(frac * n_g)`` members are drawn without replacement
    by one generator, ``np.random.default_rng([seed, 104729])``, shared by all strata in that order.
    """
    rng = np.random.default_rng([seed, _HOLDOUT_STREAM])
    _, inv = np.unique(strata, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    held = []
    for g in range(inv.max() + 1 if len(inv) else 0):
        members = idx[inv == g]
        k = int(round(frac * len(members)))
        held.append(rng.choice(members, size=k, replace=False))
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    return np.setdiff1d(idx, held), held


def check_ratio(value: float) -> str | None:
    """``None`` when ``value`` is a share in [0, 1] (a bias ratio, a split fraction), else what is wrong with it."""
    return None if 0.0 <= value <= 1.0 else "must lie in [0, 1] (e.g. 0.9)"


__all__ = ["check_ratio", "random_split", "stratified_holdout"]
