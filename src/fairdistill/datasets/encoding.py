"""Tabular feature encoding fitted on a training DataFrame, invertible, stored as JSON.

Numeric column ``c``: ``x = (v - mean_c) / std_c`` with training mean/std (std 0 -> 1; NaN or ±inf -> training median);
decoding inverts it, rounding to whole numbers where every training value was whole (ages, counts).
Categorical column: one-hot over the categories seen in training (values compared as strings; a missing "?" is a
category like any other; an unseen value encodes as an all-zero block). Binned numeric column: the value (optionally
``log``-transformed) is mapped to the right-closed interval ``(e_{i}, e_{i+1}]`` of its edges (values beyond the outer
edges go to the outer bins), then one-hot like a categorical column; it decodes to the bin midpoint (back-transformed).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, check_choice

_FORMAT = 1


@dataclass
class Column:
    """One original column: how it is encoded and the statistics fitted on train."""

    name: str
    kind: str  # "numeric" | "categorical" | "binned"
    mean: float = 0.0
    std: float = 1.0
    fill: float = 0.0  # training median, used for missing numeric values
    categories: list[str] | None = None  # categorical: sorted training values; binned: interval labels
    edges: list[float] | None = None  # binned: B + 1 increasing edges (in the transformed scale)
    log: bool = False  # binned: edges apply to log(value)
    integer: bool = False  # numeric: every training value is a whole number (decoded values are rounded)

    @property
    def width(self) -> int:
        return 1 if self.kind == "numeric" else len(self.categories)

    def bin_codes(self, v: np.ndarray) -> np.ndarray:
        t = np.log(np.maximum(v, 1e-300)) if self.log else v
        return np.searchsorted(np.asarray(self.edges[1:-1]), t, side="left")

    def midpoints(self) -> np.ndarray:
        e = np.asarray(self.edges, dtype=np.float64)
        mid = (e[:-1] + e[1:]) / 2
        return np.exp(mid) if self.log else mid


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Interval labels "(a, b]" of right-closed bins (the first one closed on the left too)."""
    e = list(edges)
    return [("[" if i == 0 else "(") + f"{_fmt(e[i])}, {_fmt(e[i + 1])}]" for i in range(len(e) - 1)]


def equal_width_edges(values, n_bins: int, log: bool = False) -> list[float]:
    """``n_bins`` equal-width bins over [min, max] of ``values`` (of log(values) when ``log``), as ``pandas.cut``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if log:
        v = np.log(np.maximum(v, 1e-300))
    lo, hi = float(v.min()), float(v.max())
    if hi == lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, n_bins + 1).tolist()


def threshold_edges(values, threshold: float) -> list[float]:
    """Two bins ``v <= threshold`` and ``v > threshold``, outer edges at the data range."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    lo, hi = float(min(v.min(), threshold)), float(max(v.max(), threshold))
    if hi == threshold:
        hi = threshold + 1.0
    return [lo, float(threshold), hi]


