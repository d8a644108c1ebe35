"""Process-wide thread pools for FWC's row- and column-parallel work (nearest-point search, reduced costs, median
updates, column sorts).

The compiled kernels (``jit.kernel``) and numpy's ufuncs, gathers and sorts release the GIL, so Python threads give
real parallelism. The pool size follows torch's intra-op thread count, the run's thread budget
(``FAIRDISTILL_THREADS`` for the CLI).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

_POOLS: dict[int, ThreadPoolExecutor] = {}


def worker_threads() -> int:
    """Threads for the numpy work split by ``parallel_map``: torch's intra-op thread count (the run's budget)."""
    import torch

    return max(1, int(torch.get_num_threads()))


def parallel_map(fn, items) -> list:
    """``[fn(x) for x in items]`` on ``worker_threads()`` Python threads (real parallelism where ``fn`` spends its
    time without the GIL; see the module doc); serial with one thread or one item."""
    items = list(items)
    k = worker_threads()
    if k == 1 or len(items) < 2:
        return [fn(x) for x in items]
    if k not in _POOLS:
        _POOLS[k] = ThreadPoolExecutor(k, thread_name_prefix="fairdistill-fwc")
    return list(_POOLS[k].map(fn, items))


def row_ranges(n: int, step: int) -> list[tuple[int, int]]:
    """Consecutive (start, stop) ranges of at most ``step`` rows covering range(n)."""
    return [(a, min(n, a + step)) for a in range(0, n, max(1, step))]


def task_ranges(n: int, most: int) -> list[tuple[int, int]]:
    """``row_ranges`` for ``parallel_map``: about four tasks per thread, at most ``most`` rows each."""
    return row_ranges(n, min(most, -(-n // (4 * worker_threads()))))
