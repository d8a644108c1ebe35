"""One exception family. Every message names the bad value and what would be accepted."""


class FairDistillError(Exception):
    """Base class: the CLI prints ``str(err)`` on one line and exits with status 2."""


class ConfigError(FairDistillError, ValueError):
    """A parameter, option or name is out of range or unknown."""


class DataError(FairDistillError, ValueError):
    """Input data is malformed: wrong shape, NaN, an empty group, a single class."""


class MissingDataError(FairDistillError, FileNotFoundError):
    """A dataset file is missing or fails its checksum."""


class ResumeError(FairDistillError):
    """A checkpoint cannot be resumed (different configuration or corrupt file)."""


class SolverError(FairDistillError, RuntimeError):
    """An optimisation problem set up from the user's parameters cannot be solved (for example parity constraints
    too tight to meet exactly); the message names the parameter to change."""


#: how close (difflib ratio) a misspelt name must be to a choice for "did you mean" to name it ('fcw' -> 'fwc': 0.67)
CLOSE = 0.6


def check_choice(value, name: str, choices, *, error: type[FairDistillError] = ConfigError) -> None:
    """Raise ``error("name=value is unknown[; did you mean 'x'?]; choose from: 'a', 'b'")`` unless ``value`` is one
    of ``choices`` (a number "is not accepted": it is not misspelt, so no hint)."""
    if value not in choices:
        spelt = isinstance(value, str) and all(isinstance(c, str) for c in choices)
        what = f"is unknown{did_you_mean(value, choices)}" if spelt else "is not accepted"
        raise error(f"{name}={value!r} {what}; choose from: {', '.join(map(repr, choices))}")


def check_name(name, kind: str, names) -> None:
    """Raise ``ConfigError("unknown <kind> 'x'[; did you mean 'y'?]; choose from: a, b")`` unless ``name`` is one
    of the registered ``names`` (datasets, methods, models, architectures), listed in the order given."""
    if name not in names:
        raise ConfigError(f"unknown {kind} {name!r}{did_you_mean(name, names)}; choose from: {', '.join(names)}")


def check_members(values, what: str, choices, *, hint: str = "",
                  error: type[FairDistillError] = ConfigError) -> None:
    """Raise ``error("unknown <what> ['x'][; did you mean 'y'?]; choose from: a, b<hint>")`` for the ``values`` a
    user listed (a suite's datasets, a method's parameters) that are not among ``choices``."""
    bad = [v for v in dict.fromkeys(values) if v not in choices]
    if bad:
        raise error(f"unknown {what} {bad}{did_you_mean(bad, choices)}; choose from: "
                    f"{', '.join(map(str, choices)) or 'none'}{hint}")


def did_you_mean(names, choices, *, cutoff: float = CLOSE, show=repr) -> str:
    """``"; did you mean 'x'?"`` for the closest choice to each of ``names`` (difflib ratio >= ``cutoff``), each shown
    by ``show``; "" when none is close."""
    import difflib
    if isinstance(names, str):
        names = [names]
    close = [m for n in names
             for m in difflib.get_close_matches(str(n), [str(c) for c in choices], n=1, cutoff=cutoff)]
    return f"; did you mean {' or '.join(show(c) for c in dict.fromkeys(close))}?" if close else ""
