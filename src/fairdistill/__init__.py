"""fairdistill: small or synthetic datasets that train accurate and fair models.

Where things are: ``fairdistill.datasets`` (``load``, ``load_splits``, ``from_frame``, ``names``),
``fairdistill.methods`` (``make(name, **params)``, ``available()``: FWC, Fair4Free, intersectional augmentation,
DM / DC / FairDD and the coreset baselines), ``fairdistill.evaluate`` (a downstream model on the real test split) and
``fairdistill.metrics`` (the papers' fairness and fidelity metrics). Each submodule is imported on first use.

Long fits and evaluations print progress to stderr; ``fairdistill.set_quiet(True)`` silences it for the process,
``with fairdistill.quiet(): ...`` for a block.
"""
__version__ = "0.1.0"

from .dataset import FairDataset, SyntheticSet  # noqa: E402
from .errors import ConfigError, DataError, FairDistillError, MissingDataError  # noqa: E402
from .progress import quiet, set_quiet  # noqa: E402


_SUBMODULES = ("datasets", "methods", "metrics")


def __getattr__(name: str):
    """``fairdistill.evaluate`` is :func:`fairdistill.evaluation.evaluate` itself (its signature and help);
    ``fairdistill.datasets`` / ``methods`` / ``metrics`` are the submodules. All are imported on first use (torch
    is heavy)."""
    import importlib
    if name == "evaluate":
        from .evaluation import evaluate
        return evaluate
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fairdistill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "evaluate", *_SUBMODULES])


__all__ = ["FairDataset", "SyntheticSet", "FairDistillError", "ConfigError", "DataError", "MissingDataError",
           "evaluate", "quiet", "set_quiet", "datasets", "methods", "metrics", "__version__"]
