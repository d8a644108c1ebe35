"""Progress for long loops: a tqdm bar on a terminal; otherwise a log line after the first step, then about every
``log_seconds`` seconds and at the last step, each with step/total, elapsed time and an estimate of the time left
(none when the total is only a cap)."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (True) or restore (False) progress bars, progress lines and log lines, process-wide
    (``fairdistill.set_quiet``; the CLI's default is to show them)."""
    global _QUIET
    _QUIET = bool(quiet)


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """``with fairdistill.quiet(): ...``: ``set_quiet(on)`` inside the block, the previous setting after it."""
    before = _QUIET
    set_quiet(on)
    try:
        yield
    finally:
        set_quiet(before)


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """``for i in (p := Progress(range(n), "DM")): ...; p.set(loss=...)``.

    ``start``: steps already done before this loop (a resumed run), so that the count reads start+1..total out of
    the whole run's ``total``. ``at_most``: ``total`` is a cap that the loop usually stops before (an iteration
    limit), so lines read "step (at most total)" and give no ETA; the loop logs its own stop.
    """

    def __init__(self, it: Iterable[T], desc: str, total: int | None = None, log_seconds: float = 30.0,
                 start: int | None = None, at_most: bool = False):
        self.it = it
        self.desc = desc
        self.at_most = at_most
        start = start or 0
        self.start = start
        if total is None and hasattr(it, "__len__"):
            total = start + len(it)
        self.total = total
        self.log_seconds = log_seconds
        self.stats: dict[str, float] = {}
        self._bar = None
        if not _QUIET and sys.stderr.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=self.total, initial=start, desc=desc, leave=False, dynamic_ncols=True)

    def set(self, **stats: float) -> None:
        self.stats.update(stats)
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in self.stats.items()}, refresh=False)

    def line(self, step: int, elapsed: float) -> str:
        """``[desc] step/total elapsed, ETA left, stats`` (the ETA from this run's own steps)."""
        done = step - self.start
        of = "" if not self.total else f" (at most {self.total})" if self.at_most else f"/{self.total}"
        parts = [f"[{self.desc}] {step}{of}", f"{duration(elapsed)} elapsed"]
        if self.total and not self.at_most and done > 0 and step < self.total:
            parts.append(f"ETA {duration(elapsed / done * (self.total - step))}")
        stats = " ".join(f"{a}={b:.4g}" for a, b in self.stats.items())
        return ", ".join(parts) + (f", {stats}" if stats else "")

    def __iter__(self) -> Iterator[T]:
        t0 = last = time.perf_counter()
        try:
            for k, item in enumerate(self.it):
                yield item
                if self._bar is not None:
                    self._bar.update(1)
                    continue
                if _QUIET:
                    continue
                step, now = self.start + k + 1, time.perf_counter()
                if k == 0 or now - last >= self.log_seconds or step == self.total:
                    last = now
                    print(self.line(step, now - t0), file=sys.stderr, flush=True)
        finally:  # also when the loop is left early
            if self._bar is not None:
                self._bar.close()


def log(msg: str) -> None:
    if not _QUIET:
        print(msg, file=sys.stderr, flush=True)
