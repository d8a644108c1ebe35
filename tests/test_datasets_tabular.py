"""Tabular loaders on the real files (DATASETS.md section 2) and the TabularEncoder."""
import json

import numpy as np
import pandas as pd
import pytest

from fairdistill import datasets as D
from fairdistill.datasets import tabular
from fairdistill.datasets.encoding import TabularEncoder, equal_width_edges
from fairdistill.errors import ConfigError, MissingDataError


def _all(name, data_dir, **kw):
    sp = D.load_splits(name, data_dir=data_dir, **kw)
    assert set(sp) == {"train", "valid", "test"}
    return sp


def _cat(sp, attr):
    return np.concatenate([getattr(sp[k], attr) for k in ("train", "valid", "test")])


# ----------------------------------------------------------------------------------------------- counts
@pytest.mark.parametrize("name, kw, n, n_pos, n_s1", [
    ("adult", {}, 48842, 11687, 32650),
    ("adult", {"protocol": "fwc"}, 48842, 11687, 32650),
    ("compas", {}, 6172, 2809, 3175),
    ("compas", {"variant": "compas_binary_race"}, 5278, None, 3175),
    ("compas", {"protocol": "fair4free"}, 7214, None, None),
    ("german", {}, 1000, 700, 690),
    ("german", {"sensitive": ["age"]}, 1000, 700, 851),
    ("crime", {}, 1994, 708, 970),
    ("drug", {}, 1885, 1472, 943),
])
def test_row_counts(data_dir, name, kw, n, n_pos, n_s1):
    sp = _all(name, data_dir, **kw)
    y, s = _cat(sp, "y"), _cat(sp, "s")
    assert len(y) == n
    if n_pos is not None:
        assert y.sum() == n_pos
    if n_s1 is not None:
        assert s[:, 0].sum() == n_s1


def test_rates_match_spec(data_dir):
    assert _cat(_all("adult", data_dir), "y").mean() == pytest.approx(0.239, abs=5e-4)
    assert _cat(_all("compas", data_dir), "y").mean() == pytest.approx(0.455, abs=5e-4)
    assert _cat(_all("compas", data_dir, variant="compas_binary_race"), "y").mean() == pytest.approx(0.470, abs=5e-4)


def test_adult_official_split_sizes(data_dir):
    sp = _all("adult", data_dir)
    assert len(sp["train"]) + len(sp["valid"]) == 32561 and len(sp["test"]) == 16281
    # valid is 10% of each (y, s) stratum of the official training file
    tr, va = sp["train"], sp["valid"]
    for yv in (0, 1):
        for sv in (0, 1):
            a = np.sum((tr.y == yv) & (tr.s[:, 0] == sv))
            b = np.sum((va.y == yv) & (va.s[:, 0] == sv))
            assert abs(b - 0.1 * (a + b)) <= 0.5
    f4f = _all("adult", data_dir, protocol="fair4free")
    assert len(f4f["test"]) == 16281
    assert len(_all("adult", data_dir, protocol="fair4free", split="random")["test"]) == round(0.2 * 48842)


def test_protocol_fractions(data_dir):
    fwc = _all("drug", data_dir, protocol="fwc")
    n = 1885
    assert len(fwc["test"]) == round(0.25 * n)
    assert abs(len(fwc["valid"]) - 0.1 * (n - len(fwc["test"]))) <= 4  # rounding per stratum
    inter = _all("german", data_dir, protocol="intersectional", sensitive=["sex", "age"])
    assert [len(inter[k]) for k in ("train", "valid", "test")] == [600, 200, 200]
    f4f = _all("compas", data_dir, protocol="fair4free")
    assert len(f4f["test"]) == round(0.2 * 7214)


