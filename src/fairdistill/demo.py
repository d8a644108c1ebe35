"""``fairdistill demo``: FWC against uniform subsampling and the full data on Adult, judged by one protocol.

Adult (sensitive: sex), a 1% coreset, the FWC paper's downstream MLP, scored on the real test split: AUC,
accuracy, demographic disparity, the trade-off distance to (AUC 1, DD 0), and the data-level parity violation of
each weighted set. Its wall time is measured by ``fairdistill bench demo-timing`` (target: under 2 minutes).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from . import datasets, methods
from .errors import ConfigError
from .metrics import parity_violation
from .progress import log
from .report import compare
from .runs import evaluate_run, execute
from .seeding import seed_range

PLAN = (  # (label, method, params)
    ("whole training set", "full", {}),
    ("uniform 1%", "uniform", {"size": 0.01}),
    ("k-means 1% + reweighing", "kmeans", {"size": 0.01, "reweigh": True}),
    ("FWC 1%, eps=0.05", "fwc", {"size": 0.01, "epsilon": 0.05}),
)


MARKER = ".fairdistill-demo"  # written into the demo's folder: only such a folder is ever replaced


def run_demo(data_dir=None, out="runs/demo", seed: int = 0) -> int:
    """Run the demo into ``out``; the seed, ``out`` and the data are checked before anything is written."""
    why = seed_range(seed)
    if why:
        raise ConfigError(f"demo --seed {seed} {why}; give another --seed")
    out = Path(out)
    if out.exists() and not (out / MARKER).is_file():
        raise ConfigError(f"--out {out} exists and was not written by the demo; give a new folder (the demo "
                          f"replaces only its own earlier output)")
    train = datasets.load("adult", "train", data_dir=data_dir, sensitive=["sex"], seed=seed)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by `fairdistill demo`; the next demo run with this --out replaces the folder\n")
    have = set(methods.available())
    p_target = np.bincount(train.y) / len(train)
    rows, dirs = [], []
    for label, method, params in PLAN:
        if method not in have:
            log(f"[demo] skipping {label}: method {method!r} is not available in this build")
            continue
        run_dir = out / method
        log(f"[demo] {label} ...")
        _, syn = execute(method, "adult", params={**params, "seed": seed}, sensitive=["sex"], data_dir=data_dir,
                         data_seed=seed, out=run_dir)
        rep, _, _ = evaluate_run(run_dir, model="mlp", repeats=1, seed=seed, options={"batch_size": 256})
        j = parity_violation(syn.y, syn.s, syn.w, p_target)
        summ = rep.summary()
        rows.append((label, len(syn), summ["auc"][0], summ["accuracy"][0], summ["demographic_disparity"][0],
                     summ["tradeoff"][0], j))
        dirs.append(run_dir)
    print("\nAdult (sensitive: sex): downstream MLP trained on each set, scored on the real test split")
    print(f"{'set':<28}{'rows':>7}{'AUC':>8}{'acc':>8}{'DD':>8}{'tradeoff':>10}{'J_max':>8}")
    for label, n, auc, acc, dd, t, j in rows:
        print(f"{label:<28}{n:>7}{auc:>8.3f}{acc:>8.3f}{dd:>8.3f}{t:>10.3f}{j:>8.3f}")
    print("DD = |P(h=1|female) - P(h=1|male)| (lower is fairer); tradeoff = sqrt((1-AUC)^2 + DD^2); J_max = data-level"
          " parity violation max |p_w(y|d)/p(y) - 1| of the weighted set")
    compare(dirs, out / "report")
    print(f"run folders and a comparison report in {out}/ (open {out}/report/comparison.md)")
    return 0
