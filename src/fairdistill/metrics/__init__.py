"""Utility, fairness and fidelity metrics: plain functions on arrays (specification: spec/METRICS.md).

Fairness functions take ``(y_true, y_pred, *, sensitive_features)`` in fairlearn's style; ``sensitive_features`` is
1-D or N x k (the groups are then the row tuples present, i.e. intersectional groups). Undefined values are NaN with
a :class:`MetricWarning`; ``return_table=True`` also returns the per-group table a value was built from.
"""
from ._common import MetricWarning
from .deo import deo_avg, deo_max, deo_table
from .fidelity import (RealBalls, clustering_cost, density_coverage, median_bandwidths, mmd,
                       wasserstein_distance)
from .groups import (demographic_disparity, demographic_parity_difference, demographic_parity_ratio,
                     equal_opportunity_difference, equal_opportunity_ratio, equalized_odds_difference,
                     equalized_odds_ratio, group_rates, parity_violation, selection_rates, tradeoff)
from .intersectional import (best_group_tpr, bootstrap, differential_fairness, differential_fairness_outcomes,
                             group_tpr, if_alpha, if_alpha_from_rates, if_alpha_reference,
                             worst_group_tpr)
from .utility import accuracy, auc, balanced_accuracy, f1, recall

__all__ = [
    "MetricWarning",
    "accuracy", "balanced_accuracy", "auc", "f1", "recall",
    "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference", "equalized_odds_ratio",
    "equal_opportunity_difference", "equal_opportunity_ratio", "demographic_disparity", "selection_rates",
    "group_rates", "parity_violation", "tradeoff",
    "deo_max", "deo_avg", "deo_table",
    "group_tpr", "differential_fairness", "differential_fairness_outcomes", "worst_group_tpr", "best_group_tpr",
    "if_alpha", "if_alpha_reference", "if_alpha_from_rates", "bootstrap",
    "wasserstein_distance", "clustering_cost", "density_coverage", "RealBalls", "mmd", "median_bandwidths",
]
