"""Dataset registry and the one loading entry point.

``load(name, split="train", data_dir=None, sensitive=None, seed=0, **options)`` returns a ``FairDataset``. Every
loader builds all splits at once (encoders are fitted on the training split), so ``load_splits`` is cached: asking
for "train" then "test" parses the files once.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from ..dataset import FairDataset
import numpy as np

from ..errors import ConfigError, DataError, MissingDataError
from .files import RemoteFile, find_file, search_roots


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    modality: str
    loader: str  # "module:function"; function(data_dir, seed, sensitive, **options) -> dict[split, FairDataset]
    description: str
    target: str
    sensitive: tuple[str, ...]  # axes available
    default_sensitive: tuple[str, ...]
    files: tuple[RemoteFile, ...] = ()
    folder: str | None = None  # user-supplied folder (datasets that cannot be bundled)
    options: dict[str, str] = field(default_factory=dict)  # option -> help


REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    REGISTRY[spec.name] = spec
    return spec


def _ensure_registered() -> None:
    for mod in ("tabular", "images", "image_features"):
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{mod}":
                raise


def names() -> list[str]:
    _ensure_registered()
    return list(REGISTRY)


def spec(name: str) -> DatasetSpec:
    _ensure_registered()
    if name not in REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def files_present(name: str, data_dir=None) -> bool:
    sp = spec(name)
    try:
        for f in sp.files:
            find_file(f, data_dir, name)
        if sp.folder:
            if not any((root / sp.folder).is_dir() for root in search_roots(data_dir)):
                return False
    except MissingDataError:
        return False
    return True


_CACHE: dict[Any, dict[str, FairDataset]] = {}
_CACHE_MAX_BYTES = 2 * 2**30  # image sets are large: keep about 2 GiB of parsed data at most


def _nbytes(splits: dict[str, FairDataset]) -> int:
    return sum(d.X.nbytes for d in splits.values())


def load_splits(name: str, data_dir=None, sensitive=None, seed: int = 0, **options) -> dict[str, FairDataset]:
    """All splits of ``name`` ({"train", "test"} and "valid" where the protocol has one)."""
    sp = spec(name)
    unknown = sorted(set(options) - set(sp.options))
    if unknown:
        raise ConfigError(f"dataset {name!r} has no option(s) {unknown}; accepted: {sorted(sp.options) or 'none'}")
    if isinstance(sensitive, str):
        sensitive = [sensitive]
    chosen = list(sensitive) if sensitive else list(sp.default_sensitive)
    bad = [a for a in chosen if a not in sp.sensitive]
    if bad:
        raise ConfigError(f"dataset {name!r} has no sensitive attribute {bad}; available: {list(sp.sensitive)}")
    key = (name, str(data_dir), int(seed), tuple(chosen), tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key not in _CACHE:
        module, fn = sp.loader.split(":")
        splits = getattr(importlib.import_module(module), fn)(data_dir=data_dir, seed=int(seed),
                                                               sensitive=chosen, **options)
        while _CACHE and sum(map(_nbytes, _CACHE.values())) + _nbytes(splits) > _CACHE_MAX_BYTES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = splits
    out = {k: v.select_sensitive(chosen) for k, v in _CACHE[key].items()}
    train = out.get("train")
    if train is not None:
        for k, axis in enumerate(chosen):
            if np.unique(train.s[:, k]).size < 2:
                raise DataError(f"sensitive attribute {axis!r} of {name!r} has a single value in the training split "
                                f"(every other group is empty); choose another of {list(sp.sensitive)}")
    return out


def load(name: str, split: str = "train", data_dir=None, sensitive=None, seed: int = 0, **options) -> FairDataset:
    """One split of dataset ``name`` as a FairDataset (see ``names()`` and ``fairdistill datasets``)."""
    splits = load_splits(name, data_dir=data_dir, sensitive=sensitive, seed=seed, **options)
    if split not in splits:
        raise ConfigError(f"dataset {name!r} has no split {split!r}; available: {sorted(splits)}")
    return splits[split]


__all__ = ["DatasetSpec", "REGISTRY", "RemoteFile", "files_present", "load", "load_splits", "names", "register",
           "spec"]
