"""FWC — Fair Wasserstein Coresets (Xiong et al., NeurIPS 2024) and its special case FairWASP (AAAI 2024).

``encoding`` (Z = (D, X, Y)), ``allocation`` (labels of the coreset points), ``nearest`` (the per-cell nearest-point
search that aggregates the costs), ``dual`` (the inner LP F(C) and its cutting-plane dual solver), ``mm``
(majorization–minimization over the coreset features), ``equalized`` (the experimental equalized-odds rows),
``parallel`` (the thread pool they share), ``estimator`` (the ``FWC`` and ``FairWASP`` methods).
"""
from .estimator import FWC, FairWASP  # noqa: E402

__all__ = ["FWC", "FairWASP"]
