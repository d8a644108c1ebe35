"""FWC benchmark ``fwc-scale``: run time and memory from n = 1e3 to 1e6 on the synthetic data of DATASETS.md §3,
and the inner solver against HiGHS on the same inner problem. (``fwc-paper`` lives in ``fwc_paper.py``.)"""
from __future__ import annotations

import numpy as np

from ..dataset import FairDataset


def synthetic(n: int, p: int = 25, seed: int = 0) -> FairDataset:
    """DATASETS.md §3: D ~ Bernoulli(0.5); X1 ~ U[0, 10] if D = 0 else 0; X2 = 5·N(0, 1); p − 2 further N(0, 1)
    columns; Y = 1[X1 + X2 > mean(X1 + X2) + N(0, 1)]."""
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 2, n)
    X = rng.standard_normal((n, p))
    X[:, 0] = np.where(d == 0, rng.uniform(0.0, 10.0, n), 0.0)
    X[:, 1] = 5.0 * rng.standard_normal(n)
    t = X[:, 0] + X[:, 1]
    y = (t > t.mean() + rng.standard_normal(n)).astype(np.int64)
    return FairDataset(X=X.astype(np.float32), y=y, s=d[:, None], sensitive_names=["d"], name=f"fwc-synthetic-{n}",
                       n_classes=2, sensitive_values=[["0", "1"]], feature_names=[f"x{i + 1}" for i in range(p)])
