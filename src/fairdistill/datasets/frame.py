"""Your own table as a fair dataset: ``from_frame(df, target=..., sensitive=[...])`` in Python, and the ``csv``
dataset on the command line (``--dataset csv --data-option path=FILE --data-option target=COL --sensitive COL``).

The table goes through the same split and encoding as the bundled tabular sets (``tabular.Table``): rows with a
missing target or sensitive value are dropped (and counted in the log); each sensitive column becomes one axis whose
codes index its distinct values in sorted order (numbers numerically), and is removed from X; the other columns are
numeric (z-scored with training statistics, missing or infinite values filled with the training median) when pandas
reads them as numbers and not listed in ``categorical``, else categorical (one-hot, a missing value is its own
category); date and time columns are refused (convert them to numbers first). Column names become text. The target is
binary: ``y = 1`` where it equals ``positive`` (by value for a numeric target, so positive=1 matches 1.0; as text
otherwise); with ``positive`` not given the target must have exactly two values, and the second in sorted order is
the positive class. The class names are the two values, or ``not P`` and ``P`` when the target has more.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..dataset import FairDataset
from ..errors import ConfigError, DataError, MissingDataError
from ..params import Param
from . import SEED, DatasetSpec, register
from .tabular import PROTOCOLS, Axis, Table, _build

MAX_VALUES = 20  # distinct values a sensitive column may have (more is almost surely a numeric column)


def _absolute(path) -> str:
    """A file name as an absolute path, so that a run folder can find the file again from any folder."""
    return str(Path(str(path)).expanduser().resolve()) if str(path) else ""


def _separator(sep) -> str:
    """The field separator; the two characters '\\t' (as a shell passes sep='\\t') or the word tab mean a tab."""
    return "\t" if str(sep) in ("\\t", "tab") else str(sep)


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


def _names(columns) -> list[str]:
    """One column name (text or a number) or several, as a list of text names (None: none)."""
    if columns is None:
        return []
    if isinstance(columns, (str, int, np.integer)):
        return [str(columns)]
    return [str(c) for c in columns]


def _text(v) -> str:
    """A target value as text: whole-number floats without ".0" (1.0 -> "1")."""
    return str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer() else str(v)


def _target(col: pd.Series, target: str, positive) -> tuple[np.ndarray, str, list[str]]:
    """(y, the positive value as text, the target's values as text in sorted order). A numeric target is compared
    by value (positive=1 matches 1.0), any other as text."""
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    values = col.to_numpy(dtype=np.float64) if numeric else col.astype(str).to_numpy()
    uniq = np.unique(values)
    labels = [_text(v) for v in uniq]
    if not len(values):
        raise DataError(f"the table has no rows (target {target!r} is empty); give a file or frame with data")
    if len(uniq) < 2:
        raise DataError(f"target {target!r} has the single value {labels[0]!r} on every row; a classifier needs both "
                        f"classes: give a table with both")
    if positive is None:
        if len(uniq) != 2:
            raise ConfigError(f"target {target!r} has {len(labels)} values ({labels[:6]}...); give positive=VALUE "
                              f"(--data-option positive=VALUE): the rows equal to it are the positive class")
        positive = uniq[1]
    if not numeric:
        return (values == str(positive)).astype(np.int64), str(positive), labels
    try:
        y = values == float(positive)
    except (TypeError, ValueError):  # not a number: no row equals it
        y = np.zeros(len(values), dtype=bool)
    return y.astype(np.int64), _text(float(positive)) if y.any() else str(positive), labels


def from_frame(df: pd.DataFrame, target: str, sensitive: str | Sequence[str], *, positive=None,
               categorical: str | Sequence[str] = (), protocol: str = "standard", seed: int = 0,
               name: str = "frame") -> dict[str, FairDataset]:
    """Your table as the splits ``{"train", "valid", "test"}`` (FairDatasets; ``to_frame()`` decodes one back).

    ``target``: the label column, binary; ``positive``: its positive value (needed when it has more than two values;
    default the second of two in sorted order). ``sensitive``: one column or several (intersectional groups), each
    at most 20 values, removed from X. ``categorical``: numeric-looking columns to one-hot encode instead of z-score.
    ``protocol``: "standard" (a 75/25 split, then 10% of train held out for validation, stratified by label and
    group) or "intersectional" (60/20/20). ``seed``: the split's seed. ``name``: the datasets' name in messages.

    Rows with a missing target or sensitive value are dropped (the count is logged); a missing or infinite numeric
    feature is filled with the training median, a missing category is its own category. A table too small to fill
    all three splits is refused. The encoding in full: ``help(fairdistill.datasets.frame)``.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"from_frame expects a pandas DataFrame; got {type(df).__name__}")
    seed = SEED.coerce(seed)
    df = df.rename(columns=str)  # feature names are text, whatever the column labels were
    if df.columns.duplicated().any():
        raise DataError(f"column names {sorted(set(df.columns[df.columns.duplicated()]))} occur twice (as text); "
                        f"rename them")
    target, sensitive, categorical = str(target), _names(sensitive), _names(categorical)
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
        warnings.warn(f"{name}: {int((~keep).sum())} of {len(df)} rows have no target or sensitive value and are "
                      f"dropped")
    df = df.loc[keep].reset_index(drop=True)
    y, positive, labels = _target(df[target], target, positive)
    if y.min() == y.max():
        raise DataError(f"target {target!r}: {'every' if y[0] else 'no'} row is {positive!r}; a classifier needs "
                        f"rows of both classes (check positive=, values: {labels[:6]})")
    class_names = [next(v for v in labels if v != positive), positive] if len(labels) == 2 \
        else [f"not {positive}", positive]
    axes = {}
    for col in sensitive:
        # codes in the values' own order: numbers numerically (1, 2, 10, not "1", "10", "2"), the rest as text
        raw = pd.unique(df[col])
        values = [str(v) for v in sorted(raw)] if pd.api.types.is_numeric_dtype(df[col]) else sorted(map(str, raw))
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
    dates = [c for c in features if pd.api.types.is_datetime64_any_dtype(df[c])
             or pd.api.types.is_timedelta64_dtype(df[c])]
    if dates:
        raise DataError(f"column(s) {dates} hold dates or times ({df[dates[0]].dtype}); convert them to numbers "
                        f"(e.g. a year, or days since an origin) or drop them")
    numeric = [c for c in features if c not in categorical and pd.api.types.is_numeric_dtype(df[c])
               and not pd.api.types.is_bool_dtype(df[c])]
    others = [c for c in features if c not in numeric]
    _warn_missing(df, numeric, others, name)
    for c in others:  # text categories; a missing value becomes the category "nan"
        df[c] = np.where(df[c].isna(), "nan", df[c].astype(object).astype(str))
    t = Table(name, df, y, axes, numeric, others, {}, class_names, target)
    return _build(t, sensitive, seed, protocol, {"dataset": name})


