"""Declared parameters: one ``Param`` per option serves a constructor, its validation, provenance and the CLI flag.

Used by methods, dataset loaders, downstream models and the evaluation alike; the checks below return an error
fragment ("must be > 0") or None.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .errors import ConfigError, check_choice
from .seeding import seed_range


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: name (snake_case), type, default, help text, optional choices and a check.

    ``check`` returns an error fragment (e.g. "must be > 0") or None. ``type`` is one of int, float, str, bool,
    ``"size"`` (a fraction in (0, 1) of the rows, or a whole count >= 1; anything else is an error, and so is
    1.0, which could mean either), or a parser function that returns the typed value and raises ValueError whose
    message says what it accepts. None is accepted only where the default is None (it means "decided by the
    preset or the data").
    """

    name: str
    type: Any
    default: Any
    help: str
    choices: Sequence[Any] | None = None
    check: Callable[[Any], str | None] | None = None

    def coerce(self, value: Any) -> Any:
        """The typed, checked value; a value already of the right type and equal to its coerced form is returned
        as the same object (scikit-learn's ``clone`` checks that the constructor keeps its arguments)."""
        if value is None:
            if self.default is None:
                return None
            raise ConfigError(f"{self.name}=None is not valid; give {self._accepts()} (default {self.default!r})")
        if isinstance(value, (bool, np.bool_)) and self.type is not bool:  # True is an int to Python, not a count
            raise ConfigError(f"{self.name}={value!r} is not valid: a boolean is not {self._accepts()}")
        try:
            if self.type == "size":  # one rule: a fraction in (0, 1) or a whole count >= 1
                v = float(value)
                given_whole = isinstance(value, (int, np.integer)) or (isinstance(value, str)
                                                                      and value.strip().isdigit())
                if (v == 1 and not given_whole) or not (0 < v < 1 or (v >= 1 and v.is_integer())):
                    raise ValueError(value)  # 1.0 (or "1e0"): all the rows, or one?
                typed = int(v) if v >= 1 else v
            elif self.type is bool and isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                typed = value.lower() in ("1", "true", "yes")
            elif self.type is bool:  # a boolean, or the numbers 0 and 1 (JSON): bool(5) or bool([1]) is no answer
                if not isinstance(value, (bool, np.bool_, int, np.integer)) or value not in (0, 1):
                    raise ValueError(value)
                typed = bool(value)
            elif self.type in (int, float, str, bool):
                if self.type is int and isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                typed = self.type(value)
            else:
                typed = self.type(value)
        except (TypeError, ValueError) as err:
            kind = self._kind() or str(err)  # a parser's ValueError says what it accepts
            raise ConfigError(f"{self.name}={value!r} is not valid; give {kind}") from None
        if type(typed) is type(value) and typed == value:
            typed = value
        if self.choices is not None:
            check_choice(typed, self.name, self.choices)
        if self.check is not None:
            msg = self.check(typed)
            if msg:
                raise ConfigError(f"{self.name}={typed!r} {msg}")
        return typed

    def _kind(self) -> str | None:
        """What the type accepts, in words (None for a parser function, whose ValueError says it)."""
        if self.type == "size":
            return "a fraction in (0, 1) or a whole count >= 1 (1.0 is ambiguous: give 1 for one row)"
        if self.type in (int, float, str, bool):
            return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[self.type]
        return None

    def _accepts(self) -> str:
        """``_kind``, or for a parser function the parameter's help."""
        return self._kind() or f"what its help says: {self.help}"


def positive(v) -> str | None:
    return None if v > 0 else "must be > 0"


def non_negative(v) -> str | None:
    return None if v >= 0 else "must be >= 0"


def device_problem(v) -> str | None:
    """Why ``v`` cannot name a torch device on this machine (None when it can): its form (auto, cpu, cuda, cuda:N,
    mps), then whether CUDA / MPS is present. Every ``--device`` and every ``device=`` goes through it."""
    if not isinstance(v, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v):
        return "is not a device name; use auto, cpu, cuda, cuda:N or mps"
    if v == "auto" or v == "cpu":
        return None
    import torch
    if v.startswith("cuda"):
        if not torch.cuda.is_available():
            return "asks for CUDA but none is available; use auto or cpu"
        if ":" in v and int(v.split(":")[1]) >= torch.cuda.device_count():
            return f"asks for a CUDA device this machine lacks (it has {torch.cuda.device_count()}); use cuda or auto"
    elif not torch.backends.mps.is_available():
        return "asks for MPS (Apple GPU) but this torch has none; use auto or cpu"
    return None


#: every seed a user gives (methods, evaluation): an integer in 0..2**32-1
SEED = Param("seed", int, 0, "random seed (0..2**32-1): same seed, same result on the same machine with the same "
             "number of threads (OMP_NUM_THREADS)", check=seed_range)

#: every device a user gives (methods, evaluation, benchmarks); one this machine lacks is refused up front
DEVICE = Param("device", str, "auto", "torch device: auto (CUDA when present, else CPU), cpu, cuda, cuda:N or mps; "
               "one this machine lacks is an error", check=device_problem)