# ----------------------------------------------------------------------------------------------- sensitive
def test_sensitive_column_not_in_features(data_dir):
    tr = D.load("adult", data_dir=data_dir, sensitive=["sex"])
    assert not any(f.startswith("sex") for f in tr.feature_names)
    assert any(f.startswith("race=") for f in tr.feature_names)  # other candidate axes stay as features
    assert "age" in tr.feature_names
    tr2 = D.load("adult", data_dir=data_dir, sensitive=["sex", "race"])
    assert tr2.s.shape == (len(tr2), 2) and tr2.sensitive_names == ["sex", "race"]
    assert not any(f.startswith(("sex", "race")) for f in tr2.feature_names)
    assert tr2.X.shape[1] == len(tr2.feature_names) == tr2.meta["encoder"].n_features
    g = D.load("german", data_dir=data_dir, sensitive=["age"])
    assert "age" not in g.feature_names and "sex=male" in g.feature_names
    assert not any(f.startswith("personal_status_sex") for f in g.feature_names)
    c = D.load("compas", data_dir=data_dir, sensitive=["race", "sex", "age"])
    assert not any(f.split("=")[0] in ("race", "sex", "age") for f in c.feature_names)
    assert not any("score" in f or "recid" in f for f in c.feature_names)


def test_sensitive_codes_match_raw_columns(data_dir):
    sp = _all("adult", data_dir, sensitive=["sex", "race", "race_black", "age"])
    raw = tabular._read_adult(data_dir)
    med = np.median(raw["age"].to_numpy()[~raw["official_test"].to_numpy()])
    for k, d in sp.items():
        r = raw.iloc[d.meta["rows"]]
        assert np.array_equal(d.s[:, 0], (r["sex"] == "Male").to_numpy())
        assert np.array_equal(d.s[:, 1], (r["race"] == "White").to_numpy())
        assert np.array_equal(d.s[:, 2], (r["race"] == "Black").to_numpy())
        assert np.array_equal(d.s[:, 3], (r["age"] >= med).to_numpy())
        assert np.array_equal(d.y, (r["income"] == ">50K").to_numpy())
    assert med == 37
    assert sp["train"].sensitive_values[0] == ["Female", "Male"]
    assert sp["train"].sensitive_values[3] == ["age<37", "age>=37"]


# ----------------------------------------------------------------------------------------------- splits
@pytest.mark.parametrize("name, kw", [("adult", {}), ("compas", {}), ("crime", {"protocol": "intersectional"}),
                                      ("adult", {"protocol": "fwc"})])
def test_splits_disjoint_and_cover(data_dir, name, kw):
    sp = _all(name, data_dir, **kw)
    rows = [sp[k].meta["rows"] for k in ("train", "valid", "test")]
    allrows = np.concatenate(rows)
    assert len(np.unique(allrows)) == len(allrows) == sum(len(sp[k]) for k in sp)
    assert allrows.min() == 0 and allrows.max() == len(allrows) - 1


def test_seed_controls_split(data_dir):
    a = D.load_splits("compas", data_dir=data_dir, seed=1)
    b = D.build_splits("compas", data_dir=data_dir, seed=1, sensitive=["race"])  # bypasses the cache
    c = D.load_splits("compas", data_dir=data_dir, seed=2)
    for k in ("train", "valid", "test"):
        assert np.array_equal(a[k].meta["rows"], b[k].meta["rows"])
        np.testing.assert_array_equal(a[k].X, b[k].X)
    assert not np.array_equal(a["test"].meta["rows"], c["test"].meta["rows"])
    # the official Adult test split does not depend on the seed, its train/valid split does
    a1, a2 = D.load_splits("adult", data_dir=data_dir, seed=1), D.load_splits("adult", data_dir=data_dir, seed=2)
    assert np.array_equal(a1["test"].meta["rows"], a2["test"].meta["rows"])
    assert not np.array_equal(a1["valid"].meta["rows"], a2["valid"].meta["rows"])


def test_encoder_fitted_on_train_only(data_dir):
    sp = _all("crime", data_dir)
    X = sp["train"].X
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-4)
    sd = X.std(0)
    assert np.all((np.abs(sd - 1) < 1e-3) | (sd == 0))
    assert abs(sp["test"].X.mean()) > 1e-4  # test rows are not re-standardised


