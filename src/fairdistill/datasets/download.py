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

from ..errors import ConfigError, MissingDataError
from ..progress import log
from .files import cache_dir, dataset_root

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
    """Download the files of dataset ``name`` into ``data_dir`` (or the user cache), unless one root has them all.

    With ``data_dir`` only that folder counts; without it, nothing is fetched when ``$FAIRDISTILL_DATA`` or the cache
    already holds every file, else the cache gets the files it lacks (a dataset is read from one root). Returns the
    paths written and logs where the dataset is. All or nothing: when a transfer fails, the files and folders this call
    created are removed. Datasets the user must supply (CIFAR-10, CelebA, UTKFace, BFFHQ) raise MissingDataError
    saying where to put them.
    """
    from . import spec

    sp = spec(name)
    if sp.sensitive_from_data:  # csv: the user's own file, nothing to fetch
        raise ConfigError(f"dataset {name!r} is your own file, so there is nothing to download; use it with "
                          f"`fairdistill run METHOD --dataset {name} --data-option path=FILE.csv --data-option "
                          f"target=COLUMN --sensitive COLUMN ...` (`fairdistill datasets {name}` lists its options)")
    if not sp.files:
        raise MissingDataError(f"dataset {name!r} cannot be downloaded automatically; place its standard release in "
                               f"a folder {sp.folder!r} under data_dir (--data-dir) or $FAIRDISTILL_DATA")
    try:
        found = dataset_root(sp.files, data_dir, name)
        log(f"dataset {name!r}: all {len(sp.files)} file(s) already in {found}; nothing to download")
        return []
    except MissingDataError:
        pass
    root = Path(data_dir) if data_dir is not None else cache_dir()
    if root.exists() and not root.is_dir():
        raise MissingDataError(f"cannot download dataset {name!r} into {root}: it is a file, not a folder; give a "
                               f"folder as data_dir (--data-dir)")
    todo = [f for f in sp.files if not (root / f.path).is_file()]
    created = [d for d in {(root / f.path).parent for f in todo} for d in (d, *d.parents) if not d.exists()]
    written = []
    try:
        for f in todo:
            if not f.url:
                raise MissingDataError(f"dataset {name!r}: file {f.path!r} has no download address; place it under "
                                       f"{root} yourself")
            written.append(download(f.url, root / f.path, sha256=f.sha256, md5_raw=f.md5_raw, timeout=timeout))
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        for d in sorted(set(created), key=lambda d: len(d.parts), reverse=True):
            try:
                d.rmdir()  # only empty folders: never anything this call did not create
            except OSError:
                pass
        raise
    log(f"dataset {name!r}: {len(written)} file(s) downloaded into {root}"
        + (f" ({len(sp.files) - len(written)} were there already)" if len(written) < len(sp.files) else ""))
    return written
