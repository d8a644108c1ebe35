"""Progress for long loops: a tqdm bar on a terminal, a log line every ``log_every`` steps otherwise."""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

_QUIET = False


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = bool(quiet)


class Progress:
    """``for i in (p := Progress(range(n), "DM")): ...; p.set(loss=...)``."""

    def __init__(self, it: Iterable[T], desc: str, total: int | None = None, log_every: int | None = None):
        self.it = it
        self.desc = desc
        self.total = total if total is not None else (len(it) if hasattr(it, "__len__") else None)
        self.log_every = log_every or max(1, (self.total or 100) // 10)
        self.stats: dict[str, float] = {}
        self._bar = None
        if not _QUIET and sys.stderr.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=self.total, desc=desc, leave=False, dynamic_ncols=True)

    def set(self, **stats: float) -> None:
        self.stats.update(stats)
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in self.stats.items()}, refresh=False)

    def __iter__(self) -> Iterator[T]:
        t0 = time.perf_counter()
        for k, item in enumerate(self.it):
            yield item
            if self._bar is not None:
                self._bar.update(1)
            elif not _QUIET and ((k + 1) % self.log_every == 0 or k + 1 == self.total):
                stats = " ".join(f"{a}={b:.4g}" for a, b in self.stats.items())
                tot = f"/{self.total}" if self.total else ""
                print(f"[{self.desc}] {k + 1}{tot} {time.perf_counter() - t0:.1f}s {stats}", file=sys.stderr,
                      flush=True)
        if self._bar is not None:
            self._bar.close()


def log(msg: str) -> None:
    if not _QUIET:
        print(msg, file=sys.stderr, flush=True)