# ----------------------------------------------------------------------------------------------- encoder
def test_encoder_roundtrip_real(data_dir):
    sp = _all("adult", data_dir, sensitive=["sex"])
    enc = sp["test"].meta["encoder"]
    raw = tabular._read_adult(data_dir).iloc[sp["test"].meta["rows"]].reset_index(drop=True)
    dec = enc.decode(sp["test"].X)
    assert list(dec.columns) == enc.column_names
    for col in ("age", "capital-gain", "hours-per-week"):  # integer columns decode exactly
        np.testing.assert_array_equal(dec[col].to_numpy(float), raw[col].to_numpy(float))
    crime = _all("crime", data_dir)["test"]
    cdec = crime.meta["encoder"].decode(crime.X)
    craw = pd.read_csv(data_dir / "communities_crime" / "communities.data", header=None, na_values="?")
    np.testing.assert_allclose(cdec.iloc[:, 0].to_numpy(float), craw.iloc[crime.meta["rows"], 5], atol=1e-5)
    assert (dec["native-country"] == raw["native-country"]).all()
    odd = raw.head(3).assign(**{"native-country": "Atlantis"})
    assert enc.decode(enc.transform(odd))["native-country"].isna().all()  # unseen -> all-zero block -> None
    assert (dec["workclass"] == raw["workclass"]).all()  # "?" is its own category
    # JSON round trip keeps the encoding exactly
    enc2 = TabularEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    assert enc2 == enc and enc2.feature_names == enc.feature_names
    np.testing.assert_array_equal(enc2.transform(raw), sp["test"].X)


