"""What every committed benchmark result carries: the command, the commit, the machine, the version.

A resumed suite keeps runs made by earlier commands, possibly at earlier commits, so the header's ``commit`` and
``command`` (those of the invocation that wrote the file) do not say where every run came from. Each run record is
therefore stamped with the commit that made it (``made_at``, by ``stamp``), and the header counts them
(``runs_made_at``: commit -> runs; "unrecorded" for runs logged before the stamp existed).
"""
from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from .. import __version__
from ..fileio import write_json


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """HEAD of the checkout holding ``cwd`` (default: this package), with "-dirty" when a tracked file that can change
    a result differs from it: anything but ``benchmarks/`` (a suite rewrites its own results as it goes) and
    Markdown prose."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=cwd)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                                ":(top,exclude)benchmarks", ":(top,exclude)*.md"], capture_output=True, text=True, timeout=5,
                               cwd=cwd).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; else the platform's processor string)."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "unknown")
    except OSError:
        return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """The machine a result was measured on (thread count and CPU capability decide float rounding, hence records
    reproduce bit for bit only where they match)."""
    info: dict[str, Any] = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                            "cpu_model": _cpu_model(), "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        # the kernels torch dispatches to: float results of the same code differ between capabilities
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        if torch.cuda.is_available():
            info["device"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            info["memory_gib"] = round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    info.setdefault("device", "cpu")
    return info


MADE_AT = "made_at"


@functools.cache
def process_commit() -> str:
    """The commit of the code this process runs, read once: ``fairdistill bench`` reads it before the suite starts,
    so a checkout edited while a long suite runs does not relabel the runs (a direct Python call reads it at its
    first stamp)."""
    return git_commit()


def stamp(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the commit that made it under ``made_at``; a record that has one (a resumed run) keeps it."""
    return record if MADE_AT in record else {**record, MADE_AT: process_commit()}


def made_at_tally(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Runs per commit that made them, most first ("unrecorded": runs from before records were stamped)."""
    return dict(Counter(r.get(MADE_AT, "unrecorded") for r in records).most_common())


def write_results(path: str | os.PathLike, suite: str, results: Any, config: dict | None = None,
                  runs: Iterable[dict[str, Any]] | None = None) -> Path:
    """Write ``{"suite", "command", "commit", "machine", "version", "date", "config", "results"}`` as JSON, with
    ``runs_made_at`` (``made_at_tally(runs)``) when the suite passes its run records."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {"suite": suite, "command": " ".join(["fairdistill", *sys.argv[1:]]) if sys.argv else "",
            "commit": git_commit()}
    if runs is not None:
        head["runs_made_at"] = made_at_tally(runs)
    write_json(path, {
        **head, "machine": machine(), "fairdistill_version": __version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": config or {}, "results": results,
    })
    return path
