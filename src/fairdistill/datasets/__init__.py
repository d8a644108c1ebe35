"""Dataset registry and the one loading entry point.

``load(name, split="train", data_dir=None, sensitive=None, seed=0, **options)`` returns a ``FairDataset``. Every
loader builds all splits at once (encoders are fitted on the training split), so ``load_splits`` is cached: asking
for "train" then "test" parses the files once. The cached arrays are shared by every caller and therefore read-only;
``build_splits`` builds a fresh, writable copy without the cache.

A dataset declares its options once, as ``Param`` objects on its ``DatasetSpec`` (name, type, default, help, choices,
check). The entry points coerce and check the given options against that declaration once, fill in the defaults, and
call the loader with every declared option as a typed keyword argument.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..dataset import FairDataset
from ..errors import ConfigError, DataError, MissingDataError, check_choice, check_members, check_name
from ..params import Param
from ..seeding import seed_range
from .files import RemoteFile, dataset_root, search_roots


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    modality: str
    #: "module:function"; function(data_dir=, seed=, sensitive=, **typed options) -> dict[split, FairDataset]
    loader: str
    description: str
    target: str
    sensitive: tuple[str, ...]  # axes available
    default_sensitive: tuple[str, ...]
    files: tuple[RemoteFile, ...] = ()
    folder: str | None = None  # user-supplied folder (datasets that cannot be bundled)
    options: tuple[Param, ...] = ()  # the loader's options; ``None`` given for one means its default
    sensitive_from_data: bool = False  # the axes are columns of the user's table (``csv``), checked by the loader
    #: for a dataset with a ``faithful`` option: whether it applies under the given typed options (None: always)
    faithful_applies: Callable[[Mapping[str, Any]], bool] | None = None
    #: what else, under the typed options, the cached splits depend on (your own file's size and time)
    cache_token: Callable[[Mapping[str, Any]], Any] | None = None

    def has_faithful_form(self, typed: Mapping[str, Any]) -> bool:
        """Whether ``faithful=True`` means something for this dataset under these typed options (``preset=paper``
        switches it on exactly then)."""
        if not any(o.name == "faithful" for o in self.options):
            return False
        return self.faithful_applies is None or self.faithful_applies(typed)

    def resolve_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every declared option by name: the given value coerced and checked, else (or when None) the default."""
        declared = {p.name: p for p in self.options}
        check_members(sorted(options), f"option(s) of dataset {self.name!r}", sorted(declared))
        out = {}
        for p in self.options:
            value = options.get(p.name)
            try:
                out[p.name] = p.default if value is None else p.coerce(value)
            except ConfigError as err:
                hint = " (true/false, yes/no or 1/0)" if p.type is bool else ""
                raise ConfigError(f"dataset {self.name!r}: {err}{hint}") from None
        return out

    def options_help(self) -> list[str]:
        """One line per option: name, type, default, accepted values and help (for listings and --help)."""
        lines = []
        for p in self.options:
            kind = p.type.__name__ if p.type in (int, float, str, bool) else "text"
            accepted = f"; one of {', '.join(map(str, p.choices))}" if p.choices is not None else ""
            lines.append(f"{p.name} ({kind}, default {p.default}{accepted}): {p.help}")
        return lines


REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add (or replace) a dataset under ``spec.name``; returns the spec."""
    REGISTRY[spec.name] = spec
    return spec


def _ensure_registered() -> None:
    for mod in ("tabular", "images", "image_features", "frame"):
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{mod}":
                raise


def names() -> list[str]:
    """Every registered dataset name (`fairdistill datasets` lists them with their presence)."""
    _ensure_registered()
    return list(REGISTRY)


def spec(name: str) -> DatasetSpec:
    """The registered description of dataset ``name`` (modality, files, options); an unknown name is a ConfigError
    naming the closest one."""
    _ensure_registered()
    check_name(name, "dataset", list(REGISTRY))
    return REGISTRY[name]


def require_files(name: str, data_dir=None):
    """The one root folder that holds every file of dataset ``name`` (None for a dataset without fixed files); a
    missing file is a MissingDataError naming it and where to get it."""
    sp = spec(name)
    return dataset_root(sp.files, data_dir, name) if sp.files else None


def files_present(name: str, data_dir=None) -> bool:
    """Whether dataset ``name``'s files (or folder) are found under the search roots (``data_dir`` when given)."""
    sp = spec(name)
    try:
        require_files(name, data_dir)
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


def _read_only(d: FairDataset) -> FairDataset:
    """Mark the arrays of ``d`` (X, y, s, weights and the arrays in meta) read-only, so that an in-place write into
    data shared through the cache fails instead of changing what every later ``load`` returns."""
    for a in (d.X, d.y, d.s, d.weights, *d.meta.values()):
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return d


