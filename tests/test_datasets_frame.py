"""Your own table: ``datasets.from_frame`` and the ``csv`` dataset (split, encoding, codes, errors)."""
import warnings

import numpy as np
import pandas as pd
import pytest

from fairdistill import datasets
from fairdistill.errors import ConfigError, DataError, MissingDataError

# table() has missing values on purpose; the warnings they raise are checked in test_filled_and_dropped_values_...
pytestmark = pytest.mark.filterwarnings("ignore:.*(filled with the training median|become the category 'nan'|"
                                        "rows have no target or sensitive value)")


def table(n=400, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["f", "m"], n)
    region = rng.choice(["north", "south", "west"], n)
    age = rng.integers(18, 70, n).astype(float)
    age[:7] = np.nan  # missing numerics are filled, not dropped
    job = rng.choice(["a", "b", None], n)
    label = np.where(rng.random(n) < 0.3 + 0.2 * (sex == "m"), "yes", "no")
    return pd.DataFrame({"age": age, "job": job, "sex": sex, "region": region, "hired": label})


def test_to_frame_gives_back_the_original_rows():
    """to_frame decodes a split to the frame's own columns and values (meta["rows"] says which rows it holds)."""
    df = table()
    train = datasets.from_frame(df, "hired", ["sex", "region"], seed=3)["train"]
    back, r = train.to_frame(), train.meta["rows"]
    orig = df.iloc[r].reset_index(drop=True)
    for col in ("sex", "region", "hired"):
        assert back[col].tolist() == orig[col].tolist()
    known = orig["age"].notna().to_numpy()  # missing ages were median-filled
    assert np.allclose(back["age"].to_numpy(float)[known], orig["age"].to_numpy(float)[known], atol=1e-4)
    assert (back["weight"] == 1).all() and "origin" not in back
    train.modality = "image"  # (a 2-D X is no image; only the refusal is checked)
    with pytest.raises(DataError, match="to_frame is for tabular data"):
        train.to_frame()


def test_a_table_too_small_for_three_splits_is_refused():
    """14 rows gave train / valid / test of 10 / 0 / 4 and a failure only at evaluation time."""
    with pytest.raises(DataError, match=r"^frame: 14 rows leave the valid split empty \(train 10, valid 0, test 4\)"):
        datasets.from_frame(table().iloc[:14], "hired", ["sex"], seed=0)


