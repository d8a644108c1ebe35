"""``demo-timing``: wall time of ``fairdistill demo`` (the README's first command; target < 2 minutes on CPU) and of
the Adult downstream MLP with 1 torch thread versus all cores (why tabular MLPs train single-threaded).

It times fixed commands on the CPU: ``--seeds`` and ``--device`` are refused (ConfigError)."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from ..fileio import write_text
from .common import reject_ignored, shown
from .record import write_results


def _mlp_seconds(threads: int, data_dir) -> tuple[float, float]:
    """Seconds and test AUC of the whole-training-set Adult MLP (batch 256, early stopping) on ``threads`` threads."""
    from .. import datasets
    from ..evaluation import model_inputs
    from ..metrics import auc
    from ..models import MLPClassifier
    splits = datasets.load_splits("adult", data_dir=data_dir, sensitive=["sex"])
    train, valid, test = splits["train"], splits["valid"], splits["test"]
    X, Xv, Xt = (model_inputs(d, [2], True) for d in (train, valid, test))
    clf = MLPClassifier(n_classes=2, seed=0, device="cpu", batch_size=256)
    clf.single_threaded = False
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        clf.fit(X, train.y, valid=(Xv, valid.y))
        seconds = time.perf_counter() - t0
        score = auc(test.y, clf.predict_proba(Xt)[:, 1])
    finally:
        torch.set_num_threads(saved)
    return seconds, float(score)


def timing(out_dir, *, data_dir=None, seeds=None, quick: bool = False, device: str = "auto") -> dict:
    """Time ``fairdistill demo`` (seed 0) and, unless ``quick``, the Adult MLP on 1 and all threads."""
    from ..demo import run_demo
    from ..progress import set_quiet
    reject_ignored("demo-timing", {"--seeds": seeds is not None, "--device": device != "auto"},
                   "--data-dir and --quick (it times the demo and the Adult MLP on the CPU, seed 0)")
    out_dir = Path(out_dir)
    set_quiet(True)
    tmp = Path(tempfile.mkdtemp(prefix="fairdistill-demo-"))
    try:
        t0 = time.perf_counter()
        run_demo(data_dir=data_dir, out=tmp / "demo", seed=0)
        demo_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results = {"demo_seconds": round(demo_s, 1), "demo_target_seconds": 120, "demo_met": demo_s < 120,
               "load_average_1min": os.getloadavg()[0]}
    if not quick:
        for th in sorted({1, os.cpu_count() or 1}):
            s, a = _mlp_seconds(th, data_dir)
            results[f"adult_mlp_seconds_{th}_threads"], results[f"adult_mlp_auc_{th}_threads"] = round(s, 2), a
    write_results(out_dir / "demo-timing.json", "demo-timing", results, {"quick": quick})
    lines = ["# demo-timing", "", "| quantity | value |", "|---|---|"]
    lines += [f"| {k} | {shown(v)} |" for k, v in results.items()]
    write_text(out_dir / "demo-timing.md", "\n".join(lines) + "\n")
    return results
