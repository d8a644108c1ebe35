"""Benchmark: hierarchical intersectional augmentation on Adult and COMPAS (sex x race x age, 8 groups), German
Credit (sex x age, 4 groups), the spec's substitutes for the paper's unavailable datasets (DATASETS.md section 4),
and Colored-MNIST features (``cmnist-pca``: PCA of the cmnist-fg pixels, y = digit >= 5, colour x thickness, 4
groups; colour is a shortcut for y, so the (colour, label) cells against it are small; ``DATA_OPTIONS``).

Per dataset and seed (10, 20, 30, 40, 50; random 60/20/20 split): train the spec's MLP (d -> 128 -> 64 -> 32 -> 2,
ReLU, dropout 0.5, CE, Adam 1e-3, batch 1000, 50 epochs, inputs standardised with the real training split's
statistics) on
  erm              the real training set;
  erm-balanced     the real training set with label-balanced weights n / (2 n_y) [project]: ERM at the operating
                   point of the equal-sampled sets (balanced labels), so IF_alpha, whose harm ratio grows as every
                   TPR rises, is compared at matched balanced accuracy as well as against plain ERM;
  equal-sampling   n_per_cell real rows per (group, label) cell;
  aug-<variant>    augmentation + equal sampling, generators (positive, negative) = reference (simple,
                   intermediate), simple, intermediate or complex for both labels.
Model selection (METHODS.md section 8) within each run [project: per seed, since a run = one seed here]: the epochs
whose validation balanced accuracy is within 0.03 of the run's best are kept, and the one with the lowest validation
DF is reported on the test split: balanced accuracy, DF (reference smoothing, with a bootstrap 5-95% interval), IF_0.5
(and, beside it, the authors' code's formula ``if_alpha_reference``), worst/best smoothed group TPR (raw too) and the
per-group TPR. For augmentation, the real-vs-generated score is the
mean balanced accuracy of an MLP separating real from generated training rows per (group, label) cell.
Generator rounds are selected by MMD (``SELECTION``) rather than the estimator's default discriminator, for CPU time.

``--seeds N``: the first N of the seeds 10, 20, 30, ... (each seed: the random split, the generators and the MLP);
default 5 (``SEEDS``), ``quick`` 1.

Results are rewritten (atomically) after every finished seed, so an interrupted run keeps the seeds it finished;
``resume=True`` reuses the (dataset, seed, method) runs already in ``out_dir/intersectional.json`` when its
configuration matches (``RESUME_FIELDS``; per dataset: the same sensitive axes and dataset options). This suite keeps
no separate run log (``runlog.RunLog``): its results file is the record of the finished runs, rewritten whole by
``write_json``, so no half-written line can occur; the configuration check uses the same comparison
(``common.config_diff``) as the run logs' keys. ``jobs`` > 1 runs that many (dataset, seed, method) runs at once in
worker processes (``common.run_tasks``, one torch thread each); each run records its torch thread count.
"""
from __future__ import annotations

import time
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import metrics
from ..dataset import SyntheticSet
from ..datasets import load
from ..errors import ConfigError, check_members
from ..fileio import read_json
from ..methods.intersectional import EqualSampling, IntersectionalAugmentation
from ..methods.intersectional.estimator import REFERENCE_MLP
from ..models import MLPClassifier
from ..progress import log
from .common import check_data, check_jobs, check_seeds, config_diff, mean_std, run_tasks
from .record import stamp, write_results

SEEDS = (10, 20, 30, 40, 50)
DATASETS = ("adult", "compas", "german", "cmnist-pca")
AXES = {"adult": ["sex", "race", "age"], "compas": ["sex", "race", "age"], "german": ["sex", "age"],
        "cmnist-pca": ["colour", "thickness"]}
# Dataset options passed to the loader (recorded in the configuration; resume requires them unchanged).
DATA_OPTIONS = {"cmnist-pca": {"max_rows": 30000, "bias_ratio": 0.9, "n_components": 64, "colour_groups": 2}}
VARIANTS = {"aug-reference": ("simple", "intermediate"), "aug-simple": ("simple", "simple"),
            "aug-intermediate": ("intermediate", "intermediate"), "aug-complex": ("complex", "complex")}
DEFAULT_METHODS = ("erm", "erm-balanced", "equal-sampling", "aug-reference", "aug-simple", "aug-intermediate",
                   "aug-complex")