def test_numeric_sensitive_values_are_coded_in_numeric_order():
    df = table()
    df["grp"] = np.tile([1, 2, 10], len(df) // 3 + 1)[:len(df)]
    train = datasets.from_frame(df, "hired", ["grp"], seed=3)["train"]
    assert train.sensitive_values == [["1", "2", "10"]]  # was text order: code 1 meant "10"
    assert np.array_equal(np.array([1, 2, 10])[train.s[:, 0]], df["grp"].to_numpy()[train.meta["rows"]])


def test_from_frame_codes_splits_and_encoding():
    df = table()
    sp = datasets.from_frame(df, "hired", ["sex", "region"], seed=3)
    train, valid, test = sp["train"], sp["valid"], sp["test"]
    assert len(test) == 100 and len(train) + len(valid) == 300 and abs(len(valid) - 30) <= 3
    rows = np.concatenate([d.meta["rows"] for d in sp.values()])
    assert sorted(rows) == list(range(400))  # a partition of the rows
    for d in sp.values():  # y and s from the frame, independently: positive = "yes" (second of two, sorted)
        r = d.meta["rows"]
        assert np.array_equal(d.y, (df["hired"].to_numpy()[r] == "yes").astype(int))
        assert np.array_equal(d.s[:, 0], (df["sex"].to_numpy()[r] == "m").astype(int))
        assert np.array_equal(d.s[:, 1], pd.Categorical(df["region"], ["north", "south", "west"]).codes[r])
    assert train.sensitive_names == ["sex", "region"] and train.sensitive_values[1] == ["north", "south", "west"]
    assert train.class_names == ["no", "yes"]  # the other value, not "not yes"
    names = train.feature_names
    assert not any(n.startswith(("sex", "region", "hired")) for n in names)  # sensitive and target not in X
    assert "age" in names and any(n.startswith("job") for n in names)  # numeric kept, categorical one-hot
    assert np.isfinite(train.X).all()
    age = train.X[:, names.index("age")]
    assert abs(age.mean()) < 0.05  # z-scored with training statistics (median-filled rows shift it slightly)
    again = datasets.from_frame(df, "hired", ["sex", "region"], seed=3)["test"]
    assert np.array_equal(again.X, test.X)


def test_from_frame_positive_and_categorical_options():
    df = table()
    df["grade"] = np.random.default_rng(1).integers(1, 4, len(df))
    sp = datasets.from_frame(df, "grade", "sex", positive=3, categorical=["age"])
    d = sp["train"]
    assert np.array_equal(d.y, (df["grade"].to_numpy()[d.meta["rows"]] == 3).astype(int))
    assert "age" not in d.feature_names and any(n.startswith("age") for n in d.feature_names)  # one-hot now


@pytest.mark.parametrize("kwargs,error,fragment", [
    (dict(target="nope", sensitive="sex"), DataError, "not in the table"),
    (dict(target="region", sensitive="sex"), ConfigError, "give positive=VALUE"),
    (dict(target="hired", sensitive="hired"), ConfigError, "both the target and a sensitive column"),
    (dict(target="hired", sensitive=[]), ConfigError, "at least one sensitive column"),
    (dict(target="hired", sensitive="age"), ConfigError, "bin it first"),
    (dict(target="hired", sensitive="sex", positive="maybe"), DataError, "rows of both classes"),
    (dict(target="hired", sensitive="sex", protocol="fwc"), ConfigError, "'standard' or 'intersectional'"),
])
def test_from_frame_bad_input(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        datasets.from_frame(table(), **kwargs)


def test_single_valued_sensitive_column():
    df = table()
    df["country"] = "x"
    with pytest.raises(DataError, match="single value"):
        datasets.from_frame(df, "hired", "country")
    with pytest.raises(DataError, match="target 'country' has the single value 'x' on every row"):  # not positive=
        datasets.from_frame(df, "country", "sex")


def test_csv_dataset_reads_a_file_and_records_where(tmp_path, monkeypatch):
    table().to_csv(tmp_path / "t.csv", index=False)
    monkeypatch.chdir(tmp_path)
    d = datasets.load("csv", "train", sensitive=["sex"], path="t.csv", target="hired")
    assert d.meta["path"] == str(tmp_path / "t.csv") and len(d.meta["sha256"]) == 64
    direct = datasets.from_frame(pd.read_csv(tmp_path / "t.csv"), "hired", "sex")["train"]
    assert np.array_equal(d.X, direct.X) and np.array_equal(d.y, direct.y)
    with pytest.raises(ConfigError, match="--sensitive COL"):
        datasets.load("csv", path="t.csv", target="hired")
    with pytest.raises(MissingDataError, match="does not exist"):
        datasets.load("csv", sensitive=["sex"], path="missing.csv", target="hired")
    with pytest.raises(ConfigError, match="needs --data-option path=FILE"):
        datasets.load("csv", sensitive=["sex"])
    with pytest.raises(ConfigError, match=f"csv path {tmp_path} is a folder; give path=FILE"):
        datasets.load("csv", sensitive=["sex"], path=str(tmp_path), target="hired")
    table().head(0).to_csv(tmp_path / "empty.csv", index=False)  # a header, no rows
    with pytest.raises(DataError, match="the table has no rows"):
        datasets.load("csv", sensitive=["sex"], path="empty.csv", target="hired")
    table().to_csv(tmp_path / "semi.csv", index=False, sep=";")  # another separator: one column, named by the hint
    with pytest.raises(DataError, match="reads as one column .* its separator looks like ';': give --data-option "
                                        "sep=';'"):
        datasets.load("csv", sensitive=["sex"], path="semi.csv", target="hired")
    assert len(datasets.load("csv", "train", sensitive=["sex"], path="semi.csv", target="hired", sep=";")) == len(d)
    table().to_csv(tmp_path / "tabs.csv", index=False, sep="\t")  # a tab, as a shell passes it: backslash, t
    with pytest.raises(DataError, match=r"its separator looks like '\\t'"):
        datasets.load("csv", sensitive=["sex"], path="tabs.csv", target="hired")
    assert len(datasets.load("csv", "train", sensitive=["sex"], path="tabs.csv", target="hired", sep="\\t")) == len(d)


@pytest.mark.parametrize("positive", [1, "1", 1.0, None])
def test_a_numeric_target_is_compared_by_value(positive):
    """df.hired.astype(float) with positive=1 failed: '1.0' was compared with '1'."""
    df = table()
    df["hired"] = (df["hired"] == "yes").astype(float)
    d = datasets.from_frame(df, "hired", "sex", positive=positive)["train"]
    assert np.array_equal(d.y, df["hired"].to_numpy()[d.meta["rows"]].astype(int))
    assert d.class_names == ["0", "1"] and d.meta["positive_class"] == "1"


def test_class_names_are_the_two_values_or_not_p_for_more():
    df = table()
    df["grade"] = np.random.default_rng(1).integers(1, 4, len(df))
    assert datasets.from_frame(df, "grade", "sex", positive=3)["train"].class_names == ["not 3", "3"]
    assert datasets.from_frame(df, "hired", "sex", positive="no")["train"].class_names == ["yes", "no"]


def test_categorical_may_be_one_name_and_column_names_become_text():
    df = table()
    df["level"] = np.random.default_rng(2).integers(0, 3, len(df))
    d = datasets.from_frame(df, "hired", "sex", categorical="level")["train"]  # was read as 'l', 'e', 'v', ...
    assert "level" not in d.feature_names and "level=2" in d.feature_names
    df = df.rename(columns={"age": 7, "level": 8})
    d = datasets.from_frame(df, "hired", "sex", categorical=[8])["train"]
    assert all(isinstance(n, str) for n in d.feature_names) and "7" in d.feature_names and "8=0" in d.feature_names


def test_from_frame_rejects_a_negative_seed_and_dates():
    with pytest.raises(ConfigError, match=r"^seed=-1 must lie in 0\.\.4294967295"):
        datasets.from_frame(table(), "hired", "sex", seed=-1)
    df = table()
    df["start"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(df)), unit="D")
    with pytest.raises(DataError, match=r"^column\(s\) \['start'\] hold dates or times \(datetime64\[\w+\]\); convert "
                                        r"them to numbers \(e\.g\. a year, or days since an origin\) or drop them$"):
        datasets.from_frame(df, "hired", "sex")


def test_filled_and_dropped_values_are_announced():
    """Missing values the encoding fills, and rows dropped for want of a target or sensitive value, come with one
    warning each that counts them per column (they were filled silently, the drop only logged)."""
    df = table()
    df.loc[10:12, "age"] = np.inf
    n_job = int(df["job"].isna().sum())
    df.loc[20:24, "sex"] = None
    with pytest.warns(UserWarning) as got:
        datasets.from_frame(df, "hired", ["sex"], seed=0)
    text = [str(w.message) for w in got]
    assert "frame: 5 of 400 rows have no target or sensitive value and are dropped" in text
    age_gaps = int((~np.isfinite(df["age"].to_numpy(float)) & df["sex"].notna().to_numpy()).sum())
    job_gaps = int((df["job"].isna() & df["sex"].notna()).sum())
    assert n_job > 0 and any(f"{{'age': {age_gaps}}} are filled with the training median" in t
                             and f"{{'job': {job_gaps}}} become the category 'nan'" in t for t in text)
    clean = table().dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        datasets.from_frame(clean, "hired", ["sex"], seed=0)
