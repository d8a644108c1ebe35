"""The two data containers every method shares.

``FairDataset`` holds real rows (tabular) or images; ``SyntheticSet`` holds what a method produced, always with
weights and provenance. Both are plain NumPy containers; methods convert to torch where they need it.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Sequence

import numpy as np

from .errors import DataError, check_choice, check_members

UNASSIGNED = -1  # s value of a synthetic sample whose group is meaningless (distilled images)


def _numeric(X, name: str) -> np.ndarray:
    """``X`` as float32; text, dates and objects that are not numbers (None too) are DataErrors."""
    if X is None:
        raise DataError(f"{name}: X is None; give the feature matrix (N x features, or N x C x H x W for images)")
    X = np.asarray(X)
    if X.dtype == np.float32:
        return X
    try:
        if X.dtype.kind not in "biufO":
            raise ValueError(X.dtype)
        return X.astype(np.float32)
    except (TypeError, ValueError):
        raise DataError(f"{name}: X has dtype {X.dtype}, not numbers; encode the features first, e.g. build the "
                        f"dataset from a raw table with fairdistill.datasets.from_frame") from None


def integer_valued(a, what: str, text_fix: str, fraction_fix: str) -> np.ndarray:
    """``a`` as int64 when every value is a whole number (ints, bools, or floats such as 1.0); otherwise a DataError
    naming the first offending value: "WHAT holds non-numeric values (e.g. 'x'...): TEXT_FIX" for text, None and
    other objects, "WHAT holds non-integer values (e.g. 0.374): FRACTION_FIX" for fractions, NaN and infinities."""
    arr = np.asarray(a)
    if arr.dtype.kind in "biu":
        return arr.astype(np.int64, copy=False)
    flat = arr.reshape(-1)
    if arr.dtype.kind != "f":
        eg = next((v for v in flat.tolist() if not isinstance(v, numbers.Real)), flat)  # tolist: Python scalars
        if eg is not flat:
            raise DataError(f"{what} holds non-numeric values (e.g. {eg!r}, dtype {arr.dtype}): {text_fix}")
    f = flat.astype(np.float64)
    bad = ~np.isfinite(f) | (f != np.round(f))
    if bad.any():
        raise DataError(f"{what} holds non-integer values (e.g. {f[bad][0]:.4g}): {fraction_fix}")
    return f.astype(np.int64).reshape(arr.shape)


def _integer_codes(a, field_name: str, name: str) -> np.ndarray:
    """``y`` or ``s`` of a dataset as int64 codes (``integer_valued``)."""
    what = "labels" if field_name == "y" else "sensitive values"
    return integer_valued(a, f"{name}: {field_name}", f"{what} are integer codes 0..k-1: build the dataset from a "
                          "raw table with fairdistill.datasets.from_frame",
                          f"{what} are integer codes 0..k-1 (whole-number floats such as 1.0 are fine)")


@dataclass(repr=False)
class FairDataset:
    """Features ``X``, integer target ``y``, sensitive attributes ``s`` (N x k, one column per named axis).

    ``y`` holds class codes 0..K-1; without ``n_classes`` every code up to the largest must occur (labels {1, 2}
    are refused, not read as three classes), so give ``n_classes`` for a set that truly lacks a class.

    ``X`` is 2-D (tabular, encoded) or N x C x H x W (images, normalised). ``s`` columns are integer codes whose
    meaning is ``sensitive_values[axis][code]``. ``meta`` carries what is needed to decode rows (the tabular
    ``encoder``), image normalisation (``mean``/``std``), and the dataset's provenance.
    """

    X: np.ndarray
    y: np.ndarray
    s: np.ndarray
    sensitive_names: list[str]
    name: str = "data"
    modality: str = "tabular"  # "tabular" | "image"
    n_classes: int | None = None
    class_names: list[str] | None = None
    sensitive_values: list[list[str]] | None = None
    feature_names: list[str] | None = None
    weights: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    #: the smallest sensitive code accepted (a SyntheticSet also accepts UNASSIGNED)
    min_code: ClassVar[int] = 0

    def __post_init__(self):
        self.X = _numeric(self.X, self.name)
        self.y = _integer_codes(self.y, "y", self.name)
        s = _integer_codes(self.s, "s", self.name)
        self.s = s[:, None] if s.ndim == 1 else s
        self.sensitive_names = [str(n) for n in self.sensitive_names]
        if self.weights is not None:
            self.weights = np.asarray(self.weights, dtype=np.float64)
        if self.n_classes is None:  # guessed from the labels, which must then be the codes 0..K-1, none missing
            present = np.unique(self.y)
            if len(present) and present[0] >= 0 and not np.array_equal(present, np.arange(present[-1] + 1)):
                missing = sorted(set(range(int(present[-1]) + 1)) - set(present.tolist()))
                raise DataError(f"{self.name}: labels {present.tolist()[:6]} are not the codes 0..K-1 (class(es) "
                                f"{missing[:6]} absent); recode them (np.unique(y, return_inverse=True)[1]), or give "
                                f"n_classes when a class is truly absent")
            self.n_classes = int(present[-1]) + 1 if len(present) else 0
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        n = len(self.X)
        check_choice(self.modality, "modality", ("tabular", "image"), error=DataError)
        want = 2 if self.modality == "tabular" else 4
        if self.X.ndim != want:
            raise DataError(
                f"{self.name}: X has shape {self.X.shape}; {self.modality} data needs a {want}-D array"
                + (" (N x features)" if want == 2 else " (N x C x H x W)"))
        if self.y.shape != (n,):
            raise DataError(f"{self.name}: y has shape {self.y.shape}; expected ({n},) to match X")
        if self.s.shape[0] != n:
            raise DataError(f"{self.name}: s has {self.s.shape[0]} rows; expected {n} to match X")
        if self.s.size and self.s.min() < self.min_code:
            raise DataError(f"{self.name}: s holds the negative code {int(self.s.min())}; sensitive codes are 0..k-1 "
                            f"(k values per axis{', or -1 = unassigned' if self.min_code < 0 else ''}): code the axes "
                            f"so, or build the dataset from a raw table with fairdistill.datasets.from_frame")
        if self.s.shape[1] != len(self.sensitive_names):
            raise DataError(f"{self.name}: s has {self.s.shape[1]} columns but {len(self.sensitive_names)} "
                            f"sensitive_names {self.sensitive_names}; give one name per column")
        if self.weights is not None:
            if self.weights.shape != (n,):
                raise DataError(f"{self.name}: weights has shape {self.weights.shape}; expected ({n},)")
            if not np.all(np.isfinite(self.weights)) or np.any(self.weights < 0):
                raise DataError(f"{self.name}: weights must be finite and >= 0")
        if n and not np.all(np.isfinite(self.X)):
            bad = int(np.count_nonzero((~np.isfinite(self.X.reshape(n, -1))).any(axis=1)))  # rows with any
            raise DataError(f"{self.name}: X has NaN or infinite values in {bad} rows; impute or drop them first")
        if n and (self.y.min() < 0 or self.y.max() >= self.n_classes):
            raise DataError(f"{self.name}: labels must lie in 0..{self.n_classes - 1}; got "
                            f"{int(self.y.min())}..{int(self.y.max())}")

    # --------------------------------------------------------------- accessors
    def __len__(self) -> int:
        return len(self.X)

    def __repr__(self) -> str:
        """A one-line summary (the arrays are in X, y, s, w)."""
        return (f"{type(self).__name__}({self.name!r}, {self.modality}, X {self.X.shape}, {self.n_classes} classes, "
                f"sensitive {self.sensitive_names})")

    def fingerprint(self) -> str:
        """A short hash (BLAKE2b) of the rows: X, y, s and the weights. Equal rows in equal order give equal
        fingerprints; checkpoints compare them so that a fit cannot resume on other data."""
        import hashlib
        h = hashlib.blake2b(digest_size=12)
        for a in (self.X, self.y, self.s, self.w):
            a = np.ascontiguousarray(a)
            h.update(str((a.dtype, a.shape)).encode())
            h.update(a)  # the buffer itself, no copy
        return h.hexdigest()

    @property
    def w(self) -> np.ndarray:
        """Per-row weights (ones when none were given)."""
        return np.ones(len(self)) if self.weights is None else self.weights

    @property
    def n_features(self) -> int:
        return int(np.prod(self.X.shape[1:]))

    def subset(self, idx: np.ndarray | Sequence[int]) -> "FairDataset":
        idx = np.asarray(idx)
        return replace(self, X=self.X[idx], y=self.y[idx], s=self.s[idx],
                       weights=None if self.weights is None else self.weights[idx])

    def to_frame(self):
        """The rows as a pandas DataFrame in the original columns (tabular data): decoded features (a coreset point's
        one-hot block decodes to its largest entry), the sensitive columns and the target by name, ``weight``, and for a
        SyntheticSet ``origin`` ("real" / "synthetic"). This is ``synthetic.csv`` of a run folder."""
        import pandas as pd
        if self.modality != "tabular":
            raise DataError(f"to_frame is for tabular data; {self.name} is {self.modality}: its rows are the arrays X")
        enc = self.meta.get("encoder")
        df = enc.decode(self.X) if enc is not None and hasattr(enc, "decode") else pd.DataFrame(
            self.X, columns=self.feature_names or [f"x{i}" for i in range(self.X.shape[1])])
        for k, name in enumerate(self.sensitive_names):
            vals = self.sensitive_values[k] if self.sensitive_values else None
            df[name] = [("" if c < 0 else vals[c]) if vals and c < len(vals) else int(c) for c in self.s[:, k]]
        df[self.meta.get("target_name", "target")] = [self.class_names[c] for c in self.y] if self.class_names \
            else self.y
        df["weight"] = self.w
        origin = getattr(self, "origin", None)
        if origin is not None:
            df["origin"] = np.where(origin == 1, "synthetic", "real")
        return df

    def select_sensitive(self, names: Sequence[str] | None) -> "FairDataset":
        """Keep only the named sensitive axes (in the given order); X, y, weights and the meta values are shared."""
        if names is None:
            return self
        check_members(names, f"sensitive attribute(s) of {self.name}", self.sensitive_names, error=DataError)
        cols = [self.sensitive_names.index(n) for n in names]
        vals = None if self.sensitive_values is None else [self.sensitive_values[c] for c in cols]
        return replace(self, s=self.s[:, cols], sensitive_names=list(names), sensitive_values=vals,
                       meta=dict(self.meta))

    def groups(self, axes: str | Sequence[str] = "joint") -> tuple[np.ndarray, list[tuple[int, ...]]]:
        """Group id per row and the sorted list of group tuples present.

        ``axes="joint"`` (default) uses every sensitive axis (intersectional groups); ``"single:<name>"`` or a list of
        names uses those axes only.
        """
        return group_ids(self.s, select_axes(self.sensitive_names, axes))


@dataclass(repr=False)
class SyntheticSet(FairDataset):
    """A method's output: the FairDataset fields, ``weights`` always set, plus ``origin`` and ``provenance``.

    ``origin`` is 1 for a generated row and 0 for a kept real row; ``s`` may hold ``UNASSIGNED`` (-1) where a
    sample has no meaningful group (distilled images).
    """

    origin: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    min_code: ClassVar[int] = UNASSIGNED  # generated rows of some methods have no group on some (or all) axes

    def __post_init__(self):
        if self.weights is None:
            self.weights = np.ones(len(np.asarray(self.X)))
        if self.origin is None:
            self.origin = np.ones(len(np.asarray(self.X)), dtype=np.int8)
        self.origin = np.asarray(self.origin, dtype=np.int8)
        super().__post_init__()

    def subset(self, idx):
        out = super().subset(idx)
        out.origin = self.origin[np.asarray(idx)]
        return out

    @classmethod
    def from_dataset(cls, data: FairDataset, *, X=None, y=None, s=None, weights=None, origin=None,
                     provenance=None, name=None) -> "SyntheticSet":
        """A SyntheticSet that shares ``data``'s metadata (names, decoder) with new rows."""
        return cls(
            X=data.X if X is None else X, y=data.y if y is None else y, s=data.s if s is None else s,
            sensitive_names=list(data.sensitive_names), name=name or data.name, modality=data.modality,
            n_classes=data.n_classes, class_names=data.class_names, sensitive_values=data.sensitive_values,
            feature_names=data.feature_names, weights=weights, meta=dict(data.meta), origin=origin,
            provenance=dict(provenance or {}))