# Round selection of the generators: "mmd" (held-in MMD, cheap) instead of the estimator's default "discriminator"
# (16 sklearn MLP fits per round), to fit the CPU budget; the real-vs-generated MLP score is still computed once.
SELECTION = "mmd"
MLP = REFERENCE_MLP["options"]
QUICK_MLP = dict(MLP, epochs=3)
ACC_SLACK = 0.03
# the configuration fields that decide what one run records: resume requires them unchanged
RESUME_FIELDS = ("mlp", "n_per_cell", "selection", "bootstrap", "quick", "generator_selection")


def _scores(y, pred, s) -> dict:
    """Test-split metrics of one prediction vector."""
    kw = dict(sensitive_features=s)
    tab = metrics.group_tpr(y, pred, **kw)
    return {"balanced_accuracy": metrics.balanced_accuracy(y, pred),
            "df": metrics.differential_fairness(y, pred, **kw),
            "if_0.5": metrics.if_alpha(y, pred, alpha=0.5, **kw),
            "if_0.5_reference": metrics.if_alpha_reference(y, pred, alpha=0.5, **kw),
            "worst_tpr": metrics.worst_group_tpr(y, pred, **kw), "best_tpr": metrics.best_group_tpr(y, pred, **kw),
            "worst_tpr_raw": float(np.nanmin(tab["raw"])), "best_tpr_raw": float(np.nanmax(tab["raw"])),
            "group_tpr": {str(tuple(int(v) for v in g)) if isinstance(g, tuple) else str(g): float(r)
                          for g, r in zip(tab.index, tab["raw"])}}


def train_and_select(train, valid, test, mean, std, seed: int, mlp: dict, device: str) -> dict:
    """Train the MLP on ``train``; keep per-epoch validation (balanced accuracy, DF) and test predictions; select."""
    clf = MLPClassifier(n_classes=2, seed=seed, device=device, **mlp)
    Xv, Xt = (valid.X - mean) / std, (test.X - mean) / std
    epochs: list[dict] = []

    def on_epoch(epoch, model):
        pv = model.predict_proba(Xv).argmax(1)
        epochs.append({"epoch": epoch, "valid_bacc": metrics.balanced_accuracy(valid.y, pv),
                       "valid_df": metrics.differential_fairness(valid.y, pv, sensitive_features=valid.s),
                       "test_pred": model.predict_proba(Xt).argmax(1)})

    clf.fit((train.X - mean) / std, train.y, w=train.weights, on_epoch=on_epoch)
    best = max(e["valid_bacc"] for e in epochs)
    pick = min((e for e in epochs if e["valid_bacc"] >= best - ACC_SLACK), key=lambda e: (e["valid_df"], -e["epoch"]))
    return {"epoch": pick["epoch"], "valid_bacc": pick["valid_bacc"], "valid_df": pick["valid_df"],
            "pred": pick["test_pred"],
            "epochs": [{k: v for k, v in e.items() if k != "test_pred"} for e in epochs]}


def _method_set(name: str, train, seed: int, quick: bool, device: str):
    """The training set of a method and the fit's extra record."""
    n = 50 if quick else 1000
    if name == "erm":
        return train, {}
    if name == "erm-balanced":
        counts = np.bincount(train.y, minlength=2)
        return SyntheticSet.from_dataset(train, weights=len(train.y) / (2.0 * counts[train.y])), {}
    if name == "equal-sampling":
        return EqualSampling(n_per_cell=n, seed=seed).fit(train).synthetic_, {}
    pos, neg = VARIANTS[name]
    small = dict(rounds=1, steps=3, batch=32) if quick else {}
    m = IntersectionalAugmentation(n_per_cell=n, variant_pos=pos, variant_neg=neg, seed=seed, device=device,
                                   selection=SELECTION, **small).fit(train)
    prov = m.synthetic_.provenance
    return m.synthetic_, {"real_vs_generated_bacc": prov["real_vs_generated_bacc"],
                          "best_round": prov["best_round"], "ancestor_fallbacks": len(prov["ancestor_fallbacks"]),
                          "fit_seconds": prov["fit_seconds"]}


