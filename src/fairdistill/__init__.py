"""fairdistill: small or synthetic datasets that train accurate and fair models."""
__version__ = "0.1.0"

from .dataset import FairDataset, SyntheticSet  # noqa: E402
from .errors import ConfigError, DataError, FairDistillError, MissingDataError  # noqa: E402


def evaluate(*args, **kwargs):
    """See :func:`fairdistill.evaluation.evaluate` (imported lazily: it pulls in torch)."""
    from .evaluation import evaluate as _evaluate
    return _evaluate(*args, **kwargs)


__all__ = ["FairDataset", "SyntheticSet", "FairDistillError", "ConfigError", "DataError", "MissingDataError",
           "evaluate", "__version__"]
