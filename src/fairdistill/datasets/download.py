"""Verified downloads of dataset files (for users with internet access; the project's machines read local copies).

``download`` streams to a temporary file next to the destination, checks the checksum and only then renames it, so a
failed or corrupt transfer never leaves a half-written file behind.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from ..errors import MissingDataError
from .files import cache_dir, find_file

_CHUNK = 1 << 20


def _md5_of_content(path: Path) -> str:
    """MD5 of the file's content, decompressed first when it is gzip (the IDX .gz files)."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, md5_raw: str | None = None,
             timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``dest``; verify ``sha256`` (of the bytes) and/or ``md5_raw`` (of the decompressed content).

    Raises MissingDataError (one line, naming the URL or the file with expected and obtained checksums) on any
    failure; ``dest`` is then left untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                for block in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(block)
                    h.update(block)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise MissingDataError(f"could not download {url}: {reason}; check the connection or place the file "
                                   f"at {dest} yourself") from err
        if sha256 is not None and h.hexdigest() != sha256.lower():
            raise MissingDataError(f"checksum mismatch for {dest.name} from {url}: expected sha256 {sha256}, got "
                                   f"{h.hexdigest()}; nothing was written, retry or fetch the file manually")
        if md5_raw is not None:
            try:
                got = _md5_of_content(tmp)
            except (OSError, EOFError, zlib.error) as err:
                got = f"unreadable ({err})"
            if got != md5_raw.lower():
                raise MissingDataError(f"checksum mismatch for {dest.name} from {url}: expected MD5 of the content "
                                       f"{md5_raw}, got {got}; nothing was written, retry or fetch the file manually")
        os.replace(tmp, dest)
        return dest
    finally:
        if tmp.exists():
            tmp.unlink()


def fetch_dataset(name: str, data_dir: str | os.PathLike | None = None, timeout: float = 60.0) -> list[Path]:
    """Download every file of dataset ``name`` that no search root has yet, into ``data_dir`` (or the user cache).

    Returns the paths written. Datasets the user must supply (CIFAR-10, CelebA, UTKFace, BFFHQ) raise
    MissingDataError saying where to put them.
    """
    from . import spec

    sp = spec(name)
    if not sp.files:
        raise MissingDataError(f"dataset {name!r} cannot be downloaded automatically; place its standard release in "
                               f"a folder {sp.folder!r} under --data-dir or $FAIRDISTILL_DATA")
    root = Path(data_dir) if data_dir is not None else cache_dir()
    written = []
    for f in sp.files:
        try:
            find_file(f, data_dir, name)
            continue
        except MissingDataError:
            pass
        if not f.url:
            raise MissingDataError(f"dataset {name!r}: file {f.path!r} has no download address; place it under "
                                   f"{root} yourself")
        written.append(download(f.url, root / f.path, sha256=f.sha256, md5_raw=f.md5_raw, timeout=timeout))
    return written
