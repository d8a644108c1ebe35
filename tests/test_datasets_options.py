"""Dataset options: one declaration per dataset (``DatasetSpec.options``), coerced and checked once by the entry
points, typed values handed to the loaders; and the read-only cache."""
import numpy as np
import pytest

from fairdistill import FairDataset, datasets
from fairdistill.datasets import images as I
from fairdistill.errors import ConfigError, DataError


@pytest.fixture
def coloured_calls(monkeypatch):
    """Replace the coloured-(F)MNIST builder by a recorder of the typed options it gets (no files read)."""
    calls = []

    def record(variant, data_dir, seed, **options):
        calls.append(options)
        d = FairDataset(X=np.zeros((4, 3, 2, 2)), y=[0, 1, 0, 1], s=[0, 0, 1, 1], sensitive_names=["colour"],
                        modality="image")
        return {"train": d, "test": d}

    monkeypatch.setattr(I, "_load_coloured", record)
    return calls


@pytest.mark.parametrize("value, want", [("false", False), ("0", False), (False, False), ("no", False),
                                         ("true", True), (True, True), ("1", True), ("Yes", True), (None, False)])
def test_boolean_option_reaches_the_loader_typed(coloured_calls, value, want):
    datasets.build_splits("cmnist-fg", faithful=value)
    assert coloured_calls == [{"bias_ratio": 0.9, "faithful": want, "other_colours": "chunks"}]
    assert type(coloured_calls[0]["faithful"]) is bool


def test_numbers_given_as_text_are_coerced(coloured_calls):
    datasets.build_splits("cfmnist-bg", bias_ratio="0.85", other_colours="iid")
    assert coloured_calls == [{"bias_ratio": 0.85, "faithful": False, "other_colours": "iid"}]


def test_faithful_false_as_text_through_load(data_dir):
    """The reported bug: load("cmnist-fg", faithful="false") built the faithful (top-left padded) images."""
    d = datasets.load("cmnist-fg", "test", data_dir=data_dir, faithful="false")
    assert d.meta["faithful"] is False and d.meta["padding"] == "2 px each side"
    assert d.X is datasets.load("cmnist-fg", "test", data_dir=data_dir).X  # the same typed options, one cache entry


@pytest.mark.parametrize("name", ["cmnist-fg", "compas", "drug", "celeba"])
def test_bad_boolean_is_a_one_line_error(name):
    option = "include_ethnicity" if name == "drug" else "faithful"
    with pytest.raises(ConfigError) as err:
        datasets.load(name, **{option: "maybe"})
    msg = str(err.value)
    assert f"{option}='maybe'" in msg and repr(name) in msg and "true/false" in msg and "\n" not in msg


def test_unknown_option_lists_the_accepted_ones():
    with pytest.raises(ConfigError) as err:
        datasets.load("cmnist-fg", colour_mode=1)
    msg = str(err.value)
    assert msg.startswith("unknown option(s) of dataset 'cmnist-fg' ['colour_mode']; choose from: bias_ratio, faithful, "
                          "other_colours")
    assert "\n" not in msg
    bare = datasets.DatasetSpec("bare", "tabular", "m:f", "no options", "y", ("a",), ("a",))
    with pytest.raises(ConfigError, match=r"^unknown option\(s\) of dataset 'bare' \['x'\]; choose from: none$"):
        bare.resolve_options({"x": 1})


@pytest.mark.parametrize("name, option, value, accepted", [
    ("utkface", "test_per_cell", "abc", "give an integer"), ("cmnist-pca", "max_rows", "abc", "give an integer"),
    ("cmnist-pca", "max_rows", 12.5, "give an integer"), ("cmnist-pca", "n_components", 1, "[2, 512]"),
    ("utkface", "test_per_cell", 0, "must be > 0"), ("cmnist-pca", "colour_groups", 3, "is not accepted; choose from: 2, 10"),
    ("cmnist-fg", "bias_ratio", "high", "give a number"), ("cmnist-fg", "bias_ratio", 1.5, "[0, 1]"),
    ("cmnist-fg", "other_colours", "random", "is unknown; choose from: 'chunks', 'iid'"),
    ("german", "protocol", "fair4free", "is unknown; choose from: 'standard', 'fwc', 'intersectional'"),
    ("compas", "variant", "compas2", "compas_binary_race")])
def test_bad_values_are_one_line_errors(name, option, value, accepted):
    with pytest.raises(ConfigError) as err:
        datasets.load(name, **{option: value})  # checked before any file is read
    msg = str(err.value)
    assert msg.startswith(f"dataset {name!r}: {option}={value!r}") and accepted in msg and "\n" not in msg