class TabularEncoder:
    """Encode a DataFrame to a float32 matrix and decode it back.

    ``fit(df, numeric=[...], categorical=[...], binned={col: edges or {"edges": [...], "log": bool}})``; the
    column order in X follows the order given: numerics, then categoricals, then binned columns.
    """

    def __init__(self, columns: list[Column] | None = None):
        self.columns: list[Column] = list(columns or [])

    # ----------------------------------------------------------------- fitting
    def fit(self, df: pd.DataFrame, numeric: Sequence[str] = (), categorical: Sequence[str] = (),
            binned: dict[str, Any] | None = None) -> "TabularEncoder":
        binned = dict(binned or {})
        names = list(numeric) + list(categorical) + list(binned)
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise DataError(f"columns {missing} are not in the table; available: {list(df.columns)}")
        if len(set(names)) != len(names):
            raise ConfigError(f"a column is listed twice among numeric/categorical/binned: {names}")
        cols = []
        for c in numeric:
            v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)
            ok = v[np.isfinite(v)]
            if len(ok) == 0:
                raise DataError(f"numeric column {c!r} has no finite training value; drop it or mark it categorical")
            std = float(ok.std())
            cols.append(Column(c, "numeric", mean=float(ok.mean()), std=std if std > 0 else 1.0,
                               fill=float(np.median(ok)), integer=bool(np.all(ok == np.round(ok)))))
        for c in categorical:
            cats = sorted(pd.unique(df[c].astype(str)))
            cols.append(Column(c, "categorical", categories=list(cats)))
        for c, spec in binned.items():
            spec = {"edges": spec} if not isinstance(spec, dict) else spec
            edges = [float(e) for e in spec["edges"]]
            if len(edges) < 2 or np.any(np.diff(edges) < 0):
                raise ConfigError(f"bin edges of {c!r} must be >= 2 increasing numbers; got {edges}")
            cols.append(Column(c, "binned", edges=edges, log=bool(spec.get("log", False)),
                               categories=bin_labels(np.exp(edges) if spec.get("log") else edges)))
        self.columns = cols
        return self

    # ---------------------------------------------------------------- layout
    @property
    def n_features(self) -> int:
        return sum(c.width for c in self.columns)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def feature_names(self) -> list[str]:
        out = []
        for c in self.columns:
            out += [c.name] if c.kind == "numeric" else [f"{c.name}={v}" for v in c.categories]
        return out

    @property
    def blocks(self) -> list[tuple[str, str, slice, list[str] | None]]:
        """(column, "numeric" | "categorical", slice of X, categories or None) per original column."""
        out, pos = [], 0
        for c in self.columns:
            kind = "numeric" if c.kind == "numeric" else "categorical"
            out.append((c.name, kind, slice(pos, pos + c.width), None if kind == "numeric" else list(c.categories)))
            pos += c.width
        return out

    # ------------------------------------------------------------- transform
    def transform(self, df: pd.DataFrame) -> np.ndarray:
        missing = [c.name for c in self.columns if c.name not in df.columns]
        if missing:
            raise DataError(f"columns {missing} are missing from the table to encode")
        out = np.zeros((len(df), self.n_features), dtype=np.float32)
        for (name, _, sl, _), c in zip(self.blocks, self.columns):
            if c.kind == "numeric":
                v = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
                v = np.where(np.isfinite(v), v, c.fill)
                out[:, sl.start] = (v - c.mean) / c.std
                continue
            if c.kind == "categorical":
                lookup = {v: i for i, v in enumerate(c.categories)}
                codes = df[name].astype(str).map(lookup).to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                v = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
                codes = np.where(np.isfinite(v), c.bin_codes(np.nan_to_num(v)), np.nan)
            rows = np.flatnonzero(np.isfinite(codes))
            out[rows, sl.start + codes[rows].astype(np.int64)] = 1.0
        return out

    def fit_transform(self, df: pd.DataFrame, **kw) -> np.ndarray:
        return self.fit(df, **kw).transform(df)

    def decode(self, X: np.ndarray, binned: str = "midpoint") -> pd.DataFrame:
        """Original columns from encoded rows: numerics un-standardised (rounded for integer columns; never -0.0);
        binned columns -> bin midpoint (``binned="label"``: the interval label).

        A one-hot block (categorical or binned) decodes to the category of its largest entry, the first on ties, and
        only an all-zero block (no category to pick, e.g. a coordinate-wise median centre) decodes to blank (None/NaN).
        """
        check_choice(binned, "binned", ("midpoint", "label"))
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DataError(f"X has shape {X.shape}; the encoder needs N x {self.n_features}")
        data = {}
        for (name, _, sl, _), c in zip(self.blocks, self.columns):
            if c.kind == "numeric":
                v = X[:, sl.start] * c.std + c.mean
                data[name] = (np.round(v) if c.integer else v) + 0.0  # + 0.0 turns -0.0 into 0.0
                continue
            block = X[:, sl]
            code = block.argmax(axis=1)  # the first largest entry
            empty = ~np.any(block != 0, axis=1)  # all-zero: blank
            if c.kind == "binned" and binned == "midpoint":
                data[name] = np.where(empty, np.nan, c.midpoints()[code]) + 0.0
            else:
                vals = np.asarray(c.categories, dtype=object)[code]
                vals[empty] = None
                data[name] = vals
        return pd.DataFrame(data, columns=self.column_names)

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "columns": [
            {k: v for k, v in vars(c).items() if v is not None} for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TabularEncoder":
        if d.get("format") != _FORMAT or "columns" not in d:
            raise DataError(f"encoder description has format {d.get('format')!r}; this version reads {_FORMAT}")
        return cls([Column(**c) for c in d["columns"]])

    def __eq__(self, other) -> bool:
        return isinstance(other, TabularEncoder) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        kinds = {k: sum(c.kind == k for c in self.columns) for k in ("numeric", "categorical", "binned")}
        return f"TabularEncoder({len(self.columns)} columns {kinds}, {self.n_features} features)"
