"""Seeds: one range for every seed the library takes, and derived seeds in the form scikit-learn accepts."""
from __future__ import annotations

MAX_SEED = 2 ** 32 - 1


def seed_range(value: int) -> str | None:
    """A ``Param`` check: None for a seed in 0..2**32-1 (what every generator here accepts), else the complaint."""
    return None if 0 <= value <= MAX_SEED else f"must lie in 0..{MAX_SEED} (2**32 - 1)"


def random_state(value: int) -> int:
    """A derived seed (a seed plus an offset) as scikit-learn takes it, 0..2**32-1: ``value mod 2**32`` (so unchanged
    for every seed + offset below 2**32)."""
    return int(value) % (MAX_SEED + 1)