def test_none_means_the_default_and_every_loader_gets_every_option():
    for name in datasets.names():
        sp = datasets.spec(name)
        typed = sp.resolve_options({p.name: None for p in sp.options})
        assert typed == {p.name: p.default for p in sp.options}


def test_help_is_generated_from_the_declaration():
    lines = datasets.spec("cmnist-pca").options_help()
    assert [ln.split(" ", 1)[0] for ln in lines] == ["protocol", "bias_ratio", "max_rows", "n_components",
                                                      "colour_groups"]
    assert lines[2].startswith("max_rows (int, default 30000): rows drawn")
    assert lines[4].startswith("colour_groups (int, default 2; one of 2, 10): ")
    for name in datasets.names():
        assert len(datasets.spec(name).options_help()) == len(datasets.spec(name).options)


def test_sensitive_axes_must_be_distinct():
    with pytest.raises(ConfigError, match="twice"):
        datasets.load("german", sensitive=["sex", "sex"])


# ------------------------------------------------------------------------------------------------ the cache
def test_cached_arrays_are_read_only_and_fresh_builds_writable(data_dir):
    train = datasets.load("german", data_dir=data_dir, sensitive=["sex", "age"])
    for a in (train.X, train.y, train.s, train.meta["rows"]):
        assert not a.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        train.X[0, 0] = 1.0
    train.meta["note"] = "mine"  # the meta dict is the caller's own
    again = datasets.load("german", data_dir=data_dir, sensitive=["sex", "age"])
    assert "note" not in again.meta and again.X is train.X
    fresh = datasets.build_splits("german", data_dir=data_dir, sensitive=["sex", "age"])["train"]
    fresh.X[0, 0] += 1.0
    assert fresh.X[0, 0] != train.X[0, 0]
    assert np.array_equal(fresh.X[1:], train.X[1:]) and np.array_equal(fresh.s, train.s)


# ------------------------------------------------------------------------------------------------ the data seed
@pytest.mark.parametrize("seed, accepted", [(-1, "must lie in 0..4294967295"), ("x", "give an integer"), (1.5, "give an integer")])
def test_bad_data_seed_is_a_one_line_error(tmp_path, seed, accepted):
    """--data-seed -1 ended in numpy's "expected non-negative integer" traceback."""
    for fn in (datasets.load, datasets.build_splits):
        with pytest.raises(ConfigError) as err:
            fn("german", data_dir=tmp_path, seed=seed)  # checked before any file is looked for
        msg = str(err.value)
        assert msg.startswith(f"dataset 'german': seed={seed!r}") and accepted in msg and "--data-seed" in msg
        assert "\n" not in msg


def test_data_seed_given_as_text_or_whole_float_is_the_same_seed(monkeypatch):
    seeds = []
    monkeypatch.setattr(I, "_load_coloured", lambda variant, data_dir, seed, **o: seeds.append(seed) or {
        "train": FairDataset(X=np.zeros((4, 3, 2, 2)), y=[0, 1, 0, 1], s=[0, 0, 1, 1], sensitive_names=["colour"],
                             modality="image")})
    for seed in (3, "3", 3.0, np.int64(3)):
        datasets.build_splits("cmnist-fg", seed=seed)
    assert seeds == [3, 3, 3, 3] and all(type(s) is int for s in seeds)


# ------------------------------------------------------------------------------------------ FairDataset checks
@pytest.mark.parametrize("modality, shape", [("tabular", (6, 3)), ("image", (6, 2, 3, 3))])
def test_nan_rows_are_counted(modality, shape):
    """The count said "in 0 rows" (operator precedence: it counted rows with no finite value)."""
    X = np.ones(shape)
    X[1].flat[2] = np.nan
    X[4].flat[0] = np.inf
    X[4].flat[-1] = np.nan
    with pytest.raises(DataError, match=r"X has NaN or infinite values in 2 rows; impute or drop them"):
        FairDataset(X=X, y=[0, 1] * 3, s=[0, 0, 0, 1, 1, 1], sensitive_names=["g"], modality=modality)


def test_unknown_dataset_and_option_names_suggest_the_closest():
    with pytest.raises(ConfigError, match=r"^unknown dataset 'adultt'; did you mean 'adult'\?; choose from: "
                                          r".*compas"):
        datasets.spec("adultt")
    with pytest.raises(ConfigError, match=r"^unknown option\(s\) of dataset 'adult' \['protocl'\]; did you mean "
                                          r"'protocol'\?; choose from: .*protocol"):
        datasets.load("adult", protocl="fwc")
