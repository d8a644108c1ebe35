"""Where dataset files are found, and how a missing one is reported.

Search order: the ``data_dir`` argument, then ``$FAIRDISTILL_DATA``, then the user cache
(``$XDG_CACHE_HOME/fairdistill`` or ``~/.cache/fairdistill``). Each dataset lives in its own sub-folder.
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
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir))
    env = os.environ.get("FAIRDISTILL_DATA")
    if env:
        roots.append(Path(env))
    roots.append(cache_dir())
    return roots


def find_file(rel: str | RemoteFile, data_dir=None, dataset: str | None = None) -> Path:
    """Absolute path of ``rel`` under the first search root that has it; a precise error otherwise."""
    f = rel if isinstance(rel, RemoteFile) else RemoteFile(str(rel))
    roots = search_roots(data_dir)
    for root in roots:
        p = root / f.path
        if p.exists():
            return p
    where = ", ".join(str(r) for r in roots)
    fetch = f"; download it from {f.url}" if f.url else ""
    hint = f" (or run `fairdistill download {dataset}`)" if dataset and f.url else ""
    raise MissingDataError(f"missing file {f.path!r}{' for dataset ' + dataset if dataset else ''}: looked in "
                           f"{where}{fetch}{hint}, or pass --data-dir / set FAIRDISTILL_DATA")


def find_dir(rel: str, data_dir=None, dataset: str | None = None, how: str = "") -> Path:
    """Like ``find_file`` for a folder the user must supply (CelebA, UTKFace, BFFHQ, CIFAR-10)."""
    roots = search_roots(data_dir)
    for root in roots:
        if (root / rel).is_dir():
            return root / rel
    raise MissingDataError(f"missing folder {rel!r}{' for dataset ' + dataset if dataset else ''}: looked in "
                           f"{', '.join(map(str, roots))}; {how or 'place the standard release there'}, "
                           f"or pass --data-dir / set FAIRDISTILL_DATA")
