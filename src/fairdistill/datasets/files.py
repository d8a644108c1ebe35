"""Where dataset files are found, and how a missing one is reported.

Where to look: only the ``data_dir`` argument when it is given (a wrong folder is an error, never silently replaced);
otherwise ``$FAIRDISTILL_DATA``, then the user cache (``$XDG_CACHE_HOME/fairdistill`` or ``~/.cache/fairdistill``).
Each dataset lives in its own sub-folder, and all files of one dataset are read from one root (``dataset_root``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import MissingDataError


@dataclass(frozen=True)
class RemoteFile:
    """A file a dataset needs: path relative to the data root, canonical address and checksum (hex)."""

    path: str
    url: str | None = None
    sha256: str | None = None
    md5_raw: str | None = None  # MD5 of the decompressed content (for recompressed .gz files)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fairdistill"


def search_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The roots searched, in order: ``[data_dir]`` alone when given, else ``$FAIRDISTILL_DATA`` and the cache."""
    if data_dir is not None:
        return [Path(data_dir)]
    env = os.environ.get("FAIRDISTILL_DATA")
    return ([Path(env)] if env else []) + [cache_dir()]


def _looked_in(roots: list[Path], data_dir) -> str:
    """Where the search went, for an error message (with why an explicit ``data_dir`` cannot hold anything)."""
    if data_dir is None:
        return f"looked in {', '.join(map(str, roots))}"
    root = roots[0]
    why = " (no such folder)" if not root.exists() else " (a file, not a folder)" if not root.is_dir() else ""
    return f"looked only in data_dir (--data-dir) {root}{why}"


def _remedy(data_dir) -> str:
    return ("or fix data_dir / --data-dir (leave it out to search $FAIRDISTILL_DATA and the cache)"
            if data_dir is not None else "or pass data_dir / --data-dir, or set FAIRDISTILL_DATA")


def dataset_root(files, data_dir=None, dataset: str | None = None) -> Path:
    """The one search root that holds every file in ``files`` (RemoteFile or relative path): ``data_dir`` when it is
    given, else the first of ``$FAIRDISTILL_DATA`` and the cache that has them all; MissingDataError otherwise, naming
    the first file missing from the root that holds the most of them."""
    files = [f if isinstance(f, RemoteFile) else RemoteFile(str(f)) for f in files]
    roots = search_roots(data_dir)
    have = [[(root / f.path).is_file() for f in files] for root in roots]
    for root, ok in zip(roots, have):
        if all(ok):
            return root
    best = max(range(len(roots)), key=lambda i: sum(have[i]))  # the first on ties
    f = files[have[best].index(False)]
    fetch = f"; download it from {f.url}" if f.url else ""
    hint = ""
    if dataset and f.url and (data_dir is None or not roots[0].exists() or roots[0].is_dir()):
        hint = f" (or run `fairdistill download {dataset}" + (f" --data-dir {data_dir}`)" if data_dir is not None
                                                              else "`)")
    split = (" (all files of a dataset must be in one of these folders)" if data_dir is None and any(
        (r / f.path).is_file() for r in roots) else "")
    raise MissingDataError(f"missing file {f.path!r}{' for dataset ' + dataset if dataset else ''}: "
                           f"{_looked_in(roots, data_dir)}{split}{fetch}{hint}, {_remedy(data_dir)}")


def find_file(rel: str | RemoteFile, data_dir=None, dataset: str | None = None) -> Path:
    """Absolute path of ``rel`` under the first search root that has it (only ``data_dir`` when given); a precise
    error otherwise."""
    f = rel if isinstance(rel, RemoteFile) else RemoteFile(str(rel))
    return dataset_root([f], data_dir, dataset) / f.path


def find_dir(rel: str, data_dir=None, dataset: str | None = None, how: str = "") -> Path:
    """Like ``find_file`` for a folder the user must supply (CelebA, UTKFace, BFFHQ, CIFAR-10)."""
    roots = search_roots(data_dir)
    for root in roots:
        if (root / rel).is_dir():
            return root / rel
    raise MissingDataError(f"missing folder {rel!r}{' for dataset ' + dataset if dataset else ''}: "
                           f"{_looked_in(roots, data_dir)}; {how or 'place the standard release there'}, "
                           f"{_remedy(data_dir)}")