#: the seed of a dataset's random split / colouring
SEED = Param("seed", int, 0, "seed of the dataset's random split / colouring (0..2**32-1)", check=seed_range)


def _resolve(name: str, sensitive, seed, options: Mapping[str, Any]) -> tuple[DatasetSpec, list[str], int,
                                                                               dict[str, Any]]:
    """The spec, the chosen sensitive axes, the seed and the typed options of one request, checked."""
    sp = spec(name)
    try:
        seed = SEED.coerce(0 if seed is None else seed)
    except ConfigError as err:
        raise ConfigError(f"dataset {name!r}: {err} (the data seed, --data-seed)") from None
    typed = sp.resolve_options(options)
    if isinstance(sensitive, str):
        sensitive = [sensitive]
    if sensitive is not None:
        if not isinstance(sensitive, Iterable) or isinstance(sensitive, bytes) or \
                not all(isinstance(a, str) for a in sensitive):
            raise ConfigError(f"dataset {name!r}: sensitive={sensitive!r} must be a list of column names, e.g. "
                              f"sensitive=['sex'] (--sensitive sex)")
        sensitive = [str(a) for a in sensitive]
    chosen = list(sensitive) if sensitive else list(sp.default_sensitive)
    if sp.sensitive_from_data and not chosen:
        raise ConfigError(f"dataset {name!r} needs its sensitive column(s): --sensitive COL [COL ...] (Python: "
                          f"sensitive=[...])")
    if not sp.sensitive_from_data:
        check_members(chosen, f"sensitive attribute(s) of dataset {name!r}", list(sp.sensitive))
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"dataset {name!r}: sensitive {chosen} names an attribute twice; give distinct names")
    return sp, chosen, seed, typed


def _call_loader(sp: DatasetSpec, data_dir, seed: int, chosen: list[str], typed: dict[str, Any]):
    """Run the loader on the one root that holds all of the dataset's files (user-supplied folders are found by the
    loader itself), so that a dataset never mixes files from two roots."""
    data_dir = require_files(sp.name, data_dir) or data_dir
    module, fn = sp.loader.split(":")
    return getattr(importlib.import_module(module), fn)(data_dir=data_dir, seed=int(seed), sensitive=chosen, **typed)


def _select(sp: DatasetSpec, splits: dict[str, FairDataset], chosen: list[str]) -> dict[str, FairDataset]:
    out = {k: v.select_sensitive(chosen) for k, v in splits.items()}
    train = out.get("train")
    if train is not None:
        for k, axis in enumerate(chosen):
            if np.unique(train.s[:, k]).size < 2:
                raise DataError(f"sensitive attribute {axis!r} of {sp.name!r} has a single value in the training "
                                f"split (every other group is empty); choose another of {list(sp.sensitive)}")
    return out


def load_splits(name: str, data_dir=None, sensitive=None, seed: int = 0, **options) -> dict[str, FairDataset]:
    """All splits of ``name`` ({"train", "test"} and "valid" where the protocol has one), cached and read-only."""
    sp, chosen, seed, typed = _resolve(name, sensitive, seed, options)
    key = (name, str(data_dir), int(seed), tuple(chosen), tuple(sorted((k, repr(v)) for k, v in typed.items())),
           sp.cache_token(typed) if sp.cache_token else None)
    if key not in _CACHE:
        splits = {k: _read_only(v) for k, v in _call_loader(sp, data_dir, seed, chosen, typed).items()}
        while _CACHE and sum(map(_nbytes, _CACHE.values())) + _nbytes(splits) > _CACHE_MAX_BYTES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = splits
    return {k: _read_only(v) for k, v in _select(sp, _CACHE[key], chosen).items()}


def build_splits(name: str, data_dir=None, sensitive=None, seed: int = 0, **options) -> dict[str, FairDataset]:
    """As ``load_splits``, but built afresh (the files are read again) and writable: no cache."""
    sp, chosen, seed, typed = _resolve(name, sensitive, seed, options)
    return _select(sp, _call_loader(sp, data_dir, seed, chosen, typed), chosen)


def load(name: str, split: str = "train", data_dir=None, sensitive=None, seed: int = 0, **options) -> FairDataset:
    """One split of dataset ``name`` as a FairDataset (see ``names()`` and ``fairdistill datasets``)."""
    splits = load_splits(name, data_dir=data_dir, sensitive=sensitive, seed=seed, **options)
    check_choice(split, "split", sorted(splits))
    return splits[split]


def __getattr__(name: str):
    """``datasets.from_frame`` (your own DataFrame as train/valid/test splits), imported on first use."""
    if name == "from_frame":
        from .frame import from_frame
        return from_frame
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DatasetSpec", "Param", "REGISTRY", "RemoteFile", "build_splits", "files_present", "from_frame", "load", "load_splits",
           "names", "register", "require_files", "spec"]
