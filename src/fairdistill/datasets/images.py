"""Image benchmarks of FairDD (DATASETS.md section 1): coloured MNIST / Fashion-MNIST, CIFAR10-S, CelebA, UTKFace,
BFFHQ.

Every loader returns ``{"train": FairDataset, "test": FairDataset}`` with X float32 N x 3 x H x W normalised per
channel (``meta["mean"]``, ``meta["std"]``), y the target class and s one sensitive column. Images are built as uint8
and converted to float32 once (``imageops.normalise``).
"""
from __future__ import annotations

import gzip
import hashlib
import math
import pickle
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..dataset import FairDataset
from ..errors import DataError, MissingDataError, check_choice
from ..params import Param, positive
from . import DatasetSpec, register
from .files import RemoteFile, find_dir, find_file
from .imageops import grey_to_rgb, luma, normalise, read_images
from .splits import check_ratio

# ----------------------------------------------------------------------------------------------------- IDX files
_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # mirror of yann.lecun.com/exdb/mnist (same files)
_FMNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# MD5 of the decompressed IDX content (the shared .gz files were partly recompressed; see data/README.md).
_IDX_MD5 = {
    "mnist": {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
              "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
              "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
              "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"},
    "fashion_mnist": {"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                      "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
                      "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
                      "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
}
_IDX_URL = {"mnist": _MNIST_URL, "fashion_mnist": _FMNIST_URL}


def idx_files(folder: str) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(f"{folder}/{stem}.gz", url=_IDX_URL[folder] + stem + ".gz", md5_raw=md5)
                 for stem, md5 in _IDX_MD5[folder].items())


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path, md5_raw: str | None = None) -> np.ndarray:
    """Parse an IDX file (optionally .gz); verify the MD5 of the decompressed bytes when ``md5_raw`` is given."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise MissingDataError(f"cannot read {path}: {err}; re-download the file") from err
    if md5_raw is not None:
        got = hashlib.md5(raw).hexdigest()
        if got != md5_raw:
            raise MissingDataError(f"checksum mismatch for {path}: MD5 of the decompressed content is {got}, "
                                   f"expected {md5_raw}; the file is corrupt or not the published one, re-download it")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    body = 4 + 4 * ndim
    if len(raw) - body != int(np.prod(dims)) * dtype.itemsize:
        raise DataError(f"{path}: IDX header says shape {dims} but the body has {len(raw) - body} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=body).reshape(dims)


def _read_idx_split(folder: str, split: str, data_dir) -> tuple[np.ndarray, np.ndarray]:
    stem = "train" if split == "train" else "t10k"
    out = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        f = next(f for f in idx_files(folder) if f.path.endswith(f"{stem}-{kind}.gz"))
        out.append(read_idx(find_file(f, data_dir, folder.replace("_", "-")), f.md5_raw))
    images, labels = out
    if len(images) != len(labels):
        raise DataError(f"{folder} {split}: {len(images)} images but {len(labels)} labels")
    return images, labels


# ------------------------------------------------------------------------------------------- coloured (F)MNIST
COLOURED = ("cmnist-fg", "cmnist-bg", "cfmnist-fg", "cfmnist-bg")
PALETTE = np.array([[255, 0, 0], [255, 128, 0], [255, 255, 0], [255, 255, 128], [0, 255, 0], [0, 255, 255],
                    [0, 0, 255], [128, 0, 255], [255, 0, 255], [255, 255, 255]], dtype=np.uint8)
COLOUR_NAMES = ["red", "orange", "yellow", "light yellow", "green", "cyan", "blue", "purple", "magenta", "white"]
MNIST_CLASSES = [str(d) for d in range(10)]
FMNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                  "Ankle boot"]
_SPLIT_CODE = {"train": 0, "test": 1}
_TEST_RHO = 0.1


def assign_colours(y: np.ndarray, rho: float, rng: np.random.Generator, other_colours: str = "chunks",
                   n_colours: int = 10) -> np.ndarray:
    """Colour id per row: within class c (indices shuffled), the first floor(n_c * rho) get colour c.

    The remaining r rows get another colour: ``"chunks"`` cuts them (in shuffled order) into consecutive chunks of
    ceil(r / 9), chunk t taking the t-th colour of a random permutation of {c+1, ..., c+9} mod 10 (an even spread,
    the last chunk smaller); ``"iid"`` draws each uniformly from the nine other colours.
    """
    s = np.empty(len(y), dtype=np.int64)
    for c in range(n_colours):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(math.floor(len(idx) * rho + 1e-9))  # 1e-9: n * 0.9 must not fall just below an integer
        s[idx[:k]] = c
        rest = idx[k:]
        if other_colours == "chunks":
            others = (c + 1 + rng.permutation(n_colours - 1)) % n_colours
            if len(rest):
                s[rest] = others[np.arange(len(rest)) // math.ceil(len(rest) / (n_colours - 1))]
        else:
            s[rest] = (c + rng.integers(1, n_colours, size=len(rest))) % n_colours
    return s


def pad_grey(x: np.ndarray, faithful: bool) -> np.ndarray:
    """N x 28 x 28 -> N x 32 x 32 with zeros: 2 px on every side, or (faithful) 4 px top/left and none bottom/right."""
    n, h, w = x.shape
    out = np.zeros((n, h + 4, w + 4), dtype=np.uint8)
    off = 4 if faithful else 2
    out[:, off:off + h, off:off + w] = x
    return out


def colour_table(variant: str, faithful: bool) -> np.ndarray:
    """uint8 table T[colour, channel, x]: the coloured value of grey level x (0..255) for each palette colour.

    cmnist-fg: x >= 128 -> colour, else 0.  cmnist-bg: x >= 128 -> 0, else colour.
    cfmnist-fg: round(x/255 * colour).  cfmnist-bg: round(x + (1 - x/255) * colour).
    cfmnist-bg faithful (reference quirk): v = 255 * (255 + d * (colour/255 - 255)) in float32, d = (255 - x)/255,
    stored as trunc(v) mod 256 (the uint8 wrap-around the reference gets from its cast).
    """
    check_choice(variant, "variant", COLOURED)
    x = np.arange(256, dtype=np.int64)[None, None, :]
    col = PALETTE.astype(np.int64)[:, :, None]
    if variant == "cmnist-fg":
        t = np.where(x >= 128, col, 0)
    elif variant == "cmnist-bg":
        t = np.where(x >= 128, 0, col)
    elif variant == "cfmnist-fg":
        t = (x * col + 127) // 255
    elif variant == "cfmnist-bg" and not faithful:
        t = x + ((255 - x) * col + 127) // 255
    else:  # cfmnist-bg, faithful
        f32 = np.float32
        d = (f32(255) - x.astype(f32)) / f32(255)
        v = f32(255) * (f32(255) + d * (col.astype(f32) / f32(255) - f32(255)))
        t = np.mod(np.trunc(v).astype(np.int64), 256)
    return np.broadcast_to(t, (10, 3, 256)).astype(np.uint8)


def colourise(grey: np.ndarray, s: np.ndarray, table: np.ndarray) -> np.ndarray:
    """N x H x W grey + colour ids -> N x 3 x H x W uint8 via ``table[s, channel, grey]``."""
    out = np.empty((len(grey), 3) + grey.shape[1:], dtype=np.uint8)
    for c in np.unique(s):
        rows = np.flatnonzero(s == c)
        g = grey[rows]
        for ch in range(3):
            out[rows, ch] = np.take(table[c, ch], g)
    return out


@dataclass
class ColouredSplit:
    """uint8 images N x 3 x 32 x 32, labels, colour ids and the row of each image in the IDX file."""

    images: np.ndarray
    y: np.ndarray
    s: np.ndarray
    source_index: np.ndarray


def build_coloured(variant: str, split: str, data_dir=None, seed: int = 0, bias_ratio: float = 0.9,
                   faithful: bool = False, other_colours: str = "chunks") -> ColouredSplit:
    """One split of a coloured variant as uint8 (rho = bias_ratio for train, 0.1 for test; split shuffled)."""
    folder = "mnist" if variant.startswith("cmnist") else "fashion_mnist"
    grey, labels = _read_idx_split(folder, split, data_dir)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SPLIT_CODE[split]]))
    rho = bias_ratio if split == "train" else _TEST_RHO
    s = assign_colours(labels, rho, rng, other_colours)
    order = rng.permutation(len(labels))
    s = s[order]
    images = colourise(pad_grey(grey[order], faithful), s, colour_table(variant, faithful))
    return ColouredSplit(images, labels[order].astype(np.int64), s, order)


def _load_coloured(variant: str, data_dir, seed: int, *, bias_ratio: float, faithful: bool,
                   other_colours: str) -> dict[str, FairDataset]:
    mean, std = [0.5] * 3, [0.5] * 3
    classes = MNIST_CLASSES if variant.startswith("cmnist") else FMNIST_CLASSES
    out = {}
    for split in ("train", "test"):
        part = build_coloured(variant, split, data_dir, seed, bias_ratio, faithful, other_colours)
        X = normalise(part.images, mean, std)
        del part.images
        out[split] = FairDataset(
            X=X, y=part.y, s=part.s, sensitive_names=["colour"], name=variant, modality="image", n_classes=10,
            class_names=list(classes), sensitive_values=[list(COLOUR_NAMES)],
            meta={"mean": mean, "std": std, "bias_ratio": bias_ratio if split == "train" else _TEST_RHO,
                  "train_bias_ratio": bias_ratio, "faithful": faithful, "other_colours": other_colours,
                  "palette": PALETTE.tolist(), "padding": "top-left 4 px" if faithful else "2 px each side",
                  "split": split, "seed": int(seed)})
    return out


def _load_cmnist_fg(data_dir, seed, sensitive, **options):
    """cmnist-fg train/test (options bias_ratio, faithful, other_colours; see ``build_coloured``)."""
    return _load_coloured("cmnist-fg", data_dir, seed, **options)


def _load_cmnist_bg(data_dir, seed, sensitive, **options):
    """cmnist-bg train/test (options bias_ratio, faithful, other_colours; see ``build_coloured``)."""
    return _load_coloured("cmnist-bg", data_dir, seed, **options)


def _load_cfmnist_fg(data_dir, seed, sensitive, **options):
    """cfmnist-fg train/test (options bias_ratio, faithful, other_colours; see ``build_coloured``)."""
    return _load_coloured("cfmnist-fg", data_dir, seed, **options)


def _load_cfmnist_bg(data_dir, seed, sensitive, **options):
    """cfmnist-bg train/test (options bias_ratio, faithful, other_colours; see ``build_coloured``)."""
    return _load_coloured("cfmnist-bg", data_dir, seed, **options)


# ------------------------------------------------------------------------------------------------------ CIFAR10-S
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10S_MEAN = [0.48905, 0.48451, 0.46715]
CIFAR10S_STD = [0.24278, 0.24082, 0.25098]
CIFAR10_MEAN = [0.4914, 0.4822, 0.4465]
CIFAR10_STD = [0.2023, 0.1994, 0.2010]


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch of the standard CIFAR-10 python release: images N x 3 x 32 x 32 uint8 and labels."""
    # The standard release stores each batch as a Python pickle of a dict {b"data": N x 3072 uint8, b"labels": [...]};
    # pickle is used here only because that is the published format of these files (never for our own data).
    try:
        with open(path, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError) as err:
        raise MissingDataError(f"cannot read CIFAR-10 batch {path}: {err!r}; use the python release "
                               "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html") from err
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: data has shape {data.shape} and {len(labels)} labels; expected N x 3072 and N")
    return data.reshape(-1, 3, 32, 32), labels


