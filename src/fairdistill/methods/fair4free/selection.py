"""Choices Fair4Free makes on the real training rows, by how a model trained on its generated rows treats them.

Both score a draw the same way: train the model ``selection_model`` (default the evaluation protocol's random forest;
the downstream model the rows are meant for) on the n generated rows (n = the rows the fit returns; features x plus
one one-hot block per sensitive axis, as ``evaluate`` builds them), predict the real training rows and score, over the
model's groups g,

    fair = min(DPR, EOR),  DPR = min_g P(yhat = 1 | g) / max_g P(yhat = 1 | g),
    EOR = min over y in {0, 1} of min_g P(yhat = 1 | g, y) / max_g P(yhat = 1 | g, y),

and balanced accuracy b. Among candidates, ``choose`` takes argmax fair among those with b >= max b - BACC_SLACK (so
a candidate cannot win by predicting one class), ties to the earlier candidate. The training rows are the only real
rows the method sees; the classifier never trains on them, it only scores them. Measured in
``benchmarks/fair4free-smode.md``.

``s_mode="auto"``: the candidates are the draws ``model.sample(n, s_mode=c)`` for c in ``CANDIDATES``.

``label_shift="auto"`` [project]: a forest trained on generated rows whose labels are fair (``y_parity`` makes each
group's label shares equal) can still favour a group on real rows, whose features differ by group more than the
generated ones do. With r_g the forest's positive rate on group g's real rows and r the overall one, the candidates
shift the class-1 label logit of every generated row of group g by t * d_g, d_g = logit(r) - logit(r_g) (the direction
that evens the rates out), for t in 0, ``SHIFT_STEPS``, ... (walked up until fair falls ``SHIFT_STOP`` below the best
so far or b leaves the slack), on the fitted s_mode's draw.

The best t depends on the model (XGBoost trades EOR for DPR faster than the forest as t grows), so the choices are
made for the model named by ``selection_model``; chosen for XGBoost, the shift raises XGBoost's test EOR
(``benchmarks/fair4free-smode.md``, row ``auto-xgboost``).
"""
from __future__ import annotations

import numpy as np

from ... import metrics as M
from ...dataset import FairDataset
from ...progress import log

CANDIDATES = ("sample", "counterfactual", "balanced", "posterior", "posterior-balanced")
BACC_SLACK = 0.02  # a candidate may be this much less accurate (balanced accuracy) than the most accurate one
SELECTION_MODELS = ("rf", "xgboost", "logreg")  # downstream models the choices can be made for (default rf)
SHIFT_STEPS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # multiples t of the direction d tried after t = 0
SHIFT_STOP = 0.03  # the walk stops once fair is this much below the best so far
RATE_CLIP = 1e-3  # rates are clipped to [RATE_CLIP, 1 - RATE_CLIP] before the logit


class _Scorer:
    """Scores generated sets by the predictions of ``model.selection_model`` on the real rows ``data`` (group of
    each row: ``gid``)."""

    def __init__(self, model, data: FairDataset, gid: np.ndarray):
        from ...evaluation import model_inputs, sensitive_sizes
        self.model, self.data, self.gid = model, data, gid
        self.n_values = sensitive_sizes(data)
        self.X_real = model_inputs(data, self.n_values, True)

    def __call__(self, syn) -> dict:
        """{"dpr", "eor", "fair", "bacc", "rates"} (rates: the positive rate on each group's real rows)."""
        from ...evaluation import model_inputs
        from ...models import make as make_model
        y, gid = self.data.y, self.gid
        clf = make_model(self.model.selection_model, int(self.data.n_classes), seed=self.model.seed)
        pred = clf.fit(model_inputs(syn, self.n_values, True), syn.y).predict_proba(self.X_real).argmax(1)
        dpr = float(M.demographic_parity_ratio(y, pred, sensitive_features=gid))
        eor = float(M.equalized_odds_ratio(y, pred, sensitive_features=gid))
        rates = [float(pred[gid == g].mean()) if np.any(gid == g) else float("nan")
                 for g in range(len(self.model.groups_))]
        return {"dpr": dpr, "eor": eor, "fair": float(np.nan_to_num(min(dpr, eor))),
                "bacc": float(M.balanced_accuracy(y, pred)), "rates": rates}