def test_encoder_small_table():
    df = pd.DataFrame({"a": [1.0, 3.0, 5.0, np.nan], "b": ["x", "y", "?", "x"], "c": [0.0, 10.0, 20.0, 40.0],
                       "k": [7.0, 7.0, 7.0, 7.0]})
    enc = TabularEncoder().fit(df, numeric=["a", "k"], categorical=["b"], binned={"c": [0.0, 20.0, 40.0]})
    X = enc.transform(df)
    assert enc.feature_names == ["a", "k", "b=?", "b=x", "b=y", "c=[0, 20]", "c=(20, 40]"]
    sd = np.std([1.0, 3.0, 5.0])
    np.testing.assert_allclose(X[:, 0], [(1 - 3) / sd, 0, (5 - 3) / sd, 0], rtol=1e-6)  # NaN -> median 3
    np.testing.assert_array_equal(X[:, 1], 0)  # std 0 -> 1, value - mean = 0
    np.testing.assert_array_equal(X[:, 2:5], [[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(X[:, 5:], [[1, 0], [1, 0], [1, 0], [0, 1]])  # right-closed bins
    assert [b[0] for b in enc.blocks] == ["a", "k", "b", "c"]
    assert enc.blocks[2][1:] == ("categorical", slice(2, 5), ["?", "x", "y"])
    dec = enc.decode(X)
    np.testing.assert_allclose(dec["a"], [1, 3, 5, 3])  # rounded: training values were whole
    assert list(dec["b"]) == ["x", "y", "?", "x"]
    np.testing.assert_allclose(dec["c"], [10, 10, 10, 30])  # bin midpoints
    assert list(enc.decode(X, binned="label")["c"]) == ["[0, 20]"] * 3 + ["(20, 40]"]
    unseen = enc.transform(pd.DataFrame({"a": [1.0], "b": ["z"], "c": [99.0], "k": [7.0]}))
    np.testing.assert_array_equal(unseen[0, 2:5], 0)
    assert enc.decode(unseen)["b"][0] is None
    assert unseen[0, 6] == 1  # beyond the last edge -> last bin


def test_decode_rules_for_centres_and_signed_zero(tmp_path):
    """Coreset centres are not one-hot: a block decodes to its largest entry (the first on ties), only an all-zero
    block is blank; a numeric 0 is written 0.0, never -0.0 (FWC's synthetic.csv had both)."""
    df = pd.DataFrame({"a": [1.0, 3.0, 5.0], "b": ["x", "y", "z"], "c": [0.0, 10.0, 40.0]})
    enc = TabularEncoder().fit(df, numeric=["a"], categorical=["b"], binned={"c": [0.0, 20.0, 40.0]})
    sd = np.std([1.0, 3.0, 5.0])
    X = np.array([[-3.4 / sd, 1, 0, 0, 1, 0],          # exact one-hot rows decode as before
                  [-3.1 / sd, 0, 0, 1, 0, 1],
                  [-3.0 / sd, 0.2, 0.5, 0.3, 0.4, 0.6],  # a mean centre: the largest entry
                  [-2.8 / sd, 0.5, 0.5, 0, 0.5, 0.5],    # ties: the first
                  [0.0, 0, 0, 0, 0, 0],                   # a median centre with no majority: blank
                  [0.0, -0.0, 0, 0, -0.0, 0]])            # -0.0 entries are zeros
    dec = enc.decode(X)
    assert list(dec["b"])[:4] == ["x", "z", "y", "x"] and dec["b"].isna().tolist() == [False] * 4 + [True] * 2
    assert dec["c"].tolist()[:4] == [10.0, 30.0, 30.0, 10.0] and np.isnan(dec["c"].tolist()[4:]).all()
    assert dec["a"].tolist()[:4] == [0.0, 0.0, 0.0, 0.0]  # 3 - 3.4 etc. round to (negative) zero
    assert not np.signbit(dec["a"].to_numpy()[:4]).any()
    dec.to_csv(tmp_path / "d.csv", index=False)
    assert "-0.0" not in (tmp_path / "d.csv").read_text()


def test_fair4free_all_categorical(data_dir):
    tr = D.load("adult", data_dir=data_dir, protocol="fair4free")
    enc = tr.meta["encoder"]
    assert all(kind == "categorical" for _, kind, _, _ in enc.blocks)
    sizes = {col: sl.stop - sl.start for col, _, sl, _ in enc.blocks}
    assert sizes["age"] == 8 and sizes["hours-per-week"] == 8 and sizes["fnlwgt"] <= 8
    assert sizes["capital-gain"] == 2 and sizes["capital-loss"] == 2
    np.testing.assert_array_equal(tr.X.sum(1), len(enc.blocks))  # exactly one hot per block (train)
    edges = equal_width_edges(tabular._read_adult(data_dir)["age"], 8)
    assert edges[0] == 17 and edges[-1] == 90
    c = D.load("compas", data_dir=data_dir, protocol="fair4free")
    cols = [b[0] for b in c.meta["encoder"].blocks]
    assert cols == ["sex", "age_cat", "priors_count", "c_charge_degree", "age"]
    assert c.meta["encoder"].blocks[2][3] == [str(i) for i in range(10)]  # capped at 9
    cf = D.load("compas", data_dir=data_dir, protocol="fair4free", faithful=True)
    assert "decile_score.1" in [b[0] for b in cf.meta["encoder"].blocks]


# ----------------------------------------------------------------------------------------------- errors
def test_bad_options_raise(data_dir):
    with pytest.raises(ConfigError, match="bogus"):
        D.load("adult", data_dir=data_dir, bogus=1)
    with pytest.raises(ConfigError, match="gender"):
        D.load("adult", data_dir=data_dir, sensitive=["gender"])
    with pytest.raises(ConfigError, match="bogus"):
        D.build_splits("compas", data_dir=data_dir, sensitive=["race"], bogus=1)
    with pytest.raises(ConfigError, match="nope"):
        D.build_splits("german", data_dir=data_dir, sensitive=["nope"])
    with pytest.raises(ConfigError, match="fair4free"):
        D.load("german", data_dir=data_dir, protocol="fair4free")
    with pytest.raises(ConfigError, match="variant"):
        D.load("compas", data_dir=data_dir, variant="compas2")


def test_missing_file_message(tmp_path, monkeypatch):
    env, cache = tmp_path / "env", tmp_path / "cache"
    env.mkdir()
    cache.mkdir()
    monkeypatch.setenv("FAIRDISTILL_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    with pytest.raises(MissingDataError) as err:
        D.build_splits("german", sensitive=["sex"])
    msg = str(err.value)
    assert "german/german.data" in msg and str(env) in msg and str(cache / "fairdistill") in msg
    assert "download german" in msg and "\n" not in msg


def _link_dataset(root, data_dir, folder, names):
    (root / folder).mkdir(parents=True, exist_ok=True)
    for n in names:
        (root / folder / n).symlink_to(data_dir / folder / n)


@pytest.mark.parametrize("kind", ["missing", "file", "empty", "other dataset"])
def test_explicit_data_dir_is_the_only_place_searched(tmp_path, monkeypatch, data_dir, kind):
    """An explicit data_dir that lacks the dataset is an error naming that folder and the file, even when
    $FAIRDISTILL_DATA or the cache has it (it used to fall back to them without a word)."""
    _link_dataset(tmp_path / "cache" / "fairdistill", data_dir, "german", ["german.data"])
    monkeypatch.setenv("FAIRDISTILL_DATA", str(data_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    given = tmp_path / "given"
    if kind == "file":
        given.write_text("not a folder")
    elif kind == "empty":
        given.mkdir()
    elif kind == "other dataset":
        _link_dataset(given, data_dir, "adult", ["adult.data", "adult.test"])
    for fn in (D.build_splits, D.load_splits):
        with pytest.raises(MissingDataError) as err:
            fn("german", data_dir=given)
        msg = str(err.value)
        assert msg.startswith(f"missing file 'german/german.data' for dataset german: looked only in data_dir (--data-dir) "
                              f"{given}") and "\n" not in msg
        assert str(data_dir) not in msg and str(tmp_path / "cache") not in msg
        assert ("no such folder" in msg) == (kind == "missing") and ("not a folder" in msg) == (kind == "file")
    assert not D.files_present("german", given) and D.files_present("german")
    assert len(D.load("german", data_dir=tmp_path / "cache" / "fairdistill")) > 0  # the right folder works


def test_all_files_of_a_dataset_come_from_one_root(tmp_path, monkeypatch, data_dir):
    env, cache = tmp_path / "env", tmp_path / "cache"
    monkeypatch.setenv("FAIRDISTILL_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    # the env root has only one of Adult's two files, the cache the other: no root has the dataset
    _link_dataset(env, data_dir, "adult", ["adult.data"])
    _link_dataset(cache / "fairdistill", data_dir, "adult", ["adult.test"])
    with pytest.raises(MissingDataError) as err:
        D.build_splits("adult")
    msg = str(err.value)
    assert "'adult/adult.test'" in msg and "must be in one of these folders" in msg and "\n" not in msg
    assert not D.files_present("adult")
    # the env root has a (corrupt) copy of one file, the cache has both: everything is read from the cache
    (env / "adult" / "adult.data").unlink()
    (env / "adult" / "adult.test").write_text("not the published file")
    _link_dataset(cache / "fairdistill", data_dir, "adult", ["adult.data"])
    assert D.files_present("adult")
    got = D.build_splits("adult")["test"]
    assert np.array_equal(got.X, D.load("adult", "test", data_dir=data_dir).X)


def test_checksum_mismatch(tmp_path, data_dir):
    (tmp_path / "drug_consumption").mkdir()
    src = (data_dir / "drug_consumption" / "drug_consumption.data").read_bytes()
    (tmp_path / "drug_consumption" / "drug_consumption.data").write_bytes(src.replace(b"CL6", b"CL5", 1))
    with pytest.raises(MissingDataError, match="drug_consumption.data.*checksum"):
        D.build_splits("drug", data_dir=tmp_path, sensitive=["gender"])


def test_registry_entries():
    for name in ("adult", "compas", "german", "crime", "drug"):
        sp = D.spec(name)
        assert sp.modality == "tabular" and sp.default_sensitive[0] in sp.sensitive
        assert all(f.sha256 and f.url for f in sp.files)
        assert "protocol" in [p.name for p in sp.options]


def test_boolean_options(data_dir):
    drug = D.load("drug", data_dir=data_dir)
    with_eth = D.load("drug", data_dir=data_dir, include_ethnicity="true")
    assert "Ethnicity" not in drug.feature_names and "Ethnicity" in with_eth.feature_names
    assert D.load("drug", data_dir=data_dir, include_ethnicity="false").feature_names == drug.feature_names
    with pytest.raises(ConfigError, match="include_ethnicity"):
        D.load("drug", data_dir=data_dir, include_ethnicity="maybe")
