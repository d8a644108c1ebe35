"""``s_mode="auto"``: pick how generated rows get their sensitive group by how a model trained on them treats the
real training rows.

For each candidate mode c (``CANDIDATES``): draw the n rows that ``model.sample(n, s_mode=c)`` returns (n = the rows
the fit returns), train the evaluation protocol's random forest on them (features x plus one one-hot
block per sensitive axis, as ``evaluate`` builds them), predict the real training rows and score, over the model's
groups g,

    fair(c) = min(DPR, EOR),  DPR = min_g P(yhat = 1 | g) / max_g P(yhat = 1 | g),
    EOR = min over y in {0, 1} of min_g P(yhat = 1 | g, y) / max_g P(yhat = 1 | g, y),

and balanced accuracy b(c). The choice is argmax fair(c) among the modes with b(c) >= max_c' b(c') - BACC_SLACK
(so a mode cannot win by predicting one class), ties to the earlier candidate. The training rows are the only real
rows the method sees; the classifier never sees them, it only scores them. Measured against the fixed modes in
``benchmarks/fair4free-smode.md``.
"""
from __future__ import annotations

import numpy as np

from ... import metrics as M
from ...dataset import FairDataset
from ...progress import log

CANDIDATES = ("sample", "counterfactual", "balanced", "posterior", "posterior-balanced")
BACC_SLACK = 0.02  # a candidate may be this much less accurate (balanced accuracy) than the most accurate one
SELECTION_MODEL = "rf"


def score_modes(model, data: FairDataset, gid: np.ndarray, n: int, candidates=CANDIDATES) -> dict[str, dict]:
    """mode -> {"dpr", "eor", "fair", "bacc"} of a random forest trained on ``model.sample(n, s_mode=mode)``, scored on
    the real rows ``data`` (group of each row: ``gid``)."""
    from ...evaluation import model_inputs
    from ...models import make as make_model
    n_values = [int(data.s[:, k].max(initial=0)) + 1 for k in range(data.s.shape[1])]
    X_real = model_inputs(data, n_values, True)
    out = {}
    for mode in candidates:
        syn = model.sample(n, s_mode=mode)
        clf = make_model(SELECTION_MODEL, int(data.n_classes), seed=model.seed)
        pred = clf.fit(model_inputs(syn, n_values, True), syn.y).predict_proba(X_real).argmax(1)
        dpr = float(M.demographic_parity_ratio(data.y, pred, sensitive_features=gid))
        eor = float(M.equalized_odds_ratio(data.y, pred, sensitive_features=gid))
        out[mode] = {"dpr": dpr, "eor": eor, "fair": float(np.nan_to_num(min(dpr, eor))),
                     "bacc": float(M.balanced_accuracy(data.y, pred))}
    return out


def choose(scores: dict[str, dict[str, float]], slack: float = BACC_SLACK) -> str:
    """The mode with the largest ``fair`` among those within ``slack`` of the best balanced accuracy (first wins
    ties)."""
    best_bacc = max(s["bacc"] for s in scores.values())
    eligible = [m for m, s in scores.items() if s["bacc"] >= best_bacc - slack]
    return max(eligible, key=lambda m: scores[m]["fair"])  # max keeps the first of equal values


def select_s_mode(model, data: FairDataset, gid: np.ndarray, n: int) -> tuple[str, dict]:
    """(chosen mode, every candidate's scores) for draws of ``n`` rows; logs the comparison."""
    log(f"[fair4free] s_mode auto: training a {SELECTION_MODEL} on {n} generated rows per candidate mode "
        f"({', '.join(CANDIDATES)}) and scoring it on the {len(data)} real training rows ...")
    scores = score_modes(model, data, gid, n)
    mode = choose(scores)
    table = ", ".join(f"{m} {s['dpr']:.2f}/{s['eor']:.2f}/{s['bacc']:.3f}" for m, s in scores.items())
    log(f"[fair4free] s_mode auto -> {mode} (DPR/EOR/balanced accuracy on the real training rows: {table})")
    return mode, scores
