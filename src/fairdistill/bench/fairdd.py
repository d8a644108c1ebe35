"""FairDD benchmarks: the coloured-MNIST tables of the paper (``paper``) and the cost of FairDD (``cost``).

``paper``: C-MNIST (FG/BG) and C-FMNIST (FG/BG), IPC 10/50/100, methods random / DM / DM+FairDD / DC / DC+FairDD
(and the whole training set), scored by ``fairdistill.evaluate`` (ConvNet; Acc, DEO_M, DEO_A, mean +- std over
repeats) beside the published numbers (TARGETS.md §1.1). Protocols:

- ``full`` (default when CUDA is present): the paper's settings (METHODS.md §2-§4): DM 20,000 iterations, DC 1,000,
  batch_real 256, ConvNet width 128; evaluation 1,000 epochs with DSA (DM sets, random) or 300 without (DC sets),
  5 repeats.
- ``reduced`` (default on CPU) [project]: a miniature of ``full`` that two shared CPU cores run in under an hour
  with ``jobs=2``: the same method code and loss, fewer iterations and smaller nets. Distillation with a
  width-32 ConvNet, batch_real 256 (the paper's), DM / DM+FairDD 400 iterations at lr_img 3 (group_reduction sum,
  uniform sampler,
  as the paper), DC 10 iterations with outer/inner loops 5/10 (C-MNIST (FG) only); every distillation starts from
  a group-balanced real initialisation (``init_balanced=True``; the Random baseline keeps the paper's proportional
  draw; on C-MNIST (FG) DM, DM+FairDD and Random also run with the other initialisation); evaluation with a
  width-32 ConvNet, 200 epochs (DSA for DM sets and Random, none for DC sets), 2 repeats; whole-set training
  skipped; IPC 10 only unless ``ipcs`` says otherwise. Measured on C-MNIST (FG) (1 repeat): lr_img 10 leaves
  FairDD's images speckled (its loss sums ~10 group terms, ~10x DM's gradient; 100 iterations: DEO_M 85.7),
  lr_img 3 with balanced init gives DM 27.0 / 100 / 99.2 and DM+FairDD 84.0 / 26.7 / 16.5 (Acc / DEO_M / DEO_A)
  after 200 iterations at batch_real 64; with balanced init vanilla DM still drifts to DEO_M 100 within 100
  iterations, as the paper's Table 6 reports for its full runs. batch_real 64 left FairDD's per-group means noisy
  (about 6 real images per colour group and class): C-FMNIST DEO_M 66 / 62 after 200 iterations, 38 / 42 at
  batch_real 256 and 400 iterations (benchmarks/fairdd-paper.notes.md).
- C-FMNIST (BG) is loaded with ``faithful=True`` in every protocol (``Protocol.faithful``): with the fixed colouring
  the white group's images are constant (the object vanishes on a white background), which caps every method at
  DEO_M ~100; the faithful images are those behind the published numbers.
- ``quick``: seconds, for the smoke test (one dataset, a subsample, a few iterations).

``cost``: seconds per iteration and peak memory of DM vs FairDD+DM and DC vs FairDD+DC on C-MNIST (FG) (10 classes,
10 colour groups, BR 0.9), measured in one process with the methods interleaved; ratios FairDD / vanilla.

``--seeds N``: ``paper``: evaluation repeats, i.e. ConvNets trained (seeds 0..N-1) on every synthetic set (default:
the protocol's, full 5, reduced 2, quick 1; distillation itself uses seed 0). ``cost`` does not take it (its
repetitions are ``--set rounds=N``) and refuses it.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import check_choice, check_members
from ..fileio import save_figure, write_text
from ..progress import log
from .common import check_data, check_jobs, check_seeds, reject_ignored, run_tasks
from .record import write_results

DATASETS = ("cmnist-fg", "cmnist-bg", "cfmnist-fg", "cfmnist-bg")
# the reduced CPU protocol (measured choices: see the module docstring and benchmarks/fairdd-paper.md)
REDUCED_DM_ITERATIONS = 400
REDUCED_BATCH_REAL = 256
REDUCED_LR_IMG = 3.0
REDUCED_EVAL_EPOCHS = 200
REDUCED_INIT_BALANCED = True
METHODS = ("random", "dm", "fairdd-dm", "dc", "fairdd-dc", "whole")
LABELS = {"random": "Random", "dm": "DM", "fairdd-dm": "DM+FairDD", "dc": "DC", "fairdd-dc": "DC+FairDD",
          "whole": "Whole"}

# TARGETS.md §1.1 (FairDD Tables 1-2): Acc / DEO_M / DEO_A, columns Random, DM, DM+FairDD, DC, DC+FairDD.
_T = {
    "cmnist-fg": {10: "30.75 100.0 98.72 25.01 100.0 99.96 94.61 17.04 7.95 71.41 99.85 65.61 90.62 26.75 11.96",
                  50: "47.38 100.0 99.58 56.84 100.0 91.68 96.58 10.05 5.46 90.54 46.99 20.55 92.68 18.42 8.86",
                  100: "67.41 100.0 88.64 78.04 99.36 66.38 96.79 8.17 4.86 91.64 45.27 17.45 93.23 22.32 9.49",
                  "whole": "97.71 10.10 5.89"},
    "cmnist-bg": {10: "27.95 100.0 99.11 23.40 100.0 99.97 94.88 13.42 6.77 65.91 100.0 73.60 90.84 20.66 9.94",
                  50: "45.52 100.0 99.77 47.74 100.0 97.85 96.86 8.98 5.25 88.53 60.66 26.38 92.20 20.29 9.90",
                  100: "67.28 100.0 89.07 79.87 100.0 52.23 97.33 6.60 4.31 90.20 62.63 20.87 92.73 32.58 10.40",
                  "whole": "97.80 9.70 5.78"},
    "cfmnist-fg": {10: "32.80 100.0 99.18 33.35 100.0 99.05 77.09 26.87 16.38 60.77 99.40 78.96 76.01 46.80 24.01",
                   50: "42.48 100.0 94.61 49.94 100.0 96.46 82.11 24.92 13.74 69.08 99.33 67.02 75.83 46.67 21.48",
                   100: "55.31 100.0 94.85 57.99 100.0 85.11 83.25 23.83 12.75 68.84 99.58 66.45 74.91 56.68 23.07",
                   "whole": "82.94 79.2 41.72"},
    "cfmnist-bg": {10: "24.96 100.0 99.40 22.26 100.0 99.68 71.10 33.05 19.72 47.32 100.0 92.91 68.51 61.75 34.88",
                   50: "34.92 100.0 98.52 36.27 100.0 99.71 79.07 24.50 14.47 60.58 100.0 75.41 75.80 44.60 25.25",
                   100: "44.87 100.0 96.05 49.30 100.0 93.88 80.63 21.95 13.33 62.70 99.70 73.38 71.76 52.75 23.48",
                   "whole": "77.97 91.4 51.68"},
}


def paper_value(dataset: str, ipc: int | str, method: str) -> tuple[float, float, float] | None:
    """Published (Acc, DEO_M, DEO_A) for a cell of TARGETS.md §1.1, or None."""
    row = _T.get(dataset, {})
    if method == "whole":
        v = [float(t) for t in row.get("whole", "").split()]
        return tuple(v) if v else None
    if ipc not in row or method not in METHODS[:5]:
        return None
    v = [float(t) for t in row[ipc].split()]
    k = METHODS.index(method) * 3
    return tuple(v[k:k + 3])


@dataclass(frozen=True)
class Protocol:
    name: str
    ipcs: tuple[int, ...]
    methods: tuple[str, ...]
    dm_iterations: int
    dc_iterations: int
    batch_real: int
    net_width: int
    dm_lr_img: float | None          # None: the paper's value
    dc_outer: int | None             # None: the paper's table by IPC
    dc_inner: int | None
    eval_epochs_dm: int
    eval_epochs_dc: int
    eval_width: int
    repeats: int
    whole_epochs: int
    train_rows: int | None = None    # subsample of the training split (quick only)
    test_rows: int | None = None
    init_balanced: bool = False      # DM/DC/FairDD start from group-balanced real images (random too)
    compare_init: tuple[str, ...] = ()  # datasets on which DM and DM+FairDD also run with the other initialisation
    faithful: tuple[str, ...] = ("cfmnist-bg",)  # datasets loaded with faithful=True (the published images)
    dc_datasets: tuple[str, ...] | None = None  # datasets with DC / DC+FairDD cells (None: all)


PROTOCOLS = {
    "full": Protocol("full", (10, 50, 100), METHODS, 20000, 1000, 256, 128, None, None, None, 1000, 300, 128, 5, 300),
    "reduced": Protocol("reduced", (10,), ("dm", "fairdd-dm", "random", "dc", "fairdd-dc"), REDUCED_DM_ITERATIONS,
                        10, REDUCED_BATCH_REAL, 32, REDUCED_LR_IMG, 5, 10, REDUCED_EVAL_EPOCHS,
                        REDUCED_EVAL_EPOCHS, 32, 2, 0,
                        init_balanced=REDUCED_INIT_BALANCED, compare_init=("cmnist-fg",),
                        dc_datasets=("cmnist-fg",)),
    "quick": Protocol("quick", (2,), ("random", "dm", "fairdd-dm", "dc", "fairdd-dc", "whole"), 3, 1, 16, 8, None,
                      2, 1, 2, 2, 8, 1, 1, train_rows=600, test_rows=400),
}


def _default_protocol(quick: bool, device: str) -> str:
    if quick:
        return "quick"
    from ..torchutil import resolve_device
    return "full" if resolve_device(device).type == "cuda" else "reduced"


def _subsample(data, n: int | None, seed: int = 0):
    if n is None or n >= len(data):
        return data
    idx = np.sort(np.random.default_rng(seed).choice(len(data), n, replace=False))
    return data.subset(idx)


def _init_name(balanced: bool) -> str:
    return "balanced" if balanced else "proportional"


def _main_init(method: str, p: Protocol) -> bool:
    """The protocol's initialisation of ``method``: Random stays the paper's baseline (IPC images drawn at random
    from the class, so group shares follow the class's); the distillation methods start as ``p.init_balanced``."""
    return False if method == "random" else p.init_balanced


def _method_params(method: str, ipc: int, p: Protocol, device: str, balanced: bool) -> dict[str, Any]:
    common = {"ipc": ipc, "batch_real": p.batch_real, "net_width": p.net_width, "device": device, "seed": 0,
              "init_balanced": balanced}
    if method in ("dm", "fairdd-dm"):
        return {**common, "iterations": p.dm_iterations, "lr_img": p.dm_lr_img}
    return {**common, "iterations": p.dc_iterations, "outer_loop": p.dc_outer, "inner_loop": p.dc_inner}


def _synthesise(method: str, ipc: int, train, p: Protocol, device: str, balanced: bool):
    from ..methods import make
    if method == "whole":
        return train
    if method == "random":
        from ..dataset import SyntheticSet
        from ..methods.distill.samplers import initial_rows
        gid, _ = train.groups("joint")
        rng = np.random.default_rng(0)
        rows = np.concatenate([initial_rows(train.y, gid, c, ipc, rng, balanced) for c in range(train.n_classes)])
        return SyntheticSet.from_dataset(train.subset(rows), name=f"{train.name}-random")
    return make(method, **_method_params(method, ipc, p, device, balanced)).fit(train).synthetic_


def _evaluate(synthetic, test, method: str, p: Protocol, repeats: int, device: str) -> dict[str, float]:
    import fairdistill
    dc_like = method in ("dc", "fairdd-dc")
    epochs = p.whole_epochs if method == "whole" else (p.eval_epochs_dc if dc_like else p.eval_epochs_dm)
    rep = fairdistill.evaluate(synthetic, test, model="convnet", repeats=repeats, seed=0, epochs=epochs,
                               dsa=not (dc_like or method == "whole"), width=p.eval_width, device=device)
    s = rep.summary()
    return {"acc": 100 * s["accuracy"][0], "acc_std": 100 * s["accuracy"][1], "deo_m": s["deo_max"][0],
            "deo_m_std": s["deo_max"][1], "deo_a": s["deo_avg"][0], "deo_a_std": s["deo_avg"][1],
            "eval_epochs": epochs}


def _fmt(r: dict | None, paper: tuple | None) -> str:
    got = "—" if r is None else (f"{r['acc']:.1f}±{r['acc_std']:.1f} / {r['deo_m']:.1f}±{r['deo_m_std']:.1f} / "
                                 f"{r['deo_a']:.1f}±{r['deo_a_std']:.1f}")
    pap = "—" if paper is None else " / ".join(f"{v:g}" for v in paper)
    return f"{got} (paper {pap})"


def _targets(rows: list[dict], init: str | None = None) -> dict[str, Any]:
    """Reduced-protocol targets: at the lowest IPC FairDD halves DM's DEO_M without lowering its accuracy
    (rows of initialisation ``init`` only, when given)."""
    out = {}
    rows = [r for r in rows if init is None or r.get("init", init) == init]
    ipcs = [r["ipc"] for r in rows if isinstance(r["ipc"], int)]
    for ds in DATASETS:
        cell = {r["method"]: r for r in rows if r["dataset"] == ds and ipcs and r["ipc"] == min(ipcs)}
        if "dm" in cell and "fairdd-dm" in cell:
            a, b = cell["dm"], cell["fairdd-dm"]
            out[ds] = {"deo_m_dm": a["deo_m"], "deo_m_fairdd": b["deo_m"], "acc_dm": a["acc"], "acc_fairdd": b["acc"],
                       "deo_m_halved": bool(b["deo_m"] <= 0.5 * a["deo_m"]), "acc_not_lower": bool(b["acc"] >= a["acc"])}
    return out


def _protocol_text(p: Protocol) -> str:
    return (f"Protocol `{p.name}`: DM / DM+FairDD {p.dm_iterations} iterations (lr_img {p.dm_lr_img or 'paper'}, "
            f"group_reduction sum, uniform sampler), DC {p.dc_iterations} iterations (outer/inner "
            f"{p.dc_outer or 'paper'}/{p.dc_inner or 'paper'}), batch_real {p.batch_real}, distillation ConvNet width "
            f"{p.net_width}, {_init_name(p.init_balanced)} real initialisation (Random: proportional, as the paper's); "
            f"evaluation "
            f"ConvNet width {p.eval_width}, {p.eval_epochs_dm} epochs with DSA (DM sets, random) / {p.eval_epochs_dc} "
            f"without (DC sets), {p.repeats} repeats. Loaded with faithful=True (the published images): "
            f"{', '.join(p.faithful) or 'none'}.")


def _markdown(rows: list[dict], p: Protocol, targets: dict, notes: str = "") -> str:
    lines = [f"# FairDD on the coloured MNIST sets — protocol `{p.name}`", "",
             "Acc / DEO_M / DEO_A (%, mean ± std over evaluation repeats); the paper's value (TARGETS.md §1.1, full "
             "protocol) beside it.", "", _protocol_text(p), ""]
    if notes:
        lines += [notes, ""]
    lines += ["| Dataset | IPC | Method | init | Ours: Acc / DEO_M / DEO_A | Paper | fit s |",
              "|---|---|---|---|---|---|---|"]
    order = {m: i for i, m in enumerate(METHODS)}
    main = _init_name(p.init_balanced)

    def other(r: dict) -> bool:
        return r.get("init", main) != _init_name(_main_init(r["method"], p))
    for r in sorted(rows, key=lambda r: (DATASETS.index(r["dataset"]) if r["dataset"] in DATASETS else 99,
                                         r["ipc"] if isinstance(r["ipc"], int) else 10**6, other(r),
                                         order[r["method"]])):
        ours = _fmt(r, None).split(" (paper")[0]
        pap = "—" if r.get("paper") is None else " / ".join(f"{v:g}" for v in r["paper"])
        lines.append(f"| {r['dataset']} | {r['ipc']} | {LABELS[r['method']]} | {r.get('init', main)} | {ours} | "
                     f"{pap} | {r.get('fit_seconds', 0):.0f} |")
    if targets:
        lines += ["", f"Targets (lowest IPC, {main} initialisation): DM+FairDD DEO_M <= 0.5 x DM's and accuracy >= "
                  "DM's.", "",
                  "| Dataset | DEO_M DM → FairDD | Acc DM → FairDD | halved | acc not lower |", "|---|---|---|---|---|"]
        for ds, t in targets.items():
            lines.append(f"| {ds} | {t['deo_m_dm']:.1f} → {t['deo_m_fairdd']:.1f} | {t['acc_dm']:.1f} → "
                         f"{t['acc_fairdd']:.1f} | {'yes' if t['deo_m_halved'] else 'NO'} | "
                         f"{'yes' if t['acc_not_lower'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def grid_panels(sets: dict[str, Any]) -> dict[str, np.ndarray]:
    """title -> ``report.class_grid`` of the set (one row per class, its images in order; RGB in [0, 1])."""
    from ..report import class_grid
    return {title: class_grid(S, max(int(np.sum(S.y == c)) for c in np.unique(S.y)), seed=None)
            for title, S in sets.items()}


def image_grid(path: Path, sets: dict[str, Any]) -> None:
    """One panel per synthetic set (``grid_panels``: classes as rows, the images of a class along its row), titled
    with the set's key; saved as PNG (atomically)."""
    from ..report import pyplot
    plt = pyplot()
    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 5), squeeze=False)
    for ax, (title, grid) in zip(axes[0], grid_panels(sets).items()):
        ax.imshow(grid)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


