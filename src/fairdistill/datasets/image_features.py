"""Colored-MNIST as a tabular intersectional benchmark: PCA features, a colour shortcut and a writer-style axis.

``cmnist-pca`` (issue #6): every MNIST training image is coloured as in ``cmnist-fg`` (``images.build_coloured``:
class c drawn in colour c with probability ``bias_ratio``, the other images spread over the nine other colours;
seeded), the split is the intersectional protocol (random 60/20/20 per seed, as the tabular sets), and

- X = the first ``n_components`` principal components of the coloured pixels (3 x 32 x 32 / 255), the PCA fitted on
  the training split only: x = V_k^T (p - mean_train(p)), so the training rows have zero mean;
- y = 1[digit >= 5] (digits 0-4 vs 5-9);
- s = (colour, thickness):
  * ``colour``: with ``colour_groups=2`` (default) the label the colour stands for, 1[colour id >= 5] (ids 0-4 are
    the bias colours of digits 0-4). P(colour = y) = rho + (1 - rho) 4/9 (0.944 at rho = 0.9), so colour is a
    shortcut for the label and the (colour, label) cells against it are small, the cells intersectional
    augmentation targets. ``colour_groups=10`` keeps the ten colour ids (20 groups; at 30,000 rows the test split
    then has only ~10 positives in the smallest group, against ~70-90 with 2 groups, which makes DF noisy);
  * ``thickness``: ink mass m = #{grey pixels >= 128} (exactly the pixels the digit is drawn with) at or above the
    median of m within the image's digit class, the median taken over the train + valid rows (the tabular sets'
    "training median"). Within every digit class the axis splits about in half, so it is a property of the
    writer's pen, independent of the label by construction.

``max_rows`` rows (default 30,000) are drawn at random (seeded) from the 60,000 coloured training images before the
split, to keep the downstream MLPs cheap. ``meta`` keeps per row: the digit, the colour id (0-9), the ink mass and
the row of the image in the IDX file, plus the PCA mean, components and explained variance ratios.
"""
from __future__ import annotations

import numpy as np

from ..dataset import FairDataset
from ..errors import ConfigError
from ..params import Param
from . import DatasetSpec, register
from .images import COLOUR_NAMES, build_coloured, idx_files
from .splits import check_ratio, random_split, stratified_holdout

NAME = "cmnist-pca"
MNIST_TRAIN_ROWS = 60000
_CHUNK = 8192  # rows per PCA transform (bounds the float32 copy of the pixels)


def _between(low: int, high: int):
    """A ``Param`` check: the value lies in [low, high]."""
    return lambda v: None if low <= v <= high else f"must be an integer in [{low}, {high}]"


def ink_mass(coloured: np.ndarray) -> np.ndarray:
    """Number of coloured pixels of each N x 3 x H x W cmnist-fg image: exactly its grey pixels >= 128 (cmnist-fg
    draws those in a palette colour, none of which is black, and leaves every other pixel 0)."""
    return (coloured.max(1) > 0).reshape(len(coloured), -1).sum(1).astype(np.int64)


def thickness(ink: np.ndarray, digit: np.ndarray, fit_rows: np.ndarray) -> tuple[np.ndarray, dict[int, float]]:
    """1[ink >= median of ink over ``fit_rows`` of the same digit] per row, and the medians per digit."""
    med = {int(d): float(np.median(ink[fit_rows][digit[fit_rows] == d])) for d in np.unique(digit[fit_rows])}
    missing = sorted(set(np.unique(digit).tolist()) - set(med))
    if missing:
        raise ConfigError(f"{NAME}: digit(s) {missing} have no rows to fit the thickness median; raise max_rows")
    return (ink >= np.array([med[int(d)] for d in digit])).astype(np.int64), med


