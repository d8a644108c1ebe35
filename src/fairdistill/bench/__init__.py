"""Benchmark suites: name -> ("module:function", description).

A suite is ``fn(out_dir, *, data_dir=None, seeds=None, quick=False, device="auto") -> dict``; it writes
``out_dir/<suite>.json`` (and ``.md``, ``.png``). What ``seeds`` counts is the suite's own (its docstring and the
description below say it); a suite that ignores a generic option raises ConfigError when it is given
(``common.reject_ignored``). Suites that log finished runs use ``runlog.RunLog``; mean ± std over runs is
``common.mean_std``.

Every results file records the command, the git commit, the machine and the library version (see ``record``).
"""
from __future__ import annotations

from ..registry import resolve

SUITES: dict[str, tuple[str, str]] = {
    "fwc-paper": ("fairdistill.bench.fwc_paper:paper", "FWC and coreset baselines on Adult, Credit (german), Crime, "
                  "Drug vs the paper (--seeds: random splits per dataset, default 10, Adult 2; --quick: 1 seed, the "
                  "smallest size, FWC ε 0.05 and uniform, on Crime unless --set datasets=... names others)"),
    "fwc-scale": ("fairdistill.bench.fwc:scale", "FWC run time / memory from n=1e3 to 1e6; inner solver vs HiGHS "
                  "(--seeds: repetitions of the n grid, default 1)"),
    "fairdd-paper": ("fairdistill.bench.fairdd:paper", "DM, DC and FairDD on the coloured image sets vs the paper "
                     "(--seeds: evaluation repeats per set, default the protocol's)"),
    "fairdd-cost": ("fairdistill.bench.fairdd:cost", "time per iteration and memory: DM vs FairDD+DM, DC vs FairDD+DC "
                    "(no --seeds; --set rounds=N)"),
    "fair4free-paper": ("fairdistill.bench.fair4free:paper", "Fair4Free on Adult and COMPAS vs the paper (real-test "
                        "and own-split; --seeds: seeds per case, default 10)"),
    "fair4free-smode": ("fairdistill.bench.fair4free_smode:run", "Fair4Free's s_mode options (how s of a generated "
                        "row is drawn) on the fair4free-paper cases, paired by seed (--seeds: seeds per case, "
                        "default 10)"),
    "intersectional": ("fairdistill.bench.intersectional:run", "intersectional augmentation on Adult, COMPAS, German, C-MNIST features "
                       "(--seeds: the first N of 10, 20, 30, ..., default 5)"),
    "demo-timing": ("fairdistill.bench.demo:timing", "wall time of `fairdistill demo`; Adult MLP on 1 vs all threads "
                    "(no --seeds, no --device)"),
}


def get(name: str):
    return resolve("benchmark suite", name, {k: v[0] for k, v in SUITES.items()})