def select_axes(names: Sequence[str], axes: str | Sequence[str]) -> list[int]:
    """Column indices of the sensitive axes named by ``axes`` ("joint", "single:<name>", or a list of names)."""
    if isinstance(axes, str):
        if axes == "joint":
            return list(range(len(names)))
        if axes.startswith("single:"):
            axes = [axes.split(":", 1)[1]]
        else:
            axes = [axes]
    out = []
    for a in axes:
        if a not in names:
            raise DataError(f"unknown sensitive axis {a!r}; available: {list(names)} (or 'joint')")
        out.append(list(names).index(a))
    return out


def value_names(codes: Sequence[int], values: list[list[str]] | None) -> list[str | int]:
    """A group's code on each sensitive axis as the value's name (``values[k]``, a dataset's ``sensitive_values``),
    the code itself where there is no name."""
    return [values[k][c] if values and 0 <= c < len(values[k]) else int(c) for k, c in enumerate(codes)]


def group_ids(s: np.ndarray, cols: Sequence[int] | None = None) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Map each row of ``s[:, cols]`` to the index of its tuple in the sorted list of tuples present."""
    s = np.asarray(s)
    if s.ndim == 1:
        s = s[:, None]
    if cols is not None:
        s = s[:, list(cols)]
    if len(s) == 0:
        return np.zeros(0, dtype=np.int64), []
    uniq, inv = np.unique(s, axis=0, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), [tuple(int(v) for v in row) for row in uniq]
