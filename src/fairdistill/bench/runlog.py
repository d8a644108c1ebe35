"""The run log of a benchmark suite: one JSON record per finished run, appended as it finishes, so that an interrupted
or extended benchmark continues where it stopped (``fwc-paper.runs.jsonl``, ``fair4free-paper.runs.jsonl``).

Every record is stamped with the suite's configuration key (``common.config_key``: a hash of the settings that decide
what one run records), and a log belongs to one configuration:

- ``records()`` returns the records of the log (without the stamp). A record under another key, or without one,
  raises ``ConfigError``: the log was written by another configuration (e.g. ``--quick``), and neither mixing its
  runs into this one's results nor appending this one's runs to it is safe. The message names the file; use another
  ``--out``, or delete the file to start afresh. (Ignoring such records instead would let a quick run append to,
  and rewrite the results of, a folder holding hours of full runs.)
- A torn last line (the process was killed in the middle of an append) is skipped with a ``RuntimeWarning``; the
  next ``append`` cuts it off first. An unreadable line anywhere else means the file was damaged otherwise:
  ``ResumeError``.
- ``append(record)`` writes one line in one call and flushes it to disk, the record stamped with the commit that
  made it (``record.stamp``: ``made_at``).
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ResumeError
from .record import stamp

STAMP = "config_key"


class RunLog:
    """Append-only JSON Lines file of the runs of one configuration (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, config_key: str):
        self.path = Path(path)
        self.config_key = str(config_key)

    # ---------------------------------------------------------------------------------------------- reading
    def _lines(self) -> tuple[list[bytes], bool]:
        """The file's lines and whether its last line lacks a newline (an append that did not finish)."""
        if not self.path.exists():
            return [], False
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        open_tail = lines[-1] != b""
        return (lines if open_tail else lines[:-1]), open_tail

    @staticmethod
    def _parse(line: bytes) -> dict | None:
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return rec if isinstance(rec, dict) else None

    def records(self) -> list[dict[str, Any]]:
        """The logged records, in the order they were appended, without their configuration stamp."""
        lines, open_tail = self._lines()
        out = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            rec = self._parse(line)
            if rec is None:
                if open_tail and i == len(lines) - 1:
                    warnings.warn(f"{self.path}: line {i + 1} is incomplete (a run was interrupted while it was "
                                  "written); skipped", RuntimeWarning, stacklevel=2)
                    continue
                raise ResumeError(f"{self.path}: line {i + 1} is not a JSON record; repair or delete the file")
            key = rec.pop(STAMP, None)
            if key != self.config_key:
                raise ConfigError(
                    f"{self.path} holds runs of another configuration (config key {key or 'missing'}, this run's is "
                    f"{self.config_key}); use another --out, or delete the file to start afresh")
            out.append(rec)
        return out

    # ---------------------------------------------------------------------------------------------- writing
    def _cut_torn_tail(self) -> None:
        """Before an append: drop an unfinished last line, or end a complete one that only lacks its newline."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) == b"\n":
                return
        lines, _ = self._lines()
        if self._parse(lines[-1]) is not None:
            with open(self.path, "ab") as fh:
                fh.write(b"\n")
            return
        with open(self.path, "r+b") as fh:
            fh.truncate(sum(len(line) + 1 for line in lines[:-1]))

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add one record, stamped with this log's configuration key and the commit that made it; returns the record
        as ``records()`` will return it (with ``made_at``)."""
        record = stamp(record)
        line = (json.dumps({**record, STAMP: self.config_key}) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_tail()
        with open(self.path, "ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        return record
