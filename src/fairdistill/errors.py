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


def check_choice(value, name: str, choices, *, error: type[FairDistillError] = ConfigError) -> None:
    """Raise ``error("name=value is unknown[; did you mean ...]; use one of ...")`` unless ``value`` is in
    ``choices`` (the hint only for a text value and text choices: a number is not misspelt)."""
    if value not in choices:
        spelt = isinstance(value, str) and all(isinstance(c, str) for c in choices)
        hint = did_you_mean(value, choices, cutoff=0.75) if spelt else ""
        raise error(f"{name}={value!r} is unknown{hint}; use one of {', '.join(map(repr, choices))}")


def check_name(name, kind: str, names) -> None:
    """Raise ``ConfigError("unknown <kind> 'name'[; did you mean ...]; choose one of: a, b")`` unless ``name`` is
    one of the registered ``names`` (datasets, methods, models, architectures), listed in their order."""
    if name not in names:
        raise ConfigError(f"unknown {kind} {name!r}{did_you_mean(name, names)}; choose one of: {', '.join(names)}")


def check_members(values, name: str, choices) -> None:
    """Raise ``ConfigError("unknown <name> ['x'][; did you mean ...]; choose from: a, b")`` for the ``values`` (a
    list a user gave, e.g. a suite's datasets) that are not among ``choices``."""
    bad = [v for v in dict.fromkeys(values) if v not in choices]
    if bad:
        raise ConfigError(f"unknown {name} {bad}{did_you_mean(bad, choices)}; choose from: "
                          f"{', '.join(map(str, choices))}")


def did_you_mean(names, choices, *, cutoff: float = 0.6, show=repr) -> str:
    """``"; did you mean 'x'?"`` for the closest choice to each of ``names`` (difflib ratio >= ``cutoff``), each shown
    by ``show``; "" when none is close."""
    import difflib
    if isinstance(names, str):
        names = [names]
    close = [m for n in names
             for m in difflib.get_close_matches(str(n), [str(c) for c in choices], n=1, cutoff=cutoff)]
    return f"; did you mean {' or '.join(show(c) for c in dict.fromkeys(close))}?" if close else ""
