"""``kernel``: numba's ``njit`` for fairdistill's compiled loops (FWC's search, medians and reduced costs).

Kernels release the GIL (``parallel_map`` runs them on threads) and are compiled on first use, then cached beside
their module (or in numba's user-wide cache); where neither is writable they are compiled once per process instead.
"""
from __future__ import annotations

from numba import njit


def kernel(fn):
    """``njit(nogil=True, cache=True)``, without the cache where numba finds no writable place for it."""
    try:
        return njit(nogil=True, cache=True)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(nogil=True)(fn)