def _summary(rows: list[dict]) -> dict:
    """metric -> {"mean", "std"} over the seeds' runs (finite values; a metric no run has is left out) and the mean
    TPR per group."""
    keys = ["balanced_accuracy", "df", "if_0.5", "if_0.5_reference", "worst_tpr", "best_tpr", "worst_tpr_raw",
            "best_tpr_raw", "real_vs_generated_bacc", "df_boot_lo", "df_boot_hi"]
    out = {}
    for k in keys:
        m, s, n = mean_std(r.get(k) for r in rows)
        if n:
            out[k] = {"mean": m, "std": s}
    groups = rows[0]["group_tpr"].keys()
    out["group_tpr"] = {g: mean_std(r["group_tpr"].get(g) for r in rows)[0] for g in groups}
    return out


def _checks(summ: dict) -> dict:
    """Targets (TARGETS.md section 4) for equal sampling and every augmentation run against each unconstrained
    baseline present (``erm``; ``erm-balanced``, the same at balanced labels): DF and IF lower, worst-group TPR not
    lower, balanced accuracy within 1 point. Keys: baseline -> method -> check -> bool."""
    out: dict = {}
    for base in ("erm", "erm-balanced"):
        if base not in summ:
            continue
        ref = summ[base]
        out[base] = {name: {
            "df_lower": s["df"]["mean"] < ref["df"]["mean"],
            "if_lower": s["if_0.5"]["mean"] < ref["if_0.5"]["mean"],
            "if_reference_lower": s["if_0.5_reference"]["mean"] < ref["if_0.5_reference"]["mean"],
            "worst_tpr_not_lower": s["worst_tpr"]["mean"] >= ref["worst_tpr"]["mean"],
            "bacc_within_1pt": s["balanced_accuracy"]["mean"] >= ref["balanced_accuracy"]["mean"] - 0.01,
        } for name, s in summ.items() if name.startswith("aug-") or name == "equal-sampling"}
    return out


def _markdown(results: dict, config: dict) -> str:
    axes = "; ".join(f"{ds}: {' x '.join(config['sensitive'][ds])}" for ds in results)
    lines = [f"# Intersectional augmentation ({axes})", "",
             f"Seeds {config['seeds']}; MLP {config['mlp']}; n_per_cell {config['n_per_cell']}; metrics on test, "
             "mean +- std over seeds; DF/IF/worst/best use reference smoothing (TP+2)/(P+4); real-vs-gen = "
             "balanced accuracy of an MLP separating real and generated rows (0.5 = indistinguishable).", ""]
    cols = [("balanced_accuracy", "bal. acc"), ("df", "DF"), ("if_0.5", "IF_0.5"),
            ("if_0.5_reference", "IF_0.5 (authors' code)"), ("worst_tpr", "worst TPR"),
            ("best_tpr", "best TPR"), ("worst_tpr_raw", "worst TPR raw"), ("real_vs_generated_bacc", "real-vs-gen")]
    for ds, res in results.items():
        head = "| method | " + " | ".join(c for _, c in cols) + " |"
        lines += [f"## {ds} (seeds {res.get('seeds_done', config['seeds'])})", ""]
        opts = config.get("data_options", {}).get(ds)
        if opts:
            lines += ["Dataset options: " + ", ".join(f"{k}={v}" for k, v in opts.items()), ""]
        lines += [head, "|---" * (len(cols) + 1) + "|"]
        for name, s in res["summary"].items():
            cells = [f"{s[k]['mean']:.3f} ± {s[k]['std']:.3f}" if k in s else "–" for k, _ in cols]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        for base, checks in _checks(res["summary"]).items():
            lines += ["", f"Targets vs {base} (DF lower, IF lower, worst TPR not lower, bal. acc within 1 point; "
                      "for information, IF lower under the authors' code's formula):", ""]
            for name, c in checks.items():
                lines.append(f"- {name}: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in c.items()))
        lines.append("")
    return "\n".join(lines)


def _figure(results: dict, path: Path) -> None:
    from ..fileio import save_figure
    from ..report import pyplot
    plt = pyplot()

    ncols = min(2, len(results))  # a grid, two datasets per row
    nrows = -(-len(results) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(7 * ncols, 4 * nrows), squeeze=False)
    for ax in axes.flat[len(results):]:
        ax.set_visible(False)
    for ax, (ds, res) in zip(axes.flat, results.items()):
        names = list(res["summary"])
        groups = list(res["summary"][names[0]]["group_tpr"])
        width = 0.8 / len(names)
        for j, name in enumerate(names):
            vals = [res["summary"][name]["group_tpr"][g] for g in groups]
            ax.bar(np.arange(len(groups)) + j * width, vals, width, label=name)
        ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2)
        ax.set_xticklabels(groups, rotation=45, fontsize=7)
        ax.set_title(f"{ds}: test TPR per ({', '.join(AXES[ds])}) group")
        ax.set_ylabel("TPR (raw, mean over seeds)")
        ax.set_ylim(0, 1)
    handles, labels = axes.flat[0].get_legend_handles_labels()  # one legend below the panels, clear of the bars
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.06 / nrows, 1, 1))
    save_figure(fig, path, dpi=120)


