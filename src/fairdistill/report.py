"""What a person reads first: Markdown reports with figures (matplotlib, Agg backend; PNG only).

- ``write_run_report(run_dir, synthetic, config, metrics=None, groups=None)``: one run (sizes, groups, weights,
  metrics, image grid).
- ``compare(run_dirs, out_dir)``: a table across runs, a fairness-vs-accuracy scatter, per-group accuracy bars and
  image grids.
"""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .dataset import FairDataset, group_ids, value_names
from .fileio import atomic_dir, check_out_folder, save_figure, write_text

HEADLINE = ("accuracy", "balanced_accuracy", "auc", "deo_max", "deo_avg", "dp_difference", "dp_ratio",
            "eo_ratio", "demographic_disparity", "tradeoff", "df", "if_alpha", "worst_group_tpr")

#: what each metric of metrics.json means, for the reports (METRICS.md has the definitions in full)
MEANING = {
    "accuracy": "share of test rows predicted right",
    "balanced_accuracy": "mean recall over the classes (0.5 for a constant binary classifier)",
    "f1": "F1 of the positive class (macro over classes beyond two)",
    "auc": "area under the ROC curve of the predicted scores",
    "recall": "share of positive rows predicted positive",
    "positive_rate": "share of rows predicted positive",
    "dp_difference": "largest gap in positive rate between groups (0 = parity)",
    "dp_ratio": "smallest / largest positive rate over groups (1 = parity)",
    "eo_difference": "largest gap in TPR or FPR between groups (0 = equalized odds)",
    "eo_ratio": "smaller of min / max TPR and min / max FPR over groups (1 = equalized odds)",
    "demographic_disparity": "FWC's DD: the largest gap in positive rate between groups (= dp_difference)",
    "tradeoff": "sqrt((1 - AUC)^2 + demographic_disparity^2), FWC's fairness-utility distance (lower is better)",
    "deo_max": "FairDD's DEO_M: over classes, the largest gap in the class's recall between groups, in percent",
    "deo_avg": "FairDD's DEO_A: the mean over classes of that gap, in percent",
    "df": "differential fairness: log(max / min) of the intersectional groups' smoothed TPRs (0 = equal)",
    "if_alpha": "IF_0.5: 0.5 x worst harm + 0.5 x worst / best harm, harm = 1 - TPR, over intersectional groups",
    "worst_group_tpr": "lowest TPR of an intersectional group",
    "best_group_tpr": "highest TPR of an intersectional group",
}


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def to_display(X: np.ndarray, meta: dict) -> np.ndarray:
    """Normalised N x C x H x W images back to [0, 1] N x H x W x C: x * std + mean per channel (``meta``'s
    ``mean`` / ``std``, default 0.5 / 0.5), clipped."""
    X = np.asarray(X, dtype=np.float32)
    mean = np.asarray(meta.get("mean", [0.5] * X.shape[1]), dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(meta.get("std", [0.5] * X.shape[1]), dtype=np.float32).reshape(1, -1, 1, 1)
    return np.clip(X * std + mean, 0, 1).transpose(0, 2, 3, 1)


def class_grid(data: FairDataset, per_class: int = 10, seed: int | None = 0) -> np.ndarray:
    """An RGB array in [0, 1] with one row per class and up to ``per_class`` images in it (a random choice drawn
    with ``seed``, or the first ones when ``seed`` is None), on a white 1-pixel border."""
    classes = np.unique(data.y)
    rng = None if seed is None else np.random.default_rng(seed)
    rows = []
    for c in classes:
        idx = np.flatnonzero(data.y == c)
        k = min(per_class, len(idx))
        rows.append(idx[:k] if rng is None else np.sort(rng.choice(idx, k, replace=False)))
    imgs = to_display(data.X, data.meta)
    if imgs.shape[-1] == 1:
        imgs = np.repeat(imgs, 3, axis=3)
    h, w = imgs.shape[1:3]
    grid = np.ones((len(classes) * (h + 2), per_class * (w + 2), 3), dtype=np.float32)
    for r, idx in enumerate(rows):
        for c, i in enumerate(idx):
            grid[r * (h + 2) + 1:r * (h + 2) + 1 + h, c * (w + 2) + 1:c * (w + 2) + 1 + w] = imgs[i]
    return grid


def image_grid(data: FairDataset, path: Path, per_class: int = 10, seed: int = 0) -> Path:
    """Save ``class_grid(data, per_class, seed)`` as a PNG (atomically)."""
    buf = io.BytesIO()
    pyplot().imsave(buf, class_grid(data, per_class, seed), format="png")
    write_text(path, buf.getvalue())
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(_fmt, v))
    return str(v)


