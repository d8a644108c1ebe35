"""cmnist-pca (Colored-MNIST PCA features with colour x thickness) and its place in the intersectional benchmark.

Every property is recomputed independently from the MNIST IDX files and the palette: the coloured pixels, the PCA
fitted on the training rows only, the per-digit ink medians, and the colour/label association set by bias_ratio.
"""
import json

import numpy as np
import pytest

from fairdistill.datasets import build_splits, load_splits
from fairdistill.datasets.images import PALETTE, _read_idx_split
from fairdistill.errors import ConfigError

ROWS, K, SEED = 3000, 16, 3


@pytest.fixture(scope="module")
def mnist(data_dir):
    if not (data_dir / "mnist" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("MNIST IDX files absent from the data folder")
    grey, digits = _read_idx_split("mnist", "train", data_dir)
    return grey, digits


@pytest.fixture(scope="module")
def splits(data_dir, mnist):
    return build_splits("cmnist-pca", data_dir=data_dir, seed=SEED, max_rows=ROWS, n_components=K)


def _pool(splits, key):
    return np.concatenate([splits[sp].meta[key] for sp in ("train", "valid", "test")])


def _pixels(d, grey):
    """The cmnist-fg image of every row from the grey IDX image and the colour id: 2 px zero padding, pixels >= 128
    take the palette colour, the rest stay black; flattened as 3 x 32 x 32 / 255."""
    g = np.zeros((len(d), 32, 32), dtype=np.uint8)
    g[:, 2:30, 2:30] = grey[d.meta["source_index"]]
    col = PALETTE[d.meta["colour_id"]].astype(np.float64) / 255.0  # N x 3
    return ((g[:, None] >= 128) * col[:, :, None, None]).reshape(len(d), -1)


def test_shapes_split_sizes_and_labels(splits, mnist):
    _, digits = mnist
    sizes = {sp: len(d) for sp, d in splits.items()}
    assert sum(sizes.values()) == ROWS and sizes["test"] == ROWS // 5 and sizes["valid"] == ROWS // 5
    rows = np.concatenate([d.meta["rows"] for d in splits.values()])
    assert np.array_equal(np.sort(rows), np.arange(ROWS))  # a partition of the drawn rows
    src = _pool(splits, "source_index")
    assert len(np.unique(src)) == ROWS
    for d in splits.values():
        assert d.X.shape == (len(d), K) and d.X.dtype == np.float32 and d.modality == "tabular"
        assert d.s.shape == (len(d), 2) and d.sensitive_names == ["colour", "thickness"]
        assert set(np.unique(d.s[:, 0])) == {0, 1} and set(np.unique(d.s[:, 1])) == {0, 1}
        assert np.array_equal(d.meta["digit"], digits[d.meta["source_index"]])  # the IDX label of the image
        assert np.array_equal(d.y, (d.meta["digit"] >= 5).astype(int))


def test_pca_is_fitted_on_the_training_split_only(splits, mnist):
    grey, _ = mnist
    tr = splits["train"]
    mean, comps = tr.meta["pca_mean"], tr.meta["pca_components"]
    P = {sp: _pixels(d, grey) for sp, d in splits.items()}
    np.testing.assert_allclose(mean, P["train"].mean(0), atol=1e-6)  # the training rows' mean pixel, not the pool's
    assert np.abs(P["test"].mean(0) - mean).max() > 1e-3
    np.testing.assert_allclose(comps @ comps.T, np.eye(K), atol=1e-4)
    for sp, d in splits.items():  # x = V^T (p - mean_train)
        np.testing.assert_allclose(d.X, (P[sp] - mean) @ comps.T, atol=2e-4)
    assert np.abs(tr.X.mean(0)).max() < 1e-4 and np.abs(splits["test"].X.mean(0)).max() > 1e-3
    # the leading directions of the training covariance: the projected variances are its top eigenvalues (those of
    # the n x n Gram matrix of the centred rows, the same nonzero spectrum, cheaper than the D x D covariance)
    Z = P["train"] - P["train"].mean(0)
    gram = Z @ Z.T / len(Z)
    top = np.linalg.eigvalsh(gram)[::-1][:K]
    np.testing.assert_allclose(tr.X.var(0), top, rtol=0.02)
    np.testing.assert_allclose(tr.meta["pca_explained_variance_ratio"], top / np.trace(gram), rtol=0.02)


def test_thickness_splits_every_digit_class_at_its_median(splits, mnist):
    grey, _ = mnist
    pool = {sp: d for sp, d in splits.items() if sp != "test"}
    ink = {sp: (_pixels(d, grey).reshape(len(d), 3, -1).max(1) > 0).sum(1) for sp, d in splits.items()}
    for sp, d in splits.items():
        assert np.array_equal(ink[sp], d.meta["ink"])  # coloured pixels = grey >= 128
    fit_ink = np.concatenate([ink[sp] for sp in pool])
    fit_digit = np.concatenate([d.meta["digit"] for d in pool.values()])
    for k in range(10):
        med = np.median(fit_ink[fit_digit == k])
        assert splits["train"].meta["thickness_medians"][k] == med
        for sp, d in splits.items():
            m = d.meta["digit"] == k
            assert np.array_equal(d.s[m, 1], (ink[sp][m] >= med).astype(int))
        # the median splits the class: at least half at or above it, at most half strictly above it
        in_k = fit_ink[fit_digit == k]
        assert (in_k >= med).mean() >= 0.5 >= (in_k > med).mean()


def test_colour_follows_the_digit_at_bias_ratio(data_dir, mnist):
    for rho in (0.9, 0.6):
        d = build_splits("cmnist-pca", data_dir=data_dir, seed=1, max_rows=6000, n_components=4, bias_ratio=rho)
        digit, cid = _pool(d, "digit"), _pool(d, "colour_id")
        colour = np.concatenate([x.s[:, 0] for x in d.values()])
        y = np.concatenate([x.y for x in d.values()])
        n = len(digit)
        tol = 4 * np.sqrt(rho * (1 - rho) / n)
        assert abs((cid == digit).mean() - rho) < tol
        assert np.array_equal(colour, (cid >= 5).astype(int))
        # a wrong colour is one of the nine others, four of which stand for the same label half
        assert abs((colour == y).mean() - (rho + (1 - rho) * 4 / 9)) < tol
    ten = build_splits("cmnist-pca", data_dir=data_dir, seed=1, max_rows=2000, n_components=4, colour_groups=10)
    for x in ten.values():
        assert np.array_equal(x.s[:, 0], x.meta["colour_id"]) and len(x.sensitive_values[0]) == 10


def test_loading_is_deterministic_per_seed(splits, data_dir):
    again = build_splits("cmnist-pca", data_dir=data_dir, seed=SEED, max_rows=ROWS, n_components=K)
    other = build_splits("cmnist-pca", data_dir=data_dir, seed=SEED + 1, max_rows=ROWS, n_components=K)
    for sp in splits:
        assert np.array_equal(again[sp].X, splits[sp].X) and np.array_equal(again[sp].s, splits[sp].s)
        assert np.array_equal(again[sp].meta["source_index"], splits[sp].meta["source_index"])
    assert not np.array_equal(other["train"].meta["source_index"], splits["train"].meta["source_index"])


@pytest.mark.parametrize("options, match", [
    ({"protocol": "standard"}, "protocol"), ({"max_rows": 10}, "max_rows"), ({"max_rows": "many"}, "max_rows"),
    ({"n_components": 0}, "n_components"), ({"colour_groups": 3}, "colour_groups"),
    ({"bias_ratio": 1.5}, "bias_ratio"), ({"colours": 2}, "unknown option")])
def test_bad_options_raise_one_line_config_errors(options, match, data_dir):
    with pytest.raises(ConfigError, match=match) as err:
        load_splits("cmnist-pca", data_dir=data_dir, **options)
    assert "\n" not in str(err.value)


def test_quick_benchmark_on_cmnist_pca(tmp_path, data_dir, mnist):
    from fairdistill.bench.intersectional import DATA_OPTIONS, run
    res = run(tmp_path, data_dir=data_dir, quick=True, device="cpu", datasets="cmnist-pca")
    runs = res["cmnist-pca"]["runs"]
    assert runs["equal-sampling"][0]["train_rows"] == runs["aug-reference"][0]["train_rows"] == 2 * 50 * 4
    assert runs["erm"][0]["train_rows"] == DATA_OPTIONS["cmnist-pca"]["max_rows"] * 3 // 5
    for rows in runs.values():
        assert len(rows[0]["group_tpr"]) == 4
        assert np.isclose(rows[0]["df"], np.log(rows[0]["best_tpr"] / rows[0]["worst_tpr"]))
    doc = json.loads((tmp_path / "intersectional.json").read_text())
    assert doc["config"]["data_options"]["cmnist-pca"] == DATA_OPTIONS["cmnist-pca"]
    assert "colour x thickness" in (tmp_path / "intersectional.md").read_text()


def test_resume_reruns_a_dataset_whose_options_changed(tmp_path, data_dir, mnist, monkeypatch):
    from fairdistill.bench import intersectional as B
    B.run(tmp_path, data_dir=data_dir, quick=True, device="cpu", datasets="cmnist-pca", methods="erm")
    path = tmp_path / "intersectional.json"
    doc = json.loads(path.read_text())
    doc["results"]["cmnist-pca"]["runs"]["erm"][0]["marker"] = "kept"
    path.write_text(json.dumps(doc))
    same = B.run(tmp_path, data_dir=data_dir, quick=True, device="cpu", datasets="cmnist-pca", methods="erm",
                 resume=True)
    assert same["cmnist-pca"]["runs"]["erm"][0]["marker"] == "kept"
    monkeypatch.setitem(B.DATA_OPTIONS, "cmnist-pca", dict(B.DATA_OPTIONS["cmnist-pca"], max_rows=5000))
    new = B.run(tmp_path, data_dir=data_dir, quick=True, device="cpu", datasets="cmnist-pca", methods="erm",
                resume=True)
    assert "marker" not in new["cmnist-pca"]["runs"]["erm"][0]
    assert new["cmnist-pca"]["runs"]["erm"][0]["train_rows"] == 3000
