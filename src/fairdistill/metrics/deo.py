"""FairDD's multi-class equal-opportunity gaps DEO_M and DEO_A (METRICS.md §3), in percent.

count[g, c] = weight of rows with group g and label c, correct[g, c] = those with y_pred = c,
TPR[g, c] = correct / count, gap[c] = max_g TPR[g, c] - min_g TPR[g, c],
DEO_M = 100 max_c gap[c], DEO_A = 100 mean_c gap[c]. Range [0, 100], lower is fairer.

Rows of weight 0 are dropped first: a group or class seen only in them is absent from the lists taken from the data
(a ``groups`` or ``classes`` list given explicitly still holds it, as an empty cell). Project semantics: cells with
count 0 are left out, and a class with fewer than two non-empty groups is left out of
max and mean (no class left -> NaN). ``reference_empty_cells=True`` reproduces FairDD's code: TPR = correct /
(count + 1e-8), so an empty cell has TPR 0 and enters the gap, over the group list ``groups`` (FairDD takes it from
the training labels; default: the groups present) and the classes ``classes`` (default: the labels present in
y_true or y_pred).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import warn, weighted_groups, with_table


def deo_table(y_true, y_pred, *, sensitive_features, sample_weight=None, groups=None, classes=None,
              reference_empty_cells=False) -> pd.DataFrame:
    """Per (group, class) cell: count, correct, tpr, and whether the cell enters the gap (``used``)."""
    codes, index, w, y_true, y_pred = weighted_groups(sensitive_features, sample_weight, y_true=y_true, y_pred=y_pred)
    group_list = list(index) if groups is None else list(groups)
    if groups is not None:  # map the present groups onto the given list (groups absent from it are dropped)
        pos = {gv: i for i, gv in enumerate(group_list)}
        remap = np.array([pos.get(gv, -1) for gv in index], dtype=np.int64)
        codes = remap[codes] if len(codes) else codes
    class_list = list(np.union1d(y_true, y_pred)) if classes is None else list(classes)
    rows = []
    for gi, gv in enumerate(group_list):
        in_g = codes == gi
        for c in class_list:
            cell = in_g & (y_true == c)
            cnt = float(w[cell].sum())
            cor = float(w[cell & (y_pred == c)].sum())
            tpr = cor / (cnt + 1e-8) if reference_empty_cells else (cor / cnt if cnt > 0 else np.nan)
            rows.append((gv, c, cnt, cor, tpr))
    table = pd.DataFrame(rows, columns=["group", "class", "count", "correct", "tpr"])
    if reference_empty_cells:
        table["used"] = True
    else:
        nonempty = table["count"] > 0
        per_class = nonempty.groupby(table["class"]).transform("sum")
        table["used"] = nonempty & (per_class >= 2)
    return table


def _gaps(table: pd.DataFrame) -> pd.Series:
    used = table[table["used"]]
    return used.groupby("class")["tpr"].agg(lambda t: t.max() - t.min())


def _deo(reduce, y_true, y_pred, sensitive_features, sample_weight, reference_empty_cells, groups, classes,
         return_table):
    table = deo_table(y_true, y_pred, sensitive_features=sensitive_features, sample_weight=sample_weight,
                      groups=groups, classes=classes, reference_empty_cells=reference_empty_cells)
    gaps = _gaps(table)
    if len(gaps) == 0:
        warn("DEO is undefined: no class has two groups with test rows; returning NaN")
        return with_table(float("nan"), table, return_table)
    return with_table(float(100.0 * reduce(gaps.to_numpy())), table, return_table)


def deo_max(y_true, y_pred, *, sensitive_features, sample_weight=None, reference_empty_cells=False, groups=None,
            classes=None, return_table=False):
    """DEO_M = 100 max_c (max_g TPR[g, c] - min_g TPR[g, c]); see the module docstring for empty cells."""
    return _deo(np.max, y_true, y_pred, sensitive_features, sample_weight, reference_empty_cells, groups, classes,
                return_table)


def deo_avg(y_true, y_pred, *, sensitive_features, sample_weight=None, reference_empty_cells=False, groups=None,
            classes=None, return_table=False):
    """DEO_A = 100 mean_c (max_g TPR[g, c] - min_g TPR[g, c]); see the module docstring for empty cells."""
    return _deo(np.mean, y_true, y_pred, sensitive_features, sample_weight, reference_empty_cells, groups, classes,
                return_table)