def _sensitive(config: dict) -> str:
    """The run's sensitive axes as the report shows them: 'sex x race' (intersectional groups), '-' for none."""
    return " x ".join(config.get("sensitive") or []) or "-"


def _group_label(t: Sequence[int], values: list[list[str]] | None) -> str:
    return ",".join(map(str, value_names(t, values)))


def write_run_report(run_dir: Path, synthetic: FairDataset, config: dict, metrics: dict | None = None,
                     groups: list[dict] | None = None, protocol: dict | None = None) -> Path:
    """``run_dir/report.md`` (and ``grid.png`` for images, ``groups.png`` when per-group results exist);
    ``protocol`` names the downstream evaluation behind ``metrics`` (model, repeats, seed, options)."""
    run_dir = Path(run_dir)
    lines = [f"# {config.get('method', 'run')} on {config.get('dataset', synthetic.name)}", ""]
    params = config.get("params", {})
    prov = config.get("provenance", {})
    chosen = {**prov, **(prov.get("effective_params") or {})}  # what a default (None) resolved to in this fit
    picked = prov.get("picked") or {}  # a setting the fit chose from the data (e.g. Fair4Free's s_mode auto)
    lines += ["| setting | value |", "|---|---|"]
    for k, v in {"sensitive": config.get("sensitive"), **params}.items():
        shown = f"default: {_fmt(chosen[k])}" if v is None and chosen.get(k) is not None else _fmt(v)
        lines.append(f"| {k} | {shown}" + (f" (picked {_fmt(picked[k])})" if k in picked else "") + " |")
    zero = int((synthetic.w == 0).sum())
    lines += ["", f"**{len(synthetic)} rows**" + (f" ({zero} of weight 0, left out when a model trains on them)"
                                                   if zero else "")
              + f", total weight {synthetic.w.sum():.6g}, fit time {prov.get('fit_seconds', 'n/a')} s.", ""]
    counts = np.bincount(synthetic.y, minlength=synthetic.n_classes)
    names = synthetic.class_names or [str(c) for c in range(synthetic.n_classes)]
    lines += ["| class | rows | weight |", "|---|---|---|"]
    for c, n in enumerate(counts):
        lines.append(f"| {names[c]} | {n} | {synthetic.w[synthetic.y == c].sum():.4g} |")
    if (synthetic.s >= 0).all():
        gid, tuples = group_ids(synthetic.s)
        lines += ["", f"| group ({', '.join(synthetic.sensitive_names)}) | rows | weight |", "|---|---|---|"]
        for g, t in enumerate(tuples):
            lines.append(f"| {_group_label(t, synthetic.sensitive_values)} | {int((gid == g).sum())} | "
                         f"{synthetic.w[gid == g].sum():.4g} |")
    if synthetic.modality == "image":
        image_grid(synthetic, run_dir / "grid.png")
        lines += ["", "![synthetic images, one row per class](grid.png)"]
    if metrics:
        lines += ["", "## Downstream evaluation on the real test split", ""]
        if protocol:
            opts = ", ".join(f"{k}={v}" for k, v in protocol.get("options", {}).items())
            lines += [f"Model `{protocol['model']}` trained on the synthetic set, {protocol['repeats']} repeat(s) from "
                      f"seed {protocol['seed']}" + (f" ({opts})" if opts else "") + "; mean and std over repeats.", ""]
        lines += ["| metric | mean | std | meaning |", "|---|---|---|---|"]
        for k, v in metrics.items():
            if not k.endswith("_std"):
                lines.append(f"| {k} | {_fmt(v)} | {_fmt(metrics.get(k + '_std', float('nan')))} | "
                             f"{MEANING.get(k, '')} |")
    if groups:
        lines += ["", "| test group | n | " + " | ".join(k for k in groups[0] if k not in ("group", "n")) + " |",
                  "|---" * (len(groups[0])) + "|"]
        for row in groups:
            lines.append(f"| {_group_label(row['group'], synthetic.sensitive_values)} | {row['n']} | "
                         + " | ".join(_fmt(v) for k, v in row.items() if k not in ("group", "n")) + " |")
        _group_bars({config.get("method", "run"): (groups, synthetic.sensitive_values, "")}, run_dir / "groups.png")
        lines += ["", "![per-group test accuracy](groups.png)"]
    write_text(run_dir / "report.md", "\n".join(lines) + "\n")
    return run_dir / "report.md"