def fit_pca(pixels: np.ndarray, n_components: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of the rows of ``pixels`` (N x D uint8, scaled by 1/255): (mean D, components k x D, variance ratios k)."""
    from sklearn.decomposition import PCA
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed)
    pca.fit(pixels.astype(np.float32) / 255.0)
    return (pca.mean_.astype(np.float32), pca.components_.astype(np.float32),
            pca.explained_variance_ratio_.astype(np.float64))


def project(pixels: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(pixels / 255 - mean) @ components^T, in row chunks."""
    out = np.empty((len(pixels), len(components)), dtype=np.float32)
    for a in range(0, len(pixels), _CHUNK):
        out[a:a + _CHUNK] = (pixels[a:a + _CHUNK].astype(np.float32) / 255.0 - mean) @ components.T
    return out


def _load_cmnist_pca(data_dir, seed: int, sensitive, *, protocol: str, bias_ratio: float, max_rows: int,
                     n_components: int, colour_groups: int) -> dict[str, FairDataset]:
    """cmnist-pca train/valid/test (options protocol, bias_ratio, max_rows, n_components, colour_groups)."""
    part = build_coloured("cmnist-fg", "train", data_dir, seed, bias_ratio)
    rows = np.sort(np.random.default_rng([seed, 60013]).choice(len(part.y), max_rows, replace=False))
    ink = ink_mass(part.images[rows])
    pixels = part.images[rows].reshape(len(rows), -1)
    digit, colour_id, source = part.y[rows], part.s[rows], part.source_index[rows]
    del part
    y = (digit >= 5).astype(np.int64)
    colour = (colour_id >= 5).astype(np.int64) if colour_groups == 2 else colour_id
    pool, test = random_split(len(rows), 0.20, seed)
    thick, medians = thickness(ink, digit, pool)
    s = np.column_stack([colour, thick])
    train, valid = stratified_holdout(pool, np.column_stack([y, s])[pool], 0.25, seed)
    mean, comps, ratio = fit_pca(pixels[train], n_components, seed)
    X = project(pixels, mean, comps)
    colour_values = (["colours 0-4 (" + ", ".join(COLOUR_NAMES[:5]) + ")",
                      "colours 5-9 (" + ", ".join(COLOUR_NAMES[5:]) + ")"]
                     if colour_groups == 2 else list(COLOUR_NAMES))
    meta = {"dataset": NAME, "protocol": protocol, "seed": int(seed), "target_name": "digit>=5",
            "bias_ratio": bias_ratio, "max_rows": max_rows, "colour_groups": colour_groups,
            "n_components": n_components, "thickness_medians": medians, "pca_mean": mean,
            "pca_components": comps, "pca_explained_variance_ratio": ratio.tolist(),
            "positive_class": "digit 5-9"}
    out = {}
    for split, idx in (("train", train), ("valid", valid), ("test", test)):
        out[split] = FairDataset(
            X=X[idx], y=y[idx], s=s[idx], sensitive_names=["colour", "thickness"], name=f"{NAME}/{split}",
            modality="tabular", n_classes=2, class_names=["digit 0-4", "digit 5-9"],
            sensitive_values=[colour_values, ["thin (ink < class median)", "thick (ink >= class median)"]],
            feature_names=[f"pc{i + 1}" for i in range(n_components)],
            meta=dict(meta, split=split, rows=idx, digit=digit[idx], colour_id=colour_id[idx], ink=ink[idx],
                      source_index=source[idx]))
    return out


register(DatasetSpec(
    name=NAME, modality="tabular", loader=f"{__name__}:_load_cmnist_pca",
    description="Colored-MNIST (cmnist-fg colouring) as PCA features of the coloured pixels; y = digit >= 5; "
                "colour (shortcut for y) x thickness (ink mass vs class median)",
    target="digit >= 5", sensitive=("colour", "thickness"), default_sensitive=("colour", "thickness"),
    files=tuple(f for f in idx_files("mnist") if "/train-" in f.path),
    options=(Param("protocol", str, "intersectional", "split protocol: only 'intersectional' (random 60/20/20 per "
                   "seed)", choices=("intersectional",)),
             Param("bias_ratio", float, 0.9, "share of each digit class drawn in its own colour", check=check_ratio),
             Param("max_rows", int, 30000, "rows drawn at random from the 60,000 training images before splitting",
                   check=_between(1000, MNIST_TRAIN_ROWS)),
             Param("n_components", int, 64, "principal components of the coloured pixels, fitted on the training "
                   "split", check=_between(2, 512)),
             Param("colour_groups", int, 2, "2: colour ids 0-4 vs 5-9, the label the colour stands for; 10: every "
                   "colour id", choices=(2, 10)))))