def _warn_missing(df: pd.DataFrame, numeric: list[str], others: list[str], name: str) -> None:
    """One warning naming the columns whose missing values the encoding fills: numeric NaN / ±inf -> the training
    median, a missing category -> the category "nan"."""
    gaps = {c: int((~np.isfinite(df[c].to_numpy(dtype=float, na_value=np.nan))).sum()) for c in numeric}
    gaps.update({c: int(df[c].isna().sum()) for c in others})
    num = {c: k for c, k in gaps.items() if k and c in numeric}
    cat = {c: k for c, k in gaps.items() if k and c not in numeric}
    said = ([f"missing or infinite numbers {num} are filled with the training median"] if num else []) + \
           ([f"missing categories {cat} become the category 'nan'"] if cat else [])
    if said:
        warnings.warn(f"{name}: " + "; ".join(said) + " (column: count; clean the table first to decide otherwise)")


def _load_csv(data_dir, seed: int, sensitive: Sequence[str], *, path: str, target: str, positive: str | None,
              categorical: str | None, sep: str, protocol: str) -> dict[str, FairDataset]:
    """The ``csv`` dataset: ``path`` read with pandas (``sep``), then ``from_frame``."""
    if not path or not target:
        raise ConfigError("dataset 'csv' needs --data-option path=FILE and --data-option target=COLUMN")
    file = Path(path).expanduser()
    if file.is_dir():
        raise ConfigError(f"csv path {file} is a folder; give path=FILE, the csv file itself")
    if not file.is_file():
        raise MissingDataError(f"csv file {file} does not exist; give path=FILE (absolute, or relative to the current "
                               f"folder)")
    raw = file.read_bytes()  # read once: parsed here, hashed below
    try:
        df = pd.read_csv(io.BytesIO(raw), sep=sep)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DataError(f"csv file {file} cannot be read ({str(err).splitlines()[0]}); check sep= and the file") \
            from None
    other = [c for c in ";\t|," if c != sep and c in str(df.columns[0])] if len(df.columns) == 1 else []
    if other:
        raise DataError(f"csv file {file} reads as one column ({str(df.columns[0])[:60]!r}) with sep={sep!r}; its "
                        f"separator looks like {other[0]!r}: give --data-option sep={other[0]!r}")
    splits = from_frame(df, target, sensitive, positive=positive,
                        categorical=[c for c in (categorical or "").split(",") if c], protocol=protocol, seed=seed,
                        name=f"csv:{file.stem}")
    digest = hashlib.sha256(raw).hexdigest()
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
        Param("sep", _separator, ",", "the field separator ('\\t' or tab for a tab)"),
        Param("protocol", str, "standard", "'standard' (random 75/25 then 10% of train for validation) or "
              "'intersectional' (60/20/20)", choices=tuple(p for p in PROTOCOLS if p in ("standard",
                                                                                          "intersectional"))),
    )))