def _group_bars(by_run: dict[str, tuple[list[dict], list[list[str]] | None, str]], path: Path) -> None:
    """Per-group test accuracy of each run (name -> (groups.json rows, the run's sensitive values, what its test split
    is)): one panel, titled with that test split, per distinct (test split, group labels), so runs scored on other
    rows or groups never share an axis."""
    plt = pyplot()
    panels: dict[tuple[str, tuple[str, ...]], dict[str, list[dict]]] = {}
    for name, (rows, values, split) in by_run.items():
        panels.setdefault((split, tuple(_group_label(r["group"], values) for r in rows)), {})[name] = rows
    width_in = max(5, max(0.6 * len(k[1]) * max(1, len(v)) ** 0.5 + 2 for k, v in panels.items()))
    fig, axes = plt.subplots(len(panels), 1, figsize=(width_in, 3.5 * len(panels)), squeeze=False)
    for ax, ((split, labels), runs) in zip(axes[:, 0], panels.items()):
        if split:
            ax.set_title(split, fontsize=8)
        width = 0.8 / len(runs)
        for i, (name, rows) in enumerate(runs.items()):
            ax.bar(np.arange(len(rows)) + i * width, [r["accuracy"] for r in rows], width, label=name)
        ax.set_xticks(np.arange(len(labels)) + width * (len(runs) - 1) / 2)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("test accuracy per group")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def compare(run_dirs: Sequence[str | Path], out_dir: str | Path, overwrite: bool = False) -> Path:
    """Compare evaluated runs: ``out_dir/comparison.md``, ``tradeoff.png``, ``groups.png``, image grids. The folder
    is written whole or not at all; an existing report is replaced only with ``overwrite``."""
    from .errors import ConfigError
    from .fileio import read_json
    from .runs import load_run
    out_dir = Path(out_dir)
    check_out_folder(out_dir, overwrite, "report folder", ("comparison.md",))
    seen = [Path(d).resolve() for d in run_dirs]
    twice = sorted({str(d) for d in seen if seen.count(d) > 1})
    if twice:
        raise ConfigError(f"run folder(s) {', '.join(twice)} given twice; name each run once")
    loaded = [load_run(d) for d in map(Path, run_dirs)]  # every folder is read and checked before anything is written
    rows, groups, images = [], {}, {}
    for i, (d, label, (syn, cfg)) in enumerate(zip(map(Path, run_dirs), _run_labels(seen, loaded), loaded)):
        mpath, ppath = d / "metrics.json", d / "evaluation.json"
        again = f"evaluate it again (fairdistill evaluate {d})"
        metrics = read_json(mpath, again) if mpath.exists() else {}
        protocol = read_json(ppath, again) if ppath.exists() else {}
        rows.append((label, {**cfg, "evaluation": protocol}, metrics))
        gpath = d / "groups.json"
        if gpath.exists():
            groups[label] = (read_json(gpath, again, kind=list), syn.sensitive_values, _test_split(cfg))
        if syn.modality == "image":
            images[label] = (syn, f"grid_{i + 1}_{d.name}.png")
    if not rows:
        raise ConfigError("report needs at least one run folder")
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        _write_comparison(tmp, rows, groups, images)
    return out_dir / "comparison.md"


