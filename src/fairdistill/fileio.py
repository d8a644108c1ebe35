"""Atomic writes and checkpoints: nothing half-written is ever left behind, nothing is pickled."""
from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from .errors import DataError, ResumeError


def _new_dir(parent: Path, prefix: str) -> Path:
    """A new, uniquely named folder in ``parent`` with the permissions of a plain mkdir (the umask applies;
    ``tempfile.mkdtemp`` would make it 0700, and the renamed run folder would keep that)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def check_out_folder(out: Path, overwrite: bool, kind: str, marks: Sequence[str]) -> None:
    """The one rule for an output folder ``--out`` that is written whole (``atomic_dir``): a new path, or with
    ``overwrite`` an empty folder or an earlier ``kind`` (it holds every file of ``marks``), which is replaced;
    never a file, another folder, the current folder or one that holds it (through symlinks too). ConfigError
    otherwise."""
    from .errors import ConfigError
    here, real = Path.cwd().resolve(), Path(out).resolve()
    if real == here or real in here.parents:
        raise ConfigError(f"--out {out} is the current folder or holds it; give the output its own folder, e.g. "
                          f"--out {Path(out) / 'out'}")
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"--out {out} is a file; choose another --out")
    if not all((out / m).is_file() for m in marks) and any(out.iterdir()):
        raise ConfigError(f"--out {out} is a folder that is not a {kind} ({' and '.join(marks)}), and --out replaces "
                          f"only a {kind}; choose another --out, or empty or delete that folder yourself")
    if not overwrite:
        raise ConfigError(f"{kind} {out} already exists; choose another --out or pass --overwrite")


@contextmanager
def atomic_dir(dest: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``dest``, on error it is removed."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_dir(dest.parent, f".{dest.name}.tmp-")
    try:
        yield tmp
        old = None
        if dest.exists():
            if not overwrite:
                raise FileExistsError(dest)
            old = _new_dir(dest.parent, f".{dest.name}.old-")
            os.replace(dest, old / dest.name)  # the old run stays on disk until the new one is in place
        try:
            os.replace(tmp, dest)
        except BaseException:
            if old is not None:  # put the old run back where it was
                os.replace(old / dest.name, dest)
                old.rmdir()
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, content: str | bytes) -> None:
    """Write a text (or, given bytes, binary) file atomically: temporary sibling, then rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: str | os.PathLike, fix: str = "write it again", kind: type = dict) -> Any:
    """The JSON value (of type ``kind``) in ``path``; an unreadable or invalid file is a one-line ``DataError`` naming
    it and ``fix``."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path} cannot be read as JSON ({err}); {fix}") from None
    if not isinstance(value, kind):
        raise DataError(f"{path} holds a JSON {type(value).__name__}, not a {kind.__name__}; {fix}")
    return value


@contextmanager
def new_parents(path: str | os.PathLike) -> Iterator[None]:
    """Create ``path``'s missing parent folders; if the block fails, remove those of them that are left empty (a
    failed command leaves no folder it made)."""
    path = Path(path)
    missing = [p for p in path.parents if not p.exists()]
    if missing:
        path.parent.mkdir(parents=True)
    try:
        yield
    except BaseException:
        for p in missing:  # innermost first; stop at the first that is not empty
            try:
                p.rmdir()
            except OSError:
                break
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (temporary file + rename). NaN is written as null."""
    write_text(path, json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n")


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120) -> None:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)


def _clean(o: Any) -> Any:
    import math

    import numpy as np
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        return None if not math.isfinite(float(o)) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    return o


#: the configuration key of a checkpoint that holds the training rows' fingerprint (``FairDataset.fingerprint``)
TRAINING_ROWS = "training_rows"


class Checkpointer:
    """Save ``{"step": k, "config": ..., **state}`` every ``every`` steps to ``dir/checkpoint.pt``.

    ``load()`` returns the saved state when resuming, after checking that the stored configuration equals the
    current one (a different configuration cannot be resumed); a key the stored one lacks (a checkpoint of an older
    version) counts as its value in ``assumed``. Tensors only: loaded with ``weights_only=True``.
    """

    def __init__(self, directory: str | os.PathLike | None, config: dict, every: int = 100, resume: bool = False,
                 assumed: dict | None = None):
        self.path = None if directory is None else Path(directory) / "checkpoint.pt"
        self.config = json.loads(json.dumps(_clean(config)))
        self.assumed = json.loads(json.dumps(_clean(assumed or {})))
        self.every = max(1, int(every))
        self.resume = resume

    def load(self) -> dict | None:
        if self.path is None or not self.resume:
            return None
        if not self.path.exists():
            raise ResumeError(f"--resume given but no checkpoint at {self.path}; run without --resume to start")
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # corrupt or foreign file
            raise ResumeError(f"checkpoint {self.path} cannot be read ({err}); delete it and run again") from None
        saved = json.loads(state.pop("config_json"))
        saved = {**{k: v for k, v in self.assumed.items() if k not in saved}, **saved}
        if saved != self.config:
            diff = sorted(k for k in set(saved) | set(self.config) if saved.get(k) != self.config.get(k))
            if saved.get("method") != self.config.get("method"):
                what = f"by the method {saved.get('method')!r}, not {self.config.get('method')!r}"
            elif set(diff) <= {"dataset", "n", TRAINING_ROWS}:
                what = ("on other training rows (the dataset, --data-seed, --data-option or --sensitive differ, or "
                        "the data file changed)")
            else:
                what = "with other settings (" + ", ".join("the training rows" if k == TRAINING_ROWS else k
                                                           for k in diff if k != "n") + ")"
            raise ResumeError(f"checkpoint {self.path} was made {what}; use the same settings, or pass --overwrite "
                              f"without --resume to discard it and start again")
        return state

    def due(self, step: int) -> bool:
        return self.path is not None and step % self.every == 0

    def save(self, step: int, state: dict) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(".checkpoint.pt.tmp")
        torch.save({"step": step, "config_json": json.dumps(self.config), **state}, tmp)
        os.replace(tmp, self.path)
