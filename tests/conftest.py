"""Shared test set-up: real data from ../shared/data unless FAIRDISTILL_DATA says otherwise; one torch thread."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
os.environ.setdefault("FAIRDISTILL_DATA", str(SHARED_DATA))
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

from fairdistill.progress import set_quiet  # noqa: E402

set_quiet(True)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["FAIRDISTILL_DATA"]).resolve()  # absolute: tests change folders and make symlinks
    if not (path / "adult" / "adult.data").exists():
        pytest.fail(f"real benchmark data not found at {path}; set FAIRDISTILL_DATA to the shared data folder")
    return path