def _previous(old: dict | None, path: Path, config: dict) -> dict:
    """Runs of an earlier results file ``old`` (read from ``path``), keyed (dataset, seed, method), for the datasets
    whose sensitive axes and dataset options are unchanged; empty when there is none. Raises when the training
    configuration differs."""
    if old is None:
        return {}
    diff = config_diff(old["config"], config, RESUME_FIELDS)
    if diff:
        raise ConfigError(f"cannot resume from {path}: its configuration differs in {diff}; "
                          "use another --out or drop resume")
    axes, opts = old["config"]["sensitive"], old["config"].get("data_options", {})
    return {(ds, r["seed"], m): r for ds, res in old["results"].items()
            if (axes.get(ds) if isinstance(axes, dict) else axes) == config["sensitive"].get(ds)
            and opts.get(ds, {}) == config["data_options"].get(ds, {})
            for m, rows in res["runs"].items() for r in rows}


def _union_with_previous(old: dict | None, datasets: list, methods: list, seeds: list) -> tuple[list, list, list]:
    """The requested datasets, methods and seeds extended by those of an earlier results file ``old`` (if any)."""
    if old is None:
        return datasets, methods, seeds
    old = old["config"]
    return ([*datasets, *(d for d in old["datasets"] if d not in datasets)],
            [*methods, *(m for m in old["methods"] if m not in methods)],
            sorted({*seeds, *old["seeds"]}))


@lru_cache(maxsize=1)
def _split(ds: str, seed: int, data_dir, options: tuple) -> tuple:
    """(train, valid, test, mean, std) of one dataset, seed and loader options ((key, value) pairs); the MLP's inputs
    are standardised with the training split's mean and std (std 0 -> 1). Cached: a process runs a seed's methods one
    after another."""
    train, valid, test = (load(ds, split=sp, data_dir=data_dir, sensitive=AXES[ds], protocol="intersectional",
                               seed=seed, **dict(options)) for sp in ("train", "valid", "test"))
    std = train.X.std(0)
    return train, valid, test, train.X.mean(0), np.where(std > 0, std, 1.0)


def _one(ds: str, seed: int, name: str, data_dir, options: tuple, quick: bool, device: str, mlp: dict,
         n_boot: int) -> dict:
    """One (dataset, seed, method) run: the method's training set, the selected MLP's test scores, the DF bootstrap
    band. Module level, so that a worker process can run it; ``options``: the dataset's loader options, as pairs."""
    import torch
    train, valid, test, mean, std = _split(ds, seed, data_dir, options)
    t0 = time.perf_counter()
    tr, extra = _method_set(name, train, seed, quick, device)
    sel = train_and_select(tr, valid, test, mean, std, seed, mlp, device)
    row = {"seed": seed, "epoch": sel["epoch"], "valid_bacc": sel["valid_bacc"], "valid_df": sel["valid_df"],
           "train_rows": len(tr), **extra, **_scores(test.y, sel["pred"], test.s)}
    _, row["df_boot_lo"], row["df_boot_hi"] = metrics.bootstrap(
        metrics.differential_fairness, test.y, sel["pred"], test.s, n=n_boot, seed=seed)
    return {**row, "seconds": round(time.perf_counter() - t0, 1), "torch_threads": torch.get_num_threads()}


