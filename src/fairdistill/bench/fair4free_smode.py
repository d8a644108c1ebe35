"""How Fair4Free draws the sensitive value of a generated row, compared on fair4free-paper's cases (README, Fair4Free).

Per case (Adult / COMPAS, sex / race) and seed: one Fair4Free fit (default preset, fitted with
``s_mode="posterior"`` so that q(s | z) exists; the teacher and student do not depend on ``s_mode``), then the
training size's worth of rows drawn under each mode in ``S_MODES`` (``Fair4Free.sample(n, s_mode=...)``); a random
forest (scikit-learn defaults, as fair4free-paper) is trained on each set and scored on the real test split: DPR,
EOR, balanced accuracy, accuracy, positive rate. ``sample`` is the default mode, so its rows equal fair4free-paper's
``fair4free-mmd`` random-forest rows seed for seed.

Reported per case and mode: mean ± std over seeds, and the paired difference to ``sample`` (mean and standard error
of the per-seed differences, std / sqrt(n), ddof 1): the seeds share splits and fits, so pairs cancel most of the
split-to-split spread. Runs are logged in ``fair4free-smode.runs.jsonl`` (``runlog.RunLog``) and never recomputed
(always, without a ``resume`` option: each run carries the commit that made it, counted in the results' header as
``runs_made_at``; delete the log, or use another ``--out``, to rerun after a change to Fair4Free).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..progress import log
from .common import config_key, mean_std
from .fair4free import _downstream, _models, _setup, _split
from .runlog import RunLog

SUITE = "fair4free-smode"
S_MODES = ("sample", "counterfactual", "posterior", "balanced", "posterior-balanced")
SCORES = ("dpr", "eor", "bacc", "acc", "positive_rate")
RUN_KEY = ("quick", "s_modes")


def _one(dataset: str, axis: str, seed: int, *, data_dir, quick: bool, device: str) -> dict:
    """Scores of a random forest trained on each mode's rows, for one case and seed."""
    from ..methods.fair4free import Fair4Free
    train, _, test = _split(dataset, axis, seed, data_dir=data_dir, quick=quick)
    cfg = dict(seed=seed, device=device, s_mode="posterior")
    if quick:
        cfg.update(teacher_epochs=3, student_epochs=2, batch_size=256, student_batch_size=256)
    model = Fair4Free(**cfg).fit(train)
    rf = {"rf": _models(seed, quick)["rf"]}
    scores = {}
    for mode in S_MODES:
        syn = model.sample(len(train), s_mode=mode)
        res = _downstream(np.c_[syn.X, syn.s], syn.y, np.c_[test.X, test.s], test.y, test.s[:, 0], rf)["rf"]
        scores[mode] = {k: res[k] for k in SCORES}
    return {"dataset": dataset, "sensitive": axis, "seed": seed, "scores": scores}


def summarise(records: list[dict]) -> dict:
    """case -> mode -> metric -> {"mean", "std", "n"} and, for modes other than ``sample``, the paired difference
    ``diff`` -> metric -> {"mean", "se", "n"} (seeds where both are finite)."""
    out: dict = {}
    for case in dict.fromkeys(f"{r['dataset']}/{r['sensitive']}" for r in records):
        runs = [r for r in records if f"{r['dataset']}/{r['sensitive']}" == case]
        out[case] = {}
        for mode in S_MODES:
            cell = {}
            for k in SCORES:
                m, s, n = mean_std(r["scores"][mode][k] for r in runs)
                cell[k] = {"mean": m, "std": s, "n": n}
            if mode != "sample":
                cell["diff"] = {}
                for k in SCORES:
                    d = np.array([r["scores"][mode][k] - r["scores"]["sample"][k] for r in runs], float)
                    d = d[np.isfinite(d)]
                    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
                    cell["diff"][k] = {"mean": float(d.mean()) if len(d) else float("nan"), "se": se, "n": len(d)}
            out[case][mode] = cell
    return out


def markdown(summary: dict, config: dict) -> str:
    lines = [f"# Fair4Free: how s of a generated row is drawn ({SUITE})", "",
             "A random forest trained on as many generated rows as the training split has, per mode, tested on the "
             "real test split; seeds: " + ", ".join(f"{c} {n}" for c, n in config["seeds"].items()) + ". Mean ± std "
             "over seeds; Δ = paired difference to `sample` (the default), ± its standard error.", "",
             "| case | s_mode | DPR | EOR | bal. acc | positive rate | Δ DPR | Δ EOR | Δ bal. acc |",
             "|---|---|---|---|---|---|---|---|---|"]
    for case, modes in summary.items():
        for mode, cell in modes.items():
            ms = [f"{cell[k]['mean']:.3f} ± {cell[k]['std']:.3f}" for k in ("dpr", "eor", "bacc", "positive_rate")]
            diff = cell.get("diff")
            ds = [f"{diff[k]['mean']:+.3f} ± {diff[k]['se']:.3f}" if diff else "–" for k in ("dpr", "eor", "bacc")]
            lines.append(f"| {case} | {mode} | " + " | ".join(ms + ds) + " |")
    return "\n".join(lines) + "\n"


def run(out_dir, *, data_dir=None, seeds: int | None = None, quick: bool = False, device: str = "auto",
        cases=None) -> dict:
    """Run every case x seed (seeds 0..N-1, default 10, quick 1), write fair4free-smode.{json,md} into ``out_dir``;
    return the summary. ``cases`` (comma-separated, e.g. ``compas/sex``) restricts the cases."""
    from ..fileio import write_text
    from .record import write_results
    n_seeds, chosen, _ = _setup(seeds, quick, cases, SUITE)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = RunLog(out_dir / f"{SUITE}.runs.jsonl", config_key({"quick": quick, "s_modes": S_MODES}, RUN_KEY))
    done = {(r["dataset"], r["sensitive"], r["seed"]): r for r in runs.records()}
    for seed in range(n_seeds):
        for dataset, axis in chosen:
            if (dataset, axis, seed) not in done:
                done[dataset, axis, seed] = runs.append(_one(dataset, axis, seed, data_dir=data_dir, quick=quick,
                                                             device=device))
                log(f"[{SUITE}] {dataset}/{axis} seed {seed} done")
    records = [done[d, a, s] for d, a in chosen for s in range(n_seeds)]
    summary = summarise(records)
    config = {"quick": quick, "s_modes": list(S_MODES), "device": device, "rows": "the training split's size",
              "seeds": {f"{d}/{a}": n_seeds for d, a in chosen}, "fit": "default preset, s_mode=posterior"}
    write_results(out_dir / f"{SUITE}.json", SUITE, {"summary": summary, "runs": records}, config, runs=records)
    write_text(out_dir / f"{SUITE}.md", markdown(summary, config))
    return summary
