"""Benchmark suites: name -> "module:function". A suite function takes (out_dir, args) and writes results JSON.

Every results file records the command, the git commit, the machine and the library version (see ``record``).
"""
from __future__ import annotations

import importlib

from ..errors import ConfigError

SUITES: dict[str, tuple[str, str]] = {
    "fwc-paper": ("fairdistill.bench.fwc_paper:paper", "FWC and coreset baselines on Adult, Credit, Crime, Drug vs the paper"),
    "fwc-scale": ("fairdistill.bench.fwc:scale", "FWC run time / memory from n=1e3 to 1e6; inner solver vs HiGHS"),
    "fairdd-paper": ("fairdistill.bench.fairdd:paper", "DM, DC and FairDD on the coloured image sets vs the paper"),
    "fairdd-cost": ("fairdistill.bench.fairdd:cost", "time per iteration and memory: DM vs FairDD+DM, DC vs FairDD+DC"),
    "fair4free-paper": ("fairdistill.bench.fair4free:paper", "Fair4Free on Adult and COMPAS vs the paper"),
    "intersectional": ("fairdistill.bench.intersectional:run", "intersectional augmentation on Adult and COMPAS"),
}


def get(name: str):
    if name not in SUITES:
        raise ConfigError(f"unknown benchmark suite {name!r}; choose one of: {', '.join(SUITES)}")
    module, fn = SUITES[name][0].split(":")
    try:
        return getattr(importlib.import_module(module), fn)
    except (ModuleNotFoundError, AttributeError) as err:
        if isinstance(err, ModuleNotFoundError) and not (err.name or "").startswith("fairdistill"):
            raise
        raise ConfigError(f"benchmark suite {name!r} is not available in this build ({err})") from None