def run(out_dir, *, data_dir=None, seeds: int | None = None, quick: bool = False, device: str = "auto",
        datasets=None, methods=None, resume: bool = False, jobs: int = 1) -> dict:
    """Run the suite and write intersectional.{json,md,png} into ``out_dir``; return the results dict.

    ``seeds``: the first N of 10, 20, 30, ... (default 5, quick 1). ``datasets`` (default ``DATASETS``; quick:
    compas) and ``methods`` (default ``DEFAULT_METHODS``; aug-reference = positive simple / negative intermediate, the
    method's own default) restrict the run. ``resume`` keeps the runs already in ``out_dir``'s results and adds the
    requested ones: the datasets, methods and seeds of the file stay in it (missing runs of that grid are computed).
    ``jobs``: worker processes.
    """
    check_seeds(seeds)
    check_jobs(jobs)
    out_dir = Path(out_dir)
    n_seeds = seeds if seeds is not None else (1 if quick else len(SEEDS))
    seed_list = [10 * (i + 1) for i in range(n_seeds)]  # SEEDS, continued
    datasets = list(datasets.split(",") if isinstance(datasets, str) else datasets or
                    (("compas",) if quick else DATASETS))
    methods = list(methods.split(",") if isinstance(methods, str) else methods or
                   (["erm", "equal-sampling", "aug-reference"] if quick else DEFAULT_METHODS))
    check_members(datasets, "intersectional dataset(s)", sorted(AXES))
    check_members(methods, "intersectional method(s)", ["erm", "erm-balanced", "equal-sampling", *VARIANTS])
    check_data(datasets, data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "intersectional.json"
    old = read_json(path, "delete it (or use another --out) to start afresh") if resume and path.exists() else None
    if resume:  # the file is the only record of its runs: a resume keeps them all, so its grid is the union
        datasets, methods, seed_list = _union_with_previous(old, datasets, methods, seed_list)
    mlp = QUICK_MLP if quick else MLP
    n_boot = 20 if quick else 1000
    config = {"datasets": list(datasets), "sensitive": {ds: AXES[ds] for ds in datasets},
              "data_options": {ds: DATA_OPTIONS.get(ds, {}) for ds in datasets}, "seeds": seed_list,
              "methods": methods, "mlp": {k: list(v) if isinstance(v, tuple) else v for k, v in mlp.items()},
              "n_per_cell": 50 if quick else 1000, "selection": f"epochs within {ACC_SLACK} valid bal. acc of the "
              "run's best, lowest valid DF", "bootstrap": n_boot, "quick": quick,
              "generator_selection": SELECTION, "variants": {m: VARIANTS[m] for m in methods if m in VARIANTS}}
    done = _previous(old, path, config)

    def grouped() -> dict:
        """Every finished run (kept or new) by dataset and method, in seed order: what is written after each seed,
        so that an interrupted run loses none of the runs it was asked to keep."""
        out = {}
        for ds in datasets:
            runs = {m: [done[(ds, s, m)] for s in seed_list if (ds, s, m) in done] for m in methods}
            runs = {m: rows for m, rows in runs.items() if rows}
            if runs:
                out[ds] = {"runs": runs, "seeds_done": [r["seed"] for r in next(iter(runs.values()))]}
        return out

    tasks = [(ds, seed, name, data_dir, tuple(sorted(DATA_OPTIONS.get(ds, {}).items())), quick, device, mlp, n_boot)
             for ds in datasets for seed in seed_list for name in methods if (ds, seed, name) not in done]
    pending = Counter((ds, seed) for ds, seed, *_ in tasks)
    for (ds, seed, name, *_), row in run_tasks(_one, tasks, jobs):
        done[(ds, seed, name)] = stamp(row)
        log(f"[intersectional] {ds} seed {seed} {name}: bacc {row['balanced_accuracy']:.3f} "
            f"DF {row['df']:.3f} IF {row['if_0.5']:.3f} worst {row['worst_tpr']:.3f} ({row['seconds']}s)")
        pending[ds, seed] -= 1
        if not pending[ds, seed]:  # after every finished seed, so an interrupted run keeps its results
            write_outputs(out_dir, grouped(), config)
    results = grouped()
    write_outputs(out_dir, results, config)
    return results


def write_outputs(out_dir, results: dict, config: dict) -> None:
    """intersectional.json (with command, commit, machine), intersectional.md and intersectional.png."""
    from ..fileio import write_text
    out_dir = Path(out_dir)
    for res in results.values():  # summaries and checks always follow the runs (also after a resume)
        res["summary"] = {m: _summary(rows) for m, rows in res["runs"].items()}
        res["checks"] = _checks(res["summary"])
    write_results(out_dir / "intersectional.json", "intersectional", results, config,
                  runs=[r for res in results.values() for rows in res["runs"].values() for r in rows])
    write_text(out_dir / "intersectional.md", _markdown(results, config))
    _figure(results, out_dir / "intersectional.png")
