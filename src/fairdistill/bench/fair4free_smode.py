"""How Fair4Free draws the sensitive value of a generated row, compared on fair4free-paper's cases (README, Fair4Free).

Per case (Adult / COMPAS, sex / race) and seed: one Fair4Free fit (default preset but ``label_shift="none"``, so
``s_mode="auto"``: q(s | z) is trained and the mode is chosen on the real training rows; the teacher and student do not
depend on ``s_mode`` or ``label_shift``), then the training size's worth of rows drawn under each fixed mode in
``S_MODES`` (``Fair4Free.sample(n, s_mode=...)``, labels unshifted); each downstream model of fair4free-paper (random
forest, and XGBoost when installed; scikit-learn / XGBoost defaults, 100 trees) is trained on each set and scored on the
real test split: DPR, EOR, balanced accuracy, accuracy, positive rate. The models read s as one raw column
(``fair4free.raw_inputs``, FairX's encoding; fair4free-paper's main rows read it one-hot): for a binary s XGBoost
predicts the same either way, a random forest does not. ``auto-unshifted`` is the chosen mode's row; then the default's
``label_shift="auto"`` is chosen on the same fit (``Fair4Free.choose_label_shift``, what the default fit runs after
choosing the mode), and ``auto`` is the shifted draw: the default's ``synthetic_``, rows and labels. With XGBoost
installed, ``auto-xgboost`` is the shift chosen again on the same fit and mode for XGBoost
(``selection_model="xgboost"``): the best t differs between models. The record keeps which mode auto chose, what each
candidate scored on the training rows (``selection``), the shift's t and its candidates' scores (``label_shift``, and
``label_shift_xgboost``).

Reported per case, model and mode: mean ± std over seeds, and the paired difference to ``sample`` (mean and standard
error of the per-seed differences, std / sqrt(n), ddof 1), and for ``auto`` also to ``auto-unshifted`` (what the
shift adds), for ``auto-xgboost`` to ``auto`` (what choosing t for XGBoost changes): the seeds share splits and
fits, so pairs cancel most of the split-to-split spread. Runs are logged in ``fair4free-smode.runs.jsonl``
(``runlog.RunLog``) and never recomputed (always, without a ``resume`` option: each run carries the commit that made
it, counted in the results' header as ``runs_made_at``; delete the log, or use another ``--out``, to rerun after a
change to Fair4Free). ``jobs`` > 1 runs that many runs at once in worker processes (``common.run_tasks``, one torch
thread each); each record carries its wall time and torch thread count (``common.run_stamp``).
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..progress import log
from .common import check_data, check_jobs, config_key, mean_std, run_stamp, run_tasks
from .fair4free import _downstream, _models, _setup, _split, raw_inputs
from .runlog import RunLog

SUITE = "fair4free-smode"
S_MODES = ("sample", "counterfactual", "posterior", "balanced", "posterior-balanced")
FOR_MODEL = "xgboost"  # auto-xgboost: the shift chosen for this downstream model (when installed)
# the shifted rows: row -> (selection_model, the record's key for its t and scores, the summary's key for the t's)
SHIFTS = {"auto": ("rf", "label_shift", "shift_t"),
          f"auto-{FOR_MODEL}": (FOR_MODEL, f"label_shift_{FOR_MODEL}", f"shift_t_{FOR_MODEL}")}
ROWS = (*S_MODES, "auto-unshifted", *SHIFTS)
PAIRED = {"auto": "auto-unshifted", f"auto-{FOR_MODEL}": "auto"}  # a row's second paired difference (first: sample)
META = ("chosen", *(name for _, _, name in SHIFTS.values()))  # a case's summary entries that are not models
SCORES = ("dpr", "eor", "bacc", "acc", "positive_rate")
RUN_KEY = ("quick", "s_modes", "models", "label_shift", "for_model", "fit_revision")
SHIFT = "auto"  # the label_shift the auto row carries (a log from before the shift existed is refused)


def _one(dataset: str, axis: str, seed: int, *, data_dir, quick: bool, device: str) -> dict:
    """Scores of each downstream model trained on each mode's rows (and on auto's), for one case and seed."""
    from ..methods.fair4free import Fair4Free
    train, _, test = _split(dataset, axis, seed, data_dir=data_dir, quick=quick)
    cfg = dict(seed=seed, device=device, label_shift="none")
    if quick:
        cfg.update(teacher_epochs=3, student_epochs=2, batch_size=256, student_batch_size=256)
    model = Fair4Free(**cfg).fit(train)
    models = _models(seed, quick)
    scores: dict = {name: {} for name in models}

    def score(row: str, syn) -> None:
        res = _downstream(raw_inputs(syn), syn.y, raw_inputs(test), test.y, test.s[:, 0], models)
        for name in models:
            scores[name][row] = {k: res[name][k] for k in SCORES}

    for mode in S_MODES:
        score(mode, model.sample(len(train), s_mode=mode))
    for name in models:  # synthetic_ is sample(len(train), s_mode=s_mode_): the chosen mode's set, already scored
        scores[name]["auto-unshifted"] = scores[name][model.s_mode_]
    shifts = {}
    for row, (selection_model, key, _) in SHIFTS.items():
        if selection_model in models:  # on the same fit: for rf, synthetic_ is the default fit's own draw
            model.set_params(selection_model=selection_model).choose_label_shift(train)
            score(row, model.synthetic_)
            shifts[key] = {"t": model.label_shift_t_, "scores": model.label_shift_scores_}
    return {"dataset": dataset, "sensitive": axis, "seed": seed, "scores": scores, "chosen": model.s_mode_,
            "selection": model.s_mode_scores_, **shifts}


def _one_task(dataset: str, axis: str, seed: int, data_dir, quick: bool, device: str) -> dict:
    """``_one`` stamped with ``common.run_stamp``. Module level, so that a worker process can run it."""
    t0 = time.perf_counter()
    return {**_one(dataset, axis, seed, data_dir=data_dir, quick=quick, device=device), **run_stamp(t0)}


def _paired(rows: list[dict], mode: str, other: str) -> dict:
    """metric -> {"mean", "se", "n"} of the per-seed differences mode - other (seeds where both are finite)."""
    out = {}
    for k in SCORES:
        d = np.array([row[mode][k] - row[other][k] for row in rows], float)
        d = d[np.isfinite(d)]
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
        out[k] = {"mean": float(d.mean()) if len(d) else float("nan"), "se": se, "n": len(d)}
    return out


def summarise(records: list[dict]) -> dict:
    """case -> model -> mode -> metric -> {"mean", "std", "n"} and, for modes other than ``sample``, the paired
    difference ``diff`` -> metric -> {"mean", "se", "n"} (seeds where both are finite); case -> "chosen" -> how often
    auto chose each mode."""
    out: dict = {}
    for case in dict.fromkeys(f"{r['dataset']}/{r['sensitive']}" for r in records):
        runs = [r for r in records if f"{r['dataset']}/{r['sensitive']}" == case]
        out[case] = {"chosen": dict(Counter(r["chosen"] for r in runs)),
                     **{name: [r[key]["t"] for r in runs] for _, key, name in SHIFTS.values() if key in runs[0]}}
        for model in runs[0]["scores"]:
            out[case][model] = {}
            rows = [r["scores"][model] for r in runs]
            for mode in (m for m in ROWS if m in rows[0]):
                cell = {}
                for k in SCORES:
                    m, s, n = mean_std(row[mode][k] for row in rows)
                    cell[k] = {"mean": m, "std": s, "n": n}
                if mode != "sample":
                    cell["diff"] = _paired(rows, mode, "sample")
                if mode in PAIRED:
                    cell["diff_" + PAIRED[mode]] = _paired(rows, mode, PAIRED[mode])
                out[case][model][mode] = cell
    return out


def markdown(summary: dict, config: dict) -> str:
    lines = [f"# Fair4Free: how s of a generated row is drawn ({SUITE})", "",
             "Each downstream model trained on as many generated rows as the training split has, per mode, tested "
             "on the real test split; seeds: " + ", ".join(f"{c} {n}" for c, n in config["seeds"].items()) + ". "
             "Mean ± std over seeds; Δ = paired difference to `sample`, ± its standard error. `auto` (the default) "
             "is the default fit's own set: the mode chosen on the real training rows, seed by seed, its labels "
             "shifted per group by `label_shift` (`auto-unshifted`: the same rows before the shift; "
             f"`auto-{FOR_MODEL}`: the shift chosen for {FOR_MODEL} instead of the random forest).", "",
             "| case | model | s_mode | DPR | EOR | bal. acc | positive rate | Δ DPR | Δ EOR | Δ bal. acc |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for case, cells in summary.items():
        for model, modes in cells.items():
            if model in META:
                continue
            for mode, cell in modes.items():
                ms = [f"{cell[k]['mean']:.3f} ± {cell[k]['std']:.3f}" for k in ("dpr", "eor", "bacc", "positive_rate")]
                diff = cell.get("diff")
                ds = [f"{diff[k]['mean']:+.3f} ± {diff[k]['se']:.3f}" if diff else "–" for k in ("dpr", "eor", "bacc")]
                lines.append(f"| {case} | {model} | {mode} | " + " | ".join(ms + ds) + " |")
    titles = {"auto": "What `label_shift` adds: `auto` − `auto-unshifted`",
              f"auto-{FOR_MODEL}": f"What choosing t for {FOR_MODEL} changes (`selection_model=\"{FOR_MODEL}\"`, same "
                                   f"fit and s_mode): `auto-{FOR_MODEL}` − `auto`"}
    for row, other in PAIRED.items():
        found = [(case, model, modes[row][f"diff_{other}"]) for case, cells in summary.items()
                 for model, modes in cells.items() if model not in META and row in modes]
        if found:
            lines += ["", f"{titles[row]}, paired, ± standard error (DPR / EOR / bal. acc)", ""]
            lines += [f"- {case}, {model}: " + " / ".join(f"{d[k]['mean']:+.3f} ± {d[k]['se']:.3f}"
                                                          for k in ("dpr", "eor", "bacc")) for case, model, d in found]
    for selection_model, _, name in SHIFTS.values():
        if all(name in cells for cells in summary.values()):
            whom = "" if selection_model == "rf" else f" for {selection_model}"
            lines += ["", f"Shift steps t chosen{whom} (seeds): " + "; ".join(
                f"{case} {', '.join(f'{t:g}' for t in cells[name])}" for case, cells in summary.items())]
    lines += ["", "Modes auto chose (seeds):", ""]
    lines += [f"- {case}: " + ", ".join(f"{m} {n}" for m, n in sorted(cells["chosen"].items(), key=lambda x: -x[1]))
              for case, cells in summary.items()]
    return "\n".join(lines) + "\n"


def run(out_dir, *, data_dir=None, seeds: int | None = None, quick: bool = False, device: str = "auto",
        cases=None, jobs: int = 1) -> dict:
    """Run every case x seed (seeds 0..N-1, default 10, quick 1), write fair4free-smode.{json,md} into ``out_dir``;
    return the summary. ``cases`` (comma-separated, e.g. ``compas/sex``) restricts the cases; ``jobs``: worker
    processes."""
    from ..fileio import write_text
    from .record import write_results
    n_seeds, chosen, models = _setup(seeds, quick, cases, SUITE)
    models = list(models)
    check_jobs(jobs)
    check_data(dict.fromkeys(d for d, _ in chosen), data_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from ..methods.fair4free.estimator import FIT_REVISION
    runs = RunLog(out_dir / f"{SUITE}.runs.jsonl", config_key({"quick": quick, "s_modes": S_MODES, "models": models,
                                                               "label_shift": SHIFT, "for_model": FOR_MODEL,
                                                               "fit_revision": FIT_REVISION},
                                                              RUN_KEY))
    done = {(r["dataset"], r["sensitive"], r["seed"]): r for r in runs.records()}
    tasks = [(d, a, s, data_dir, quick, device) for s in range(n_seeds) for d, a in chosen if (d, a, s) not in done]
    for (dataset, axis, seed, *_), rec in run_tasks(_one_task, tasks, jobs):
        done[dataset, axis, seed] = runs.append(rec)
        log(f"[{SUITE}] {dataset}/{axis} seed {seed}: {rec['run_seconds']:.0f}s")
    records = [done[d, a, s] for d, a in chosen for s in range(n_seeds)]
    summary = summarise(records)
    config = {"quick": quick, "s_modes": list(S_MODES), "models": models, "device": device,
              "rows": "the training split's size", "seeds": {f"{d}/{a}": n_seeds for d, a in chosen},
              "fit": "default preset (s_mode auto), label_shift chosen on the same fit", "label_shift": SHIFT,
              "for_model": FOR_MODEL, "jobs": jobs}
    write_results(out_dir / f"{SUITE}.json", SUITE, {"summary": summary, "runs": records}, config, runs=records)
    write_text(out_dir / f"{SUITE}.md", markdown(summary, config))
    return summary
