"""Your own table as a fair dataset: ``from_frame(df, target=..., sensitive=[...])`` in Python, and the ``csv``
dataset on the command line (``--dataset csv --data-option path=FILE --data-option target=COL --sensitive COL``).

The table goes through the same split and encoding as the bundled tabular sets (``tabular.Table``): rows with a
missing target or sensitive value are dropped (and counted in the log); each sensitive column becomes one axis whose
codes index its distinct values in sorted order, and is removed from X; the other columns are numeric (z-scored with
training statistics, missing values filled with the training median) when pandas reads them as numbers and not listed
in ``categorical``, else categorical (one-hot, a missing value is its own category). The target is binary: ``y = 1``
where it equals ``positive`` (as text); with ``positive`` not given the target must have exactly two values, and the
second in sorted order is the positive class.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..dataset import FairDataset
from ..errors import ConfigError, DataError, MissingDataError
from ..methods.base import Param
from ..progress import log
from . import DatasetSpec, register
from .tabular import PROTOCOLS, Axis, Table, _build

MAX_VALUES = 20  # distinct values a sensitive column may have (more is almost surely a numeric column)


def _absolute(path) -> str:
    """A file name as an absolute path, so that a run folder can find the file again from any folder."""
    return str(Path(str(path)).expanduser().resolve()) if str(path) else ""


def _file_state(options) -> tuple | None:
    """(size, modification time) of the csv file: a changed file is read again, not served from the cache."""
    try:
        st = Path(options["path"]).stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _category_axis(col: str, values: list[str]) -> Axis:
    codes = {v: i for i, v in enumerate(values)}
    return Axis(col, lambda df, _: (df[col].astype(str).map(codes).to_numpy().astype(np.int64), list(values)))


def from_frame(df: pd.DataFrame, target: str, sensitive: str | Sequence[str], *, positive=None,
               categorical: Sequence[str] = (), protocol: str = "standard", seed: int = 0,
               name: str = "frame") -> dict[str, FairDataset]:
    """Splits ``{"train", "valid", "test"}`` of ``df`` (see the module docstring): ``protocol="standard"`` is a
    seeded 75/25 split then 10% of the rest held out for validation, stratified by (y, s); ``"intersectional"``
    60/20/20."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"from_frame expects a pandas DataFrame; got {type(df).__name__}")
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    if not sensitive:
        raise ConfigError("give at least one sensitive column (sensitive=[...], --sensitive COL)")
    if protocol not in ("standard", "intersectional"):
        raise ConfigError(f"protocol={protocol!r} is not available for your own data; use 'standard' or "
                          f"'intersectional'")
    missing = [c for c in [target, *sensitive, *categorical] if c not in df.columns]
    if missing:
        raise DataError(f"column(s) {missing} are not in the table; its columns are {list(df.columns)}")
    if target in sensitive:
        raise ConfigError(f"{target!r} is both the target and a sensitive column; give different columns")
    keep = df[[target, *sensitive]].notna().all(axis=1).to_numpy()
    if not keep.all():
        log(f"[{name}] {int((~keep).sum())} of {len(df)} rows have no target or sensitive value: dropped")
    df = df.loc[keep].reset_index(drop=True)
    labels = sorted(pd.unique(df[target].astype(str)))
    if positive is None:
        if len(labels) != 2:
            raise ConfigError(f"target {target!r} has {len(labels)} values ({labels[:6]}...); give positive=VALUE "
                              f"(--data-option positive=VALUE): the rows equal to it are the positive class")
        positive = labels[1]
    positive = str(positive)
    y = (df[target].astype(str) == positive).to_numpy().astype(np.int64)
    if y.min() == y.max():
        raise DataError(f"target {target!r}: every row is {'' if y[0] else 'not '}{positive!r}; a classifier needs "
                        f"rows of both classes (check positive=, values: {labels[:6]})")
    axes = {}
    for col in sensitive:
        values = sorted(pd.unique(df[col].astype(str)))
        if len(values) > MAX_VALUES:
            raise ConfigError(f"sensitive column {col!r} has {len(values)} distinct values (at most {MAX_VALUES}); "
                              f"bin it first (e.g. a column age>=40)")
        if len(values) < 2:
            raise DataError(f"sensitive column {col!r} has a single value ({values[0]!r}); choose a column that "
                            f"tells groups apart")
        axes[col] = _category_axis(col, values)
    features = [c for c in df.columns if c != target and c not in sensitive]
    if not features:
        raise DataError("the table has no feature column besides the target and the sensitive columns")
    numeric = [c for c in features if c not in categorical and pd.api.types.is_numeric_dtype(df[c])
               and not pd.api.types.is_bool_dtype(df[c])]
    others = [c for c in features if c not in numeric]
    for c in others:  # text categories; a missing value becomes the category "nan"
        df[c] = np.where(df[c].isna(), "nan", df[c].astype(object).astype(str))
    t = Table(name, df, y, axes, numeric, others, {}, [f"not {positive}", positive], target)
    return _build(t, sensitive, seed, protocol, {"dataset": name})


def _load_csv(data_dir, seed: int, sensitive: Sequence[str], *, path: str, target: str, positive: str | None,
              categorical: str | None, sep: str, protocol: str) -> dict[str, FairDataset]:
    """The ``csv`` dataset: ``path`` read with pandas (``sep``), then ``from_frame``."""
    if not path or not target:
        raise ConfigError("dataset 'csv' needs --data-option path=FILE and --data-option target=COLUMN")
    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingDataError(f"csv file {file} does not exist; give path=FILE (absolute, or relative to the current "
                               f"folder)")
    try:
        df = pd.read_csv(file, sep=sep)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DataError(f"csv file {file} cannot be read ({str(err).splitlines()[0]}); check sep= and the file") \
            from None
    splits = from_frame(df, target, sensitive, positive=positive,
                        categorical=[c for c in (categorical or "").split(",") if c], protocol=protocol, seed=seed,
                        name=f"csv:{file.stem}")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    for d in splits.values():
        d.meta.update({"path": str(file.resolve()), "sha256": digest})
    return splits


register(DatasetSpec(
    name="csv", modality="tabular", loader=f"{__name__}:_load_csv",
    description="your own table: a CSV file with a binary target and one or more sensitive columns",
    target="the column given as target=", sensitive=(), default_sensitive=(), sensitive_from_data=True,
    cache_token=_file_state,
    options=(
        Param("path", _absolute, "", "the CSV file (required; stored as an absolute path)"),
        Param("target", str, "", "the target column (required); binary, see positive="),
        Param("positive", str, None, "the target value that is the positive class (needed when the target has more "
              "than two values; default: the second of two in sorted order)"),
        Param("categorical", str, None, "comma-separated numeric-looking columns to one-hot encode instead"),
        Param("sep", str, ",", "the field separator"),
        Param("protocol", str, "standard", "'standard' (random 75/25 then 10% of train for validation) or "
              "'intersectional' (60/20/20)", choices=tuple(p for p in PROTOCOLS if p in ("standard",
                                                                                          "intersectional"))),
    )))
