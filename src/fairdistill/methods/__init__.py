"""Method registry: name -> "module:Class", imported lazily so that one method's dependencies never slow another."""
from __future__ import annotations

from ..errors import ConfigError
from ..registry import resolve
from .base import Method, resolve_size
from ..params import Param

REGISTRY: dict[str, str] = {
    "full": "fairdistill.methods.subsample:Full",
    "random": "fairdistill.methods.subsample:Random",
    # coresets (issue: FWC)
    "fwc": "fairdistill.methods.fwc.estimator:FWC",
    "fairwasp": "fairdistill.methods.fwc.estimator:FairWASP",
    "uniform": "fairdistill.methods.coresets:Uniform",
    "kmeans": "fairdistill.methods.coresets:KMeansCoreset",
    "kmedoids": "fairdistill.methods.coresets:KMedoidsCoreset",
    "kmedian-coreset": "fairdistill.methods.coresets:KMedianCoreset",
    "indfair-coreset": "fairdistill.methods.coresets:IndFairCoreset",
    "fairlets": "fairdistill.methods.fairlets:Fairlets",
    # dataset distillation (issue: FairDD)
    "dm": "fairdistill.methods.distill:DM",
    "dc": "fairdistill.methods.distill:DC",
    "fairdd-dm": "fairdistill.methods.distill:FairDDDM",
    "fairdd-dc": "fairdistill.methods.distill:FairDDDC",
    # data-free generation (issue: Fair4Free)
    "fair4free": "fairdistill.methods.fair4free.estimator:Fair4Free",
    # intersectional augmentation
    "intersectional": "fairdistill.methods.intersectional.estimator:IntersectionalAugmentation",
    "equal-sampling": "fairdistill.methods.intersectional.estimator:EqualSampling",
}


def available() -> list[str]:
    """Names whose module is importable (a method still under construction is simply not listed)."""
    out = []
    for name in REGISTRY:
        try:
            get(name)
        except ConfigError:
            continue
        out.append(name)
    return out


def get(name: str) -> type[Method]:
    """The method class registered as ``name`` (``fairdistill run --help`` lists them); an unknown name is a
    ConfigError naming the closest one."""
    return resolve("method", name, REGISTRY)


def make(name: str, **params) -> Method:
    """An unfitted estimator of method ``name`` with ``params`` (each checked at once, like the constructor's)."""
    return get(name)(**params)


__all__ = ["Method", "Param", "REGISTRY", "available", "get", "make", "resolve_size"]