def _run_labels(paths: list[Path], loaded) -> list[str]:
    """'method:folder' per run, with as many parent folders as it takes to tell runs with one folder name apart."""
    for depth in range(1, max(len(p.parts) for p in paths) + 1):
        labels = [f"{cfg.get('method')}:{'/'.join(p.parts[-depth:])}" for p, (_, cfg) in zip(paths, loaded)]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{cfg.get('method')}:{p}" for p, (_, cfg) in zip(paths, loaded)]


def _dataset(config: dict) -> str:
    """The run's dataset as the report shows it: its name, and your own table's file ('csv:mine')."""
    path = (config.get("dataset_options") or {}).get("path")
    return f"{config.get('dataset')}:{Path(path).stem}" if path else str(config.get("dataset"))


def _test_split(config: dict) -> str:
    """What a run's test metrics are measured on: the dataset, its options and data seed, the sensitive axes (runs
    that differ here score other rows or other groups)."""
    opts = ", ".join(f"{k}={v}" for k, v in sorted((config.get("dataset_options") or {}).items()) if k != "path")
    seed = config.get("data_seed", 0)
    return (f"{_dataset(config)}" + (f" ({opts})" if opts else "") + (f", data seed {seed}" if seed else "")
            + f", sensitive {_sensitive(config)}")


def _write_comparison(out_dir: Path, rows, groups, images) -> None:
    """comparison.md and its figures into ``out_dir`` (see ``compare``)."""
    for syn, name in images.values():
        image_grid(syn, out_dir / name)
    keys = [k for k in HEADLINE if any(k in m for _, _, m in rows)]
    head = ["run", "dataset", "sensitive", "rows", "model (repeats)", *keys]
    lines = ["# Comparison", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label, cfg, m in rows:
        ev = cfg["evaluation"]
        # runs evaluated before evaluation.json existed name their model in metrics.json
        model = f"{ev['model']} ({ev['repeats']})" if ev else ("not evaluated" if not m else m.get("model", "?"))
        cells = [f"{_fmt(m[k])} ± {_fmt(m.get(k + '_std', float('nan')))}" if k in m else "" for k in keys]
        lines.append("| " + " | ".join([label, _dataset(cfg), _sensitive(cfg), str(cfg.get("n_synthetic")),
                                        model, *cells]) + " |")
    if not any(m for _, _, m in rows):
        lines += ["", "No run has been evaluated yet: `fairdistill evaluate DIR` writes metrics.json."]
    elif len({(c["evaluation"].get("model"), c["evaluation"].get("repeats")) for _, c, m in rows if m}) > 1:
        lines += ["", "Note: these runs were evaluated with different downstream models or repeats (column 5); "
                      "their metrics are not directly comparable."]
    if any(m for _, _, m in rows):
        lines += ["", "Metrics: " + "; ".join(f"{k}: {MEANING[k]}" for k in keys if k in MEANING) + "."]
    splits = sorted({_test_split(c) for _, c, _ in rows})
    if len(splits) > 1:
        lines += ["", "Note: these runs are scored on different test splits or groups (" + "; ".join(splits)
                  + "): their fairness metrics measure different groups, and their accuracies different rows."]
    fair_key = next((k for k in ("deo_max", "demographic_disparity", "dp_difference") if any(k in m for _, _, m in rows)),
                    None)
    if fair_key:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5, 4))
        for label, _, m in rows:
            if fair_key in m and "accuracy" in m:
                ax.errorbar(m[fair_key], m["accuracy"], xerr=m.get(fair_key + "_std"), yerr=m.get("accuracy_std"),
                            fmt="o", label=label, capsize=3)
        ax.set_xlabel(f"{fair_key} (lower is fairer)")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, out_dir / "tradeoff.png")
        lines += ["", "![fairness vs accuracy](tradeoff.png)"]
    if groups:
        _group_bars(groups, out_dir / "groups.png")
        lines += ["", "![per-group test accuracy](groups.png)"]
    for label, (_, grid) in images.items():
        lines += ["", f"{label}: ![]({grid})"]
    write_text(out_dir / "comparison.md", "\n".join(lines) + "\n")