def _load_cifar10s(data_dir, seed, sensitive, *, bias_ratio: float, faithful: bool):
    """CIFAR10-S: train shuffled (legacy NumPy RandomState(seed), the reference's seed 0); classes 0-4 keep the first
    floor(n_c * bias_ratio) images grayscale, classes 5-9 the first n_c - floor(n_c * bias_ratio); test = every image
    grey + colour."""
    folder = find_dir("cifar-10-batches-py", data_dir, "cifar10s",
                      "extract cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html")
    parts = []
    for fname in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        p = folder / fname
        if not p.exists():
            raise MissingDataError(f"missing file {p} for dataset 'cifar10s'; the folder must hold data_batch_1..5 "
                                   "and test_batch of the CIFAR-10 python release")
        parts.append(read_cifar_batch(p))
    xtr = np.concatenate([p[0] for p in parts[:5]])
    ytr = np.concatenate([p[1] for p in parts[:5]])
    xte, yte = parts[5]
    order = np.random.RandomState(int(seed)).permutation(len(ytr))
    xtr, ytr = xtr[order], ytr[order]
    grey = np.zeros(len(ytr), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(ytr == c)
        k = int(math.floor(len(idx) * bias_ratio + 1e-9))
        grey[idx[:k] if c < 5 else idx[:len(idx) - k]] = True
    xtr[grey] = grey_to_rgb(luma(xtr[grey]))
    s_tr = (~grey).astype(np.int64)  # 0 grayscale, 1 colour
    xte2 = np.concatenate([grey_to_rgb(luma(xte)), xte])
    yte2 = np.concatenate([yte, yte])
    s_te = np.repeat([0, 1], len(yte))
    out = {}
    for split, X, y, s in (("train", xtr, ytr, s_tr), ("test", xte2, yte2, s_te)):
        out[split] = FairDataset(
            X=normalise(X, CIFAR10S_MEAN, CIFAR10S_STD), y=y, s=s, sensitive_names=["grayscale"], name="cifar10s",
            modality="image", n_classes=10, class_names=list(CIFAR_CLASSES),
            sensitive_values=[["grayscale", "colour"]],
            meta={"mean": CIFAR10S_MEAN, "std": CIFAR10S_STD, "bias_ratio": bias_ratio, "split": split,
                  "seed": int(seed)})
    return out


# --------------------------------------------------------------------------------------------------------- CelebA
CELEBA_MEAN = [0.5063, 0.4258, 0.3832]
CELEBA_STD = [0.2676, 0.2453, 0.2410]
_CELEBA_HOW = ("download img_align_celeba.zip, list_attr_celeba.txt and list_eval_partition.txt from "
               "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html into a folder named celeba")


def _read_celeba_lists(folder: Path) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """(file names, attribute names, attributes N x 40 in {0, 1}, partition N)."""
    attr_path, part_path = folder / "list_attr_celeba.txt", folder / "list_eval_partition.txt"
    for p in (attr_path, part_path):
        if not p.exists():
            raise MissingDataError(f"missing file {p} for dataset 'celeba'; {_CELEBA_HOW}")
    lines = attr_path.read_text().splitlines()
    names = lines[1].split()
    files, rows = [], []
    for ln in lines[2:]:
        parts = ln.split()
        if parts:
            files.append(parts[0])
            rows.append([int(v) for v in parts[1:]])
    attrs = (np.asarray(rows, dtype=np.int64) > 0).astype(np.int64)
    if attrs.shape[1] != len(names):
        raise DataError(f"{attr_path}: {attrs.shape[1]} values per row but {len(names)} attribute names")
    part = {}
    for ln in part_path.read_text().splitlines():
        p = ln.split()
        if p:
            part[p[0]] = int(p[1])
    missing = [f for f in files if f not in part]
    if missing:
        raise DataError(f"{part_path} has no partition for {len(missing)} images (e.g. {missing[0]})")
    return files, names, attrs, np.array([part[f] for f in files])


def balanced_cells(y: np.ndarray, s: np.ndarray, rng: np.random.Generator, per_cell: int | None = None) -> np.ndarray:
    """Sorted row indices: ``per_cell`` (default: the smallest (y, s) cell size) rows drawn from every cell."""
    cells = [np.flatnonzero((y == a) & (s == b)) for a in np.unique(y) for b in np.unique(s)]
    m = min(len(c) for c in cells) if per_cell is None else per_cell
    return np.sort(np.concatenate([rng.choice(c, size=min(m, len(c)), replace=False) for c in cells]))


def _load_celeba(data_dir, seed, sensitive, *, target: str, faithful: bool):
    """CelebA: y = ``target`` attribute (Attractive), s = Male; train = partition 0, test = partition 2 subsampled to
    the smallest (y, s) cell in every cell; centre crop 178, resize 64."""
    folder = find_dir("celeba", data_dir, "celeba", _CELEBA_HOW)
    files, names, attrs, part = _read_celeba_lists(folder)
    check_choice(target, "target", names)
    y, s = attrs[:, names.index(target)], attrs[:, names.index("Male")]
    rng = np.random.default_rng(int(seed))
    tr = np.flatnonzero(part == 0)
    te2 = np.flatnonzero(part == 2)
    te = te2[balanced_cells(y[te2], s[te2], rng)]
    img_dir = folder / "img_align_celeba"
    if not img_dir.is_dir():
        raise MissingDataError(f"missing folder {img_dir} for dataset 'celeba'; {_CELEBA_HOW}")
    out = {}
    for split, idx in (("train", tr), ("test", te)):
        imgs = read_images([img_dir / files[i] for i in idx], 64, crop=178, desc=f"celeba {split}")
        out[split] = FairDataset(
            X=normalise(imgs, CELEBA_MEAN, CELEBA_STD), y=y[idx], s=s[idx], sensitive_names=["gender"],
            name="celeba", modality="image", n_classes=2, class_names=[f"not {target}", target],
            sensitive_values=[["female", "male"]],
            meta={"mean": CELEBA_MEAN, "std": CELEBA_STD, "target": target, "split": split,
                  "seed": int(seed)})
    return out


# -------------------------------------------------------------------------------------------------------- UTKFace
UTK_MEAN = [0.6136, 0.4723, 0.4070]
UTK_STD = [0.2549, 0.2305, 0.2283]
UTK_RACES = ["White", "Black", "Asian", "Indian"]
_UTK_NAME = re.compile(r"^(\d+)_(\d+)_(\d+)_\d+")
_UTK_HOW = "place the aligned-and-cropped UTKFace images (<age>_<gender>_<race>_<datetime>.jpg.chip.jpg) there"


def parse_utkface(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(kept positions, age bin, race, #unparsed, #race Others) from UTKFace file names."""
    keep, ybin, race = [], [], []
    bad = others = 0
    for i, n in enumerate(names):
        m = _UTK_NAME.match(n)
        if not m:
            bad += 1
            continue
        age, r = int(m.group(1)), int(m.group(3))
        if r == 4:
            others += 1
            continue
        if r > 4:
            bad += 1
            continue
        keep.append(i)
        ybin.append(0 if age < 20 else 1 if age < 40 else 2)
        race.append(r)
    return np.array(keep, dtype=np.int64), np.array(ybin, dtype=np.int64), np.array(race, dtype=np.int64), bad, others


def _load_utkface(data_dir, seed, sensitive, *, test_per_cell: int, faithful: bool):
    """UTKFace: y = age bin (<20, 20-39, >=40), s = race (Others dropped); test = ``test_per_cell`` (100) random
    images per (age bin, race) cell, train = the rest; resize 64."""
    try:
        folder = find_dir("utkface", data_dir, "utkface", _UTK_HOW)
    except MissingDataError:
        folder = find_dir("UTKFace", data_dir, "utkface", _UTK_HOW)  # the release's own folder name
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    keep, y, s, bad, others = parse_utkface([p.name for p in files])
    if len(keep) == 0:
        raise MissingDataError(f"no UTKFace images with parseable names in {folder}; {_UTK_HOW}")
    files = [files[i] for i in keep]
    te = balanced_cells(y, s, np.random.default_rng(int(seed)), test_per_cell)
    tr = np.setdiff1d(np.arange(len(y)), te)
    out = {}
    for split, idx in (("train", tr), ("test", te)):
        imgs = read_images([files[i] for i in idx], 64, desc=f"utkface {split}")
        out[split] = FairDataset(
            X=normalise(imgs, UTK_MEAN, UTK_STD), y=y[idx], s=s[idx], sensitive_names=["race"], name="utkface",
            modality="image", n_classes=3, class_names=["<20", "20-39", ">=40"], sensitive_values=[list(UTK_RACES)],
            meta={"mean": UTK_MEAN, "std": UTK_STD, "skipped_unparsed": bad, "dropped_race_others": others,
                  "test_per_cell": test_per_cell, "split": split, "seed": int(seed)})
    return out


# ---------------------------------------------------------------------------------------------------------- BFFHQ
_BFFHQ_NAME = re.compile(r"_(\d+)_(\d+)\.png$", re.IGNORECASE)
_BFFHQ_HOW = ("place the BFFHQ release of Lee et al. (NeurIPS 2021, 'Learning Debiased Representation via "
              "Disentangled Feature Augmentation') there: bffhq/0.5pct/{align,conflict}/<class>/*.png, "
              "bffhq/test/*.png")


def _bffhq_files(folder: Path, pattern: str) -> tuple[list[Path], np.ndarray, np.ndarray]:
    paths, ages, genders = [], [], []
    for p in sorted(folder.glob(pattern)):
        m = _BFFHQ_NAME.search(p.name)
        if not m:
            raise DataError(f"BFFHQ file name {p.name!r} does not end in _<age>_<gender>.png; {_BFFHQ_HOW}")
        paths.append(p)
        ages.append(int(m.group(1)))
        genders.append(int(m.group(2)))
    return paths, np.array(ages, dtype=np.int64), np.array(genders, dtype=np.int64)


def _load_bffhq(data_dir, seed, sensitive, *, faithful: bool):
    """BFFHQ: y = age (0 young, 1 old), s = gender code; train = 0.5pct align + conflict, test = test; resize 64."""
    root = find_dir("bffhq", data_dir, "bffhq", _BFFHQ_HOW)
    pieces = {"align": _bffhq_files(root / "0.5pct" / "align", "*/*.png"),
              "conflict": _bffhq_files(root / "0.5pct" / "conflict", "*/*.png"),
              "test": _bffhq_files(root / "test", "*.png")}
    for key, (paths, _, _) in pieces.items():
        if not paths:
            where = root / "test" if key == "test" else root / "0.5pct" / key
            raise MissingDataError(f"no BFFHQ images in {where}; {_BFFHQ_HOW}")
    splits = {"train": [pieces["align"], pieces["conflict"]], "test": [pieces["test"]]}
    out = {}
    for split, parts in splits.items():
        paths = [p for part in parts for p in part[0]]
        y = np.concatenate([part[1] for part in parts])
        s = np.concatenate([part[2] for part in parts])
        if y.max() > 1 or s.max() > 1:
            raise DataError(f"BFFHQ {split}: age/gender codes must be 0 or 1; got up to {y.max()}/{s.max()}")
        imgs = read_images(paths, 64, desc=f"bffhq {split}")
        out[split] = FairDataset(
            X=normalise(imgs, CIFAR10_MEAN, CIFAR10_STD), y=y, s=s, sensitive_names=["gender"], name="bffhq",
            modality="image", n_classes=2, class_names=["young", "old"], sensitive_values=[["gender 0", "gender 1"]],
            meta={"mean": CIFAR10_MEAN, "std": CIFAR10_STD, "split": split, "seed": int(seed),
                  **({"n_align": len(pieces["align"][0]), "n_conflict": len(pieces["conflict"][0])}
                     if split == "train" else {})})
    return out


# ------------------------------------------------------------------------------------------------------- registry
_COLOURED_OPTIONS = (
    Param("bias_ratio", float, 0.9, "share of each training class drawn in its own colour (FairDD ablation "
          "0.85/0.95)", check=check_ratio),
    Param("faithful", bool, False, "reproduce the reference quirks: top-left padding and the uint8 wrap-around of "
          "C-FMNIST BG"),
    Param("other_colours", str, "chunks", "how the other 10% get colours: 'chunks' (even chunks, reference) or "
          "'iid'", choices=("chunks", "iid")),
)
_NO_QUIRK = Param("faithful", bool, False, "accepted for uniformity with preset='paper'; this loader has no "
                  "reference quirk")
_COLOURED_DESC = {
    "cmnist-fg": "Colored-MNIST, digit drawn in the colour (FairDD)",
    "cmnist-bg": "Colored-MNIST, background in the colour (FairDD)",
    "cfmnist-fg": "Colored-Fashion-MNIST, object tinted by the colour (FairDD)",
    "cfmnist-bg": "Colored-Fashion-MNIST, background in the colour (FairDD)",
}
for _name, _desc in _COLOURED_DESC.items():
    register(DatasetSpec(
        name=_name, modality="image", loader=f"{__name__}:_load_{_name.replace('-', '_')}", description=_desc,
        target="digit" if _name.startswith("cmnist") else "clothing class", sensitive=("colour",),
        default_sensitive=("colour",), files=idx_files("mnist" if _name.startswith("cmnist") else "fashion_mnist"),
        options=_COLOURED_OPTIONS))

register(DatasetSpec(
    name="cifar10s", modality="image", loader=f"{__name__}:_load_cifar10s",
    description="CIFAR10-S: CIFAR-10 with 90/10 grayscale skew per class (FairDD; user supplies cifar-10-batches-py)",
    target="object class", sensitive=("grayscale",), default_sensitive=("grayscale",), folder="cifar-10-batches-py",
    options=(Param("bias_ratio", float, 0.9, "share of the majority (grey for classes 0-4, colour for 5-9) per class",
                   check=check_ratio), _NO_QUIRK)))
register(DatasetSpec(
    name="celeba", modality="image", loader=f"{__name__}:_load_celeba",
    description="CelebA 64x64, y = Attractive, s = gender (FairDD; user supplies the celeba folder)",
    target="Attractive", sensitive=("gender",), default_sensitive=("gender",), folder="celeba",
    options=(Param("target", str, "Attractive", "CelebA attribute used as y (also Young, Big_Nose, Blond_Hair)"),
             _NO_QUIRK)))
register(DatasetSpec(
    name="utkface", modality="image", loader=f"{__name__}:_load_utkface",
    description="UTKFace 64x64, y = age bin, s = race (FairDD; user supplies the UTKFace folder)",
    target="age bin", sensitive=("race",), default_sensitive=("race",), folder="UTKFace",
    options=(Param("test_per_cell", int, 100, "test images drawn per (age bin, race) cell", check=positive),
             _NO_QUIRK)))
register(DatasetSpec(
    name="bffhq", modality="image", loader=f"{__name__}:_load_bffhq",
    description="BFFHQ 64x64, y = age, s = gender, 0.5% bias-conflicting (FairDD; user supplies the bffhq folder)",
    target="age", sensitive=("gender",), default_sensitive=("gender",), folder="bffhq", options=(_NO_QUIRK,)))
