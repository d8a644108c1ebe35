"""fairdistill: small or synthetic datasets that train accurate and fair models.

Long fits and evaluations print progress to stderr; ``fairdistill.set_quiet(True)`` silences it for the process,
``with fairdistill.quiet(): ...`` for a block.
"""
__version__ = "0.1.0"

from .dataset import FairDataset, SyntheticSet  # noqa: E402
from .errors import ConfigError, DataError, FairDistillError, MissingDataError  # noqa: E402
from .progress import quiet, set_quiet  # noqa: E402


def __getattr__(name: str):
    """``fairdistill.evaluate`` is :func:`fairdistill.evaluation.evaluate` itself (its signature and help), imported
    on first use: it pulls in torch."""
    if name == "evaluate":
        from .evaluation import evaluate
        return evaluate
    raise AttributeError(f"module 'fairdistill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "evaluate"])


__all__ = ["FairDataset", "SyntheticSet", "FairDistillError", "ConfigError", "DataError", "MissingDataError",
           "evaluate", "quiet", "set_quiet", "__version__"]