_SPLITS: dict[tuple, tuple] = {}


def _splits(ds: str, p: Protocol, data_dir):
    """Train and test split of ``ds`` for protocol ``p`` (cached per process)."""
    from ..datasets import load
    key = (ds, p.train_rows, p.test_rows, ds in p.faithful, str(data_dir))
    if key not in _SPLITS:
        opts = {"faithful": True} if ds in p.faithful else {}
        _SPLITS[key] = (_subsample(load(ds, "train", data_dir=data_dir, **opts), p.train_rows),
                        _subsample(load(ds, "test", data_dir=data_dir, **opts), p.test_rows))
    return _SPLITS[key]


def _cell(ds: str, ipc: int, method: str, balanced: bool, p: Protocol, repeats: int, device: str,
          data_dir) -> tuple[dict, Any]:
    """Distil and score one (dataset, IPC, method, initialisation) cell; return its row and the synthetic set."""
    train, test = _splits(ds, p, data_dir)
    t0 = time.perf_counter()
    S = _synthesise(method, ipc, train, p, device, balanced)
    fit_s = time.perf_counter() - t0
    r = _evaluate(S, test, method, p, repeats, device)
    ipc_key = "whole" if method == "whole" else ipc
    row = {"dataset": ds, "ipc": ipc_key, "method": method, "init": _init_name(balanced), **r, "fit_seconds": fit_s,
           "eval_seconds": time.perf_counter() - t0 - fit_s, "paper": paper_value(ds, ipc_key, method)}
    log(f"[fairdd-paper] {ds} ipc={row['ipc']} {method} ({row['init']} init): acc={r['acc']:.2f} "
        f"deo_m={r['deo_m']:.2f} deo_a={r['deo_a']:.2f} ({fit_s:.0f}s fit)")
    return row, (S if method in ("dm", "fairdd-dm") else None)