def score_modes(model, data: FairDataset, gid: np.ndarray, n: int, candidates=CANDIDATES) -> dict[str, dict]:
    """mode -> scores (``_Scorer``) of ``model.selection_model`` trained on ``model.sample(n, s_mode=mode)``."""
    score = _Scorer(model, data, gid)
    return {mode: score(model.sample(n, s_mode=mode)) for mode in candidates}


def choose(scores: dict[str, dict[str, float]], slack: float = BACC_SLACK) -> str:
    """The candidate with the largest ``fair`` among those within ``slack`` of the best balanced accuracy (first
    wins ties)."""
    best_bacc = max(s["bacc"] for s in scores.values())
    eligible = [m for m, s in scores.items() if s["bacc"] >= best_bacc - slack]
    return max(eligible, key=lambda m: scores[m]["fair"])  # max keeps the first of equal values


def _table(scores: dict) -> str:
    return ", ".join(f"{m} {s['dpr']:.2f}/{s['eor']:.2f}/{s['bacc']:.3f}" for m, s in scores.items())


def select_s_mode(model, data: FairDataset, gid: np.ndarray, n: int) -> tuple[str, dict]:
    """(chosen mode, every candidate's scores) for draws of ``n`` rows; logs the comparison."""
    log(f"[fair4free] s_mode auto: training a {model.selection_model} on {n} generated rows per candidate mode "
        f"({', '.join(CANDIDATES)}) and scoring it on the {len(data)} real training rows ...")
    scores = score_modes(model, data, gid, n)
    mode = choose(scores)
    log(f"[fair4free] s_mode auto -> {mode} (DPR/EOR/balanced accuracy on the real training rows: {_table(scores)})")
    return mode, scores


def shift_direction(rates, counts) -> np.ndarray:
    """d_g = logit(r) - logit(r_g) for per-group positive rates r_g of groups of ``counts`` rows, r = the overall
    rate (the count-weighted mean); a group without rows (rate NaN) gets d_g = 0."""
    r_g, counts = np.asarray(rates, float), np.asarray(counts, float)
    seen = np.isfinite(r_g) & (counts > 0)
    if not seen.any():
        return np.zeros(len(r_g))
    r = np.clip(float(np.average(r_g[seen], weights=counts[seen])), RATE_CLIP, 1 - RATE_CLIP)
    r_g = np.clip(np.where(seen, r_g, r), RATE_CLIP, 1 - RATE_CLIP)
    return np.log(r / (1 - r)) - np.log(r_g / (1 - r_g))


def select_label_shift(model, data: FairDataset, gid: np.ndarray, n: int,
                       base: dict | None = None) -> tuple[float, np.ndarray, dict]:
    """(t, the per-group class-1 logit shift t * d, every tried t's scores) for the fitted s_mode's draw of ``n``
    rows; ``base``: the scores of the unshifted draw when already known. Sets ``model.label_shift_`` as it walks and
    leaves it at the choice (the caller, ``Fair4Free._choose_label_shift``, stores t and the scores)."""
    score = _Scorer(model, data, gid)
    model.label_shift_ = None
    scores = {"0": base if base is not None else score(model.sample(n))}
    counts = np.bincount(gid, minlength=len(model.groups_))
    d = shift_direction(scores["0"]["rates"], counts)
    log(f"[fair4free] label_shift auto: per-group label logit shift t * ({', '.join(f'{v:+.2f}' for v in d)}), "
        f"t walked up from 0 on the {model.s_mode_} draw ...")
    for t in SHIFT_STEPS:
        model.label_shift_ = t * d
        scores[f"{t:g}"] = s = score(model.sample(n))
        best = scores[choose(scores)]
        if s["fair"] < best["fair"] - SHIFT_STOP or s["bacc"] < max(v["bacc"] for v in scores.values()) - BACC_SLACK:
            break
    t = float(choose(scores))
    model.label_shift_ = t * d
    log(f"[fair4free] label_shift auto -> t = {t:g} (DPR/EOR/balanced accuracy on the real training rows: "
        f"{_table(scores)})")
    return t, t * d, scores
