"""Intersectional groups, their parents and the label-conditioned cells the generators sample from.

With p sensitive axes (binary or categorical), a group is a tuple g = (a_1..a_p) present in the training split.
Parent i of g, written g\\i, keeps every axis except i (wildcard ``ANY`` on axis i): it holds g and its siblings along
axis i, so |g\\i| >= |g| and every group has exactly p parents. A *pattern* is a tuple whose entries are axis codes or
``ANY``; a *cell* is (pattern, label k): the training rows matching the pattern with y = k.

Empty cells [project]: if the parent cell (g\\i, k) has no rows, the level-2 ancestors that also drop one more axis
(g\\{i,j}, j != i) are tried, the smallest non-empty one first (ties broken by axis order); then level 3, and so on up
to the all-wildcard pattern (every row of label k). The reference code feeds zero vectors instead; we never do.
An empty *target* cell (g, k) simply has no target term in the loss (see ``training``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Sequence

import numpy as np

from ...errors import ConfigError, DataError

ANY = None  # wildcard entry of a pattern

Pattern = tuple  # tuple of int | None


def parent_patterns(group: Sequence[int]) -> list[Pattern]:
    """The p parents of ``group``: drop axis i (replace it by ``ANY``), i = 0..p-1."""
    g = tuple(int(v) for v in group)
    return [g[:i] + (ANY,) + g[i + 1:] for i in range(len(g))]


def ancestor_patterns(group: Sequence[int], keep_dropped: Sequence[int], level: int) -> list[Pattern]:
    """Ancestors of ``group`` that drop the axes ``keep_dropped`` plus ``level - len(keep_dropped)`` more axes."""
    g = tuple(int(v) for v in group)
    others = [a for a in range(len(g)) if a not in keep_dropped]
    out = []
    for extra in combinations(others, level - len(keep_dropped)):
        drop = set(keep_dropped) | set(extra)
        out.append(tuple(ANY if a in drop else v for a, v in enumerate(g)))
    return out


def matches(s: np.ndarray, pattern: Pattern) -> np.ndarray:
    """Boolean mask of the rows of ``s`` (N x p) that agree with ``pattern`` on every non-wildcard axis."""
    mask = np.ones(len(s), dtype=bool)
    for a, v in enumerate(pattern):
        if v is not ANY:
            mask &= s[:, a] == v
    return mask


@dataclass
class GroupHierarchy:
    """Groups present in ``s`` (N x p), their parents, and cached row indices of every (pattern, label) cell."""

    s: np.ndarray
    y: np.ndarray
    labels: tuple[int, ...] = (0, 1)
    max_groups: int | None = None
    groups: list[tuple[int, ...]] = field(init=False)
    fallbacks: list[dict] = field(init=False, default_factory=list)

    def __post_init__(self):
        self.s = np.asarray(self.s, dtype=np.int64)
        if self.s.ndim == 1:
            self.s = self.s[:, None]
        self.y = np.asarray(self.y, dtype=np.int64)
        if len(self.s) != len(self.y):
            raise DataError(f"s has {len(self.s)} rows but y has {len(self.y)}; give one label per row")
        if self.s.shape[1] < 2:
            raise ConfigError(f"hierarchical augmentation needs >= 2 sensitive axes to form parents; got "
                              f"{self.s.shape[1]}; give >= 2 axes or use equal-sampling")
        if len(self.s) and self.s.min() < 0:
            raise DataError("sensitive codes must be >= 0 for hierarchical augmentation (found -1 = unassigned)")
        uniq = np.unique(self.s, axis=0) if len(self.s) else np.zeros((0, self.s.shape[1]), np.int64)
        self.groups = [tuple(int(v) for v in row) for row in uniq]
        if self.max_groups is not None and len(self.groups) > self.max_groups:
            card = [len(np.unique(self.s[:, a])) for a in range(self.p)]
            raise ConfigError(f"{len(self.groups)} intersectional groups (axis sizes {card}) exceed "
                              f"max_groups={self.max_groups}; coarsen or drop an axis, or raise max_groups "
                              f"(--max-groups)")
        self._cache: dict[tuple[Pattern, int], np.ndarray] = {}
        self._parents: dict[tuple[tuple[int, ...], int], list[tuple[Pattern, np.ndarray]]] = {}

    @property
    def p(self) -> int:
        return int(self.s.shape[1])

    def cell(self, pattern: Pattern, label: int) -> np.ndarray:
        """Row indices of the cell (pattern, label) (cached)."""
        key = (tuple(pattern), int(label))
        if key not in self._cache:
            self._cache[key] = np.flatnonzero(matches(self.s, pattern) & (self.y == label))
        return self._cache[key]

    def target(self, group: Sequence[int], label: int) -> np.ndarray:
        return self.cell(tuple(group), label)

    def parents(self, group: Sequence[int], label: int) -> list[tuple[Pattern, np.ndarray]]:
        """For each axis i, the cell (g\\i, label), replaced by the nearest non-empty ancestor when empty.

        Returns p (pattern, row indices) pairs (cached); raises DataError when label has no rows at all.
        """
        key = (tuple(int(v) for v in group), int(label))
        if key in self._parents:
            return self._parents[key]
        out = []
        for i, pat in enumerate(parent_patterns(group)):
            idx = self.cell(pat, label)
            level = 1
            while len(idx) == 0 and level < self.p:
                level += 1
                cands = [(len(self.cell(q, label)), q) for q in ancestor_patterns(group, [i], level)]
                cands = [c for c in cands if c[0] > 0]
                if cands:
                    pat = min(cands, key=lambda c: c[0])[1]
                    idx = self.cell(pat, label)
            if len(idx) == 0:
                raise DataError(f"label {label} has no training rows; every label needs rows to augment")
            if level > 1:
                self.fallbacks.append({"group": list(group), "label": int(label), "axis": i,
                                       "ancestor": [None if v is ANY else int(v) for v in pat], "level": level})
            out.append((pat, idx))
        self._parents[key] = out
        return out
