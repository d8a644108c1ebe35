"""What the benchmark suites share: mean ± std over runs, configuration keys, the generic options a suite ignores,
the checks made before a suite writes anything.

Each suite keeps the JSON shape of its own results (``fwc-paper``: ``[mean, std]``; ``fair4free-paper``:
``[mean, std, n]``; ``intersectional``: ``{"mean", "std"}``); only the computation lives here.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from ..errors import ConfigError


def shown(v: Any) -> str:
    """A value as the suites' Markdown prints it: floats to 4 significant digits (the JSON keeps them whole)."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def mean_std(values: Iterable[Any]) -> tuple[float, float, int]:
    """Mean and standard deviation (population, ddof 0, as ``np.std``) of the finite numbers in ``values``, and how
    many there were. None, NaN and ±inf are left out (a run whose metric is undefined does not count);
    ``(nan, nan, 0)`` when no finite value is left."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not len(v):
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std()), int(len(v))


def _canonical(config: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The named fields of ``config`` as JSON would store them (tuples become lists); a missing field is None."""
    return json.loads(json.dumps({k: config.get(k) for k in fields}, sort_keys=True, default=str))


def config_key(config: Mapping[str, Any], fields: Iterable[str]) -> str:
    """12 hex digits (SHA-1) of the ``fields`` of ``config`` that decide what one run records: two configurations
    with the same key produce interchangeable run records."""
    text = json.dumps(_canonical(config, fields), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any], fields: Iterable[str]) -> list[str]:
    """The ``fields`` whose values differ between two configurations (compared as JSON stores them)."""
    fields = list(fields)
    a, b = _canonical(old, fields), _canonical(new, fields)
    return [k for k in fields if a[k] != b[k]]


def reject_ignored(suite: str, given: Mapping[str, bool], accepts: str) -> None:
    """Raise ConfigError when a generic ``fairdistill bench`` option that ``suite`` ignores was given.

    ``given`` maps an option (e.g. ``"--seeds"``) to whether it was set; ``accepts`` says what the suite does take."""
    bad = [name for name, was_given in given.items() if was_given]
    if bad:
        raise ConfigError(f"bench {suite} ignores {', '.join(bad)}; it accepts {accepts}")


def check_jobs(jobs: int) -> None:
    """A suite's ``jobs``: worker processes, >= 1."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs={jobs!r} must be a whole number >= 1 (worker processes; 1 runs in this process)")


def _task(args):
    """One task in a worker process, with one torch thread: (task, fn(*task))."""
    fn, task = args
    import torch
    torch.set_num_threads(1)
    return task, fn(*task)


def run_tasks(fn, tasks: Iterable[tuple], jobs: int = 1) -> Iterator[tuple[tuple, Any]]:
    """Yield ``(task, fn(*task))`` for every task: in order in this process when ``jobs`` is 1, else in completion
    order from ``jobs`` spawned worker processes (one torch thread each; ``fn`` a module-level function). The caller
    records each result as it comes (run logs are written by this process only). A multiprocessing pool, not
    concurrent.futures: leaving the loop on an interrupt or SIGTERM terminates the workers at once instead of waiting
    for every queued task."""
    if jobs == 1:
        for task in tasks:
            yield task, fn(*task)
        return
    import multiprocessing as mp
    with mp.get_context("spawn").Pool(jobs) as pool:
        yield from pool.imap_unordered(_task, [(fn, task) for task in tasks])


def run_stamp(t0: float) -> dict:
    """What a logged run records about how it ran: its wall time since ``t0`` (``time.perf_counter``) and its torch
    thread count, on which float rounding, hence a fit's discrete choices, depend."""
    import time

    import torch
    return {"run_seconds": round(time.perf_counter() - t0, 1), "torch_threads": torch.get_num_threads()}


def check_seeds(seeds: int | None, counts: str = "") -> None:
    """The generic ``--seeds`` of a suite: None (the suite's default) or a count >= 1 (``counts``: what it counts)."""
    if seeds is not None and seeds < 1:
        raise ConfigError(f"seeds={seeds} must be >= 1{f' ({counts})' if counts else ''}")


def check_data(names: Iterable[str], data_dir=None) -> None:
    """Raise MissingDataError (naming the missing file and the fix) unless every dataset in ``names`` has its files
    under the search roots (``data_dir`` when given): a suite calls it before it creates its folder."""
    from ..datasets import require_files
    for name in names:
        require_files(name, data_dir)
