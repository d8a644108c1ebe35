"""What a person reads first: Markdown reports with figures (matplotlib, Agg backend; PNG only).

- ``write_run_report(dir, synthetic, config, report=None)``: one run (sizes, groups, weights, metrics, image grid).
- ``compare(run_dirs, out_dir)``: a table across runs, a fairness-vs-accuracy scatter, per-group accuracy bars and
  image grids.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .dataset import FairDataset, group_ids

HEADLINE = ("accuracy", "balanced_accuracy", "auc", "deo_max", "deo_avg", "dp_difference", "dp_ratio",
            "eo_ratio", "demographic_disparity", "tradeoff", "df", "if_alpha", "worst_group_tpr")


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def to_display(X: np.ndarray, meta: dict) -> np.ndarray:
    """Normalised N x C x H x W images back to [0, 1] N x H x W x C (per-channel mean / std from ``meta``)."""
    mean = np.asarray(meta.get("mean", [0.5] * X.shape[1]), dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(meta.get("std", [0.5] * X.shape[1]), dtype=np.float32).reshape(1, -1, 1, 1)
    img = np.clip(X * std + mean, 0, 1).transpose(0, 2, 3, 1)
    return img[..., 0] if img.shape[-1] == 1 else img


def image_grid(data: FairDataset, path: Path, per_class: int = 10, seed: int = 0) -> Path:
    """A grid with one row per class and up to ``per_class`` images per row."""
    rng = np.random.default_rng(seed)
    classes = np.unique(data.y)
    rows = []
    for c in classes:
        idx = np.flatnonzero(data.y == c)
        rows.append(np.sort(rng.choice(idx, min(per_class, len(idx)), replace=False)))
    imgs = to_display(data.X, data.meta)
    h, w = imgs.shape[1:3]
    grid = np.ones((len(classes) * (h + 2), per_class * (w + 2), 3), dtype=np.float32)
    for r, idx in enumerate(rows):
        for c, i in enumerate(idx):
            im = imgs[i] if imgs.ndim == 4 else np.repeat(imgs[i][..., None], 3, axis=2)
            grid[r * (h + 2) + 1:r * (h + 2) + 1 + h, c * (w + 2) + 1:c * (w + 2) + 1 + w] = im
    plt = _plt()
    plt.imsave(path, grid)
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _group_label(t: Sequence[int], values: list[list[str]] | None) -> str:
    if not values:
        return ",".join(map(str, t))
    return ",".join(values[k][c] if 0 <= c < len(values[k]) else str(c) for k, c in enumerate(t))


def write_run_report(run_dir: Path, synthetic: FairDataset, config: dict, metrics: dict | None = None,
                     groups: list[dict] | None = None) -> Path:
    """``run_dir/report.md`` (and ``grid.png`` for images, ``groups.png`` when per-group results exist)."""
    run_dir = Path(run_dir)
    lines = [f"# {config.get('method', 'run')} on {config.get('dataset', synthetic.name)}", ""]
    params = config.get("params", {})
    lines += ["| setting | value |", "|---|---|"]
    for k, v in {"sensitive": config.get("sensitive"), **params}.items():
        lines.append(f"| {k} | {_fmt(v)} |")
    lines += ["", f"**{len(synthetic)} rows**, total weight {synthetic.w.sum():.6g}, "
                  f"fit time {config.get('provenance', {}).get('fit_seconds', 'n/a')} s.", ""]
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
        lines += ["", "## Downstream evaluation on the real test split", "", "| metric | mean | std |", "|---|---|---|"]
        for k, v in metrics.items():
            if not k.endswith("_std") and k != "model":
                lines.append(f"| {k} | {_fmt(v)} | {_fmt(metrics.get(k + '_std', float('nan')))} |")
    if groups:
        lines += ["", "| test group | n | " + " | ".join(k for k in groups[0] if k not in ("group", "n")) + " |",
                  "|---" * (len(groups[0])) + "|"]
        for row in groups:
            lines.append(f"| {_group_label(row['group'], synthetic.sensitive_values)} | {row['n']} | "
                         + " | ".join(_fmt(v) for k, v in row.items() if k not in ("group", "n")) + " |")
        _group_bars({config.get("method", "run"): groups}, synthetic.sensitive_values, run_dir / "groups.png")
        lines += ["", "![per-group test accuracy](groups.png)"]
    (run_dir / "report.md").write_text("\n".join(lines) + "\n")
    return run_dir / "report.md"


def _group_bars(by_run: dict[str, list[dict]], values, path: Path) -> None:
    plt = _plt()
    labels = [_group_label(r["group"], values) for r in next(iter(by_run.values()))]
    width = 0.8 / max(1, len(by_run))
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(labels) * max(1, len(by_run)) ** 0.5 + 2), 3.5))
    for i, (name, rows) in enumerate(by_run.items()):
        ax.bar(np.arange(len(rows)) + i * width, [r["accuracy"] for r in rows], width, label=name)
    ax.set_xticks(np.arange(len(labels)) + width * (len(by_run) - 1) / 2)
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("test accuracy per group")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def compare(run_dirs: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Compare evaluated runs: ``out_dir/comparison.md``, ``tradeoff.png``, ``groups.png``, image grids."""
    from .errors import ConfigError
    from .runs import load_run
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, groups, values = [], {}, None
    for d in map(Path, run_dirs):
        syn, cfg = load_run(d)
        mpath = d / "metrics.json"
        metrics = json.loads(mpath.read_text()) if mpath.exists() else {}
        label = f"{cfg.get('method')}:{d.name}"
        rows.append((label, cfg, metrics))
        gpath = d / "groups.json"
        if gpath.exists():
            groups[label] = json.loads(gpath.read_text())
        values = values or syn.sensitive_values
        if syn.modality == "image":
            image_grid(syn, out_dir / f"grid_{d.name}.png")
    if not rows:
        raise ConfigError("report needs at least one run folder")
    keys = [k for k in HEADLINE if any(k in m for _, _, m in rows)]
    lines = ["# Comparison", "", "| run | dataset | rows | " + " | ".join(keys) + " |", "|---" * (3 + len(keys)) + "|"]
    for label, cfg, m in rows:
        cells = [f"{_fmt(m[k])} ± {_fmt(m.get(k + '_std', float('nan')))}" if k in m else "" for k in keys]
        lines.append(f"| {label} | {cfg.get('dataset')} | {cfg.get('n_synthetic')} | " + " | ".join(cells) + " |")
    if not any(rows[i][2] for i in range(len(rows))):
        lines += ["", "No run has been evaluated yet: `fairdistill evaluate DIR` writes metrics.json."]
    fair_key = next((k for k in ("deo_max", "demographic_disparity", "dp_difference") if any(k in m for _, _, m in rows)),
                    None)
    if fair_key:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(5, 4))
        for label, _, m in rows:
            if fair_key in m and "accuracy" in m:
                ax.errorbar(m[fair_key], m["accuracy"], xerr=m.get(fair_key + "_std"), yerr=m.get("accuracy_std"),
                            fmt="o", label=label, capsize=3)
        ax.set_xlabel(f"{fair_key} (lower is fairer)")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / "tradeoff.png", dpi=120)
        plt.close(fig)
        lines += ["", "![fairness vs accuracy](tradeoff.png)"]
    if groups:
        _group_bars(groups, values, out_dir / "groups.png")
        lines += ["", "![per-group test accuracy](groups.png)"]
    for label, cfg, _ in rows:
        grid = out_dir / f"grid_{Path(label.split(':', 1)[1]).name}.png"
        if grid.exists():
            lines += ["", f"{label}: ![]({grid.name})"]
    (out_dir / "comparison.md").write_text("\n".join(lines) + "\n")
    return out_dir / "comparison.md"