def paper(out_dir: Path, *, data_dir=None, seeds: int | None = None, quick: bool = False, device: str = "auto",
          protocol: str | None = None, datasets: tuple[str, ...] | None = None, ipcs: tuple[int, ...] | None = None,
          methods: tuple[str, ...] | None = None, jobs: int = 1, notes: str = "") -> dict:
    """Run the coloured-MNIST tables; write ``fairdd-paper.json``, ``.md`` and ``.png`` (DM beside DM+FairDD on the
    first dataset, lowest IPC, the protocol's initialisation) when every cell is done. While it runs, the finished
    cells are in ``fairdd-paper.partial.{json,md}`` (removed at the end), so an interrupted run leaves the earlier
    results in place.

    ``seeds``: evaluation repeats, ConvNets trained per synthetic set (default: the protocol's). ``protocol``: full |
    reduced | quick (default: full with CUDA, reduced on CPU, quick when ``quick``). ``datasets``, ``ipcs``,
    ``methods`` restrict the grid. ``jobs`` > 1 runs that many cells at once in worker processes (one torch thread
    each; CPU only). ``notes``: a paragraph for the Markdown file (default: the text of
    ``out_dir/fairdd-paper.notes.md`` when it exists).
    """
    out_dir = Path(out_dir)
    name = protocol or _default_protocol(quick, device)
    check_choice(name, "protocol", PROTOCOLS)
    check_jobs(jobs)
    check_seeds(seeds, "evaluation repeats per set")
    check_members(list(datasets or ()), "fairdd-paper dataset(s)", DATASETS)
    check_members(list(methods or ()), "fairdd-paper method(s)", METHODS)
    check_data(datasets or DATASETS, data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    p = PROTOCOLS[name]
    notes_file = out_dir / "fairdd-paper.notes.md"
    if not notes and notes_file.exists():
        notes = notes_file.read_text().strip()
    if ipcs:
        p = replace(p, ipcs=tuple(int(i) for i in ipcs))
    datasets = tuple(datasets or (DATASETS[:1] if name == "quick" else DATASETS))
    methods = tuple(methods or p.methods)
    repeats = seeds or p.repeats
    config = {"protocol": asdict(p), "datasets": datasets, "methods": methods, "repeats": repeats, "device": device,
              "jobs": jobs}
    # methods outermost: the DM vs DM+FairDD comparison on every dataset comes first, then random, then DM and
    # DM+FairDD with the other initialisation (``compare_init``), then the slower DC runs
    cells = []
    for method in methods:
        for ipc in p.ipcs:
            if method == "whole" and (ipc != p.ipcs[0] or p.whole_epochs <= 0):
                continue
            dc_like = method in ("dc", "fairdd-dc")
            cells += [(ds, ipc, method, _main_init(method, p)) for ds in datasets
                      if not (dc_like and p.dc_datasets is not None and ds not in p.dc_datasets)]
            if method in ("dm", "fairdd-dm", "random") and ipc == p.ipcs[0]:
                cells += [(ds, ipc, method, not _main_init(method, p)) for ds in datasets if ds in p.compare_init]
    cells.sort(key=lambda c: (c[2] in ("dc", "fairdd-dc", "whole"), c[3] != _main_init(c[2], p)))
    rows: list[dict] = []
    grids: dict[str, Any] = {}

    def write(stem: str) -> dict:
        targets = _targets(rows, _init_name(p.init_balanced))
        out = {"rows": rows, "targets": targets}
        write_results(out_dir / f"{stem}.json", "fairdd-paper", out, config)
        write_text(out_dir / f"{stem}.md", _markdown(rows, p, targets, notes))
        return out

    def collect(cell, row, S) -> None:
        ds, ipc, method, balanced = cell
        rows.append(row)
        if S is not None and ds == datasets[0] and ipc == p.ipcs[0] and balanced == _main_init(method, p):
            grids[method] = (S, f"{LABELS[method]}: {ds}, IPC {ipc}")
        write("fairdd-paper.partial")

    for task, (row, S) in run_tasks(_cell, [(*cell, p, repeats, device, data_dir) for cell in cells], jobs):
        collect(task[:4], row, S)
    if grids:
        image_grid(out_dir / "fairdd-paper.png", {title: S for m in ("dm", "fairdd-dm") if m in grids
                                                  for S, title in [grids[m]]})
    results = write("fairdd-paper")
    for suffix in ("json", "md"):
        (out_dir / f"fairdd-paper.partial.{suffix}").unlink(missing_ok=True)
    return results


# --------------------------------------------------------------------------------------------------------- cost
def _peak_bytes(dev) -> int:
    import torch
    return int(torch.cuda.max_memory_allocated(dev))


def cost(out_dir: Path, *, data_dir=None, seeds: int | None = None, quick: bool = False, device: str = "auto",
         rounds: int | None = None) -> dict:
    """Seconds per iteration (median over ``rounds`` interleaved measurements) and peak memory of DM vs FairDD+DM
    and DC vs FairDD+DC on C-MNIST (FG), IPC 10; writes ``fairdd-cost.json`` and ``fairdd-cost.md``.

    Settings: IPC 10, batch_real 256 and width 128 on CUDA (the paper's), batch_real 256 and width 32 on CPU (the
    reduced protocol of ``paper``); DC with outer/inner loops 2/5 (the paper's 10/50 only multiply both sides). Peak
    memory: CUDA peak allocation per run (not measured on CPU). ``seeds`` is not accepted (ConfigError): the
    repetitions are ``rounds`` (default 2, quick 1), round r fitting every method with seed r.
    """
    reject_ignored("fairdd-cost", {"--seeds": seeds is not None},
                   "--data-dir, --quick, --device and --set rounds=N (interleaved timing rounds)")
    import torch

    from ..datasets import load
    from ..methods import make
    from ..torchutil import resolve_device
    out_dir = Path(out_dir)
    dev = resolve_device(device)
    train = load("cmnist-fg", "train", data_dir=data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if quick:
        width, br, ipc = 8, 16, 2
    elif dev.type == "cuda":
        width, br, ipc = 128, 256, 10
    else:  # the reduced CPU scale of ``paper``: two shared cores cannot run width 128 in minutes
        width, br, ipc = 32, REDUCED_BATCH_REAL, 10
    if quick:
        train = _subsample(train, 600)
    rounds = rounds or (1 if quick else 2)
    iters = 2
    cfg = {"dm": {"iterations": iters}, "fairdd-dm": {"iterations": iters},
           "dc": {"iterations": 1, "outer_loop": 2, "inner_loop": 5},
           "fairdd-dc": {"iterations": 1, "outer_loop": 2, "inner_loop": 5}}
    times: dict[str, list[float]] = {m: [] for m in cfg}
    peak: dict[str, int] = {}
    for r in range(rounds):
        for m, extra in cfg.items():
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
                torch.cuda.reset_peak_memory_stats(dev)
            t0 = time.perf_counter()
            make(m, ipc=ipc, batch_real=br, net_width=width, device=str(dev), seed=r, **extra).fit(train)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            times[m].append((time.perf_counter() - t0) / extra["iterations"])
            if dev.type == "cuda":
                peak[m] = max(peak.get(m, 0), _peak_bytes(dev))
            log(f"[fairdd-cost] round {r + 1}: {m} {times[m][-1]:.2f} s/iteration")
    med = {m: statistics.median(v) for m, v in times.items()}
    results = {
        "seconds_per_iteration": med, "all_seconds": times,
        "peak_memory_mb": {m: (peak[m] / 2**20 if m in peak else None) for m in cfg},
        "ratio_time": {"fairdd-dm/dm": med["fairdd-dm"] / med["dm"], "fairdd-dc/dc": med["fairdd-dc"] / med["dc"]},
        "targets": {"fairdd-dm/dm <= 1.05": med["fairdd-dm"] / med["dm"] <= 1.05,
                    "fairdd-dc/dc <= 1.5": med["fairdd-dc"] / med["dc"] <= 1.5},
        "memory_note": ("CUDA peak allocated per run" if dev.type == "cuda" else
                        "not measured on CPU (torch has no CPU allocation counter; the process peak is the data)"),
    }
    config = {"device": str(dev), "ipc": ipc, "batch_real": br, "net_width": width, "rounds": rounds, "methods": cfg,
              "torch_threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    write_results(out_dir / "fairdd-cost.json", "fairdd-cost", results, config)
    lines = ["# FairDD cost: seconds per iteration (median of interleaved rounds) and peak memory", "",
             f"Device {dev}, C-MNIST (FG), IPC {ipc}, batch_real {br}, ConvNet width {width}; DC outer/inner 2/5.", "",
             "| Method | s / iteration | peak memory (MB) |", "|---|---|---|"]
    for m in cfg:
        mb = results["peak_memory_mb"][m]
        lines.append(f"| {LABELS[m]} | {med[m]:.3f} | {'n/a' if mb is None else f'{mb:.0f}'} |")
    lines += ["", f"Ratio DM+FairDD / DM = {results['ratio_time']['fairdd-dm/dm']:.3f} (target <= 1.05); "
              f"DC+FairDD / DC = {results['ratio_time']['fairdd-dc/dc']:.3f} (target <= 1.5).",
              f"Memory: {results['memory_note']}.", "",
              "Paper (Table 13, RTX 3090, 10 groups): DM 26.2 → 36.9 min (x1.41), DC 70 → 210 min (x3.0)."]
    write_text(out_dir / "fairdd-cost.md", "\n".join(lines) + "\n")
    return results
