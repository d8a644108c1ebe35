"""The Method protocol every estimator shares: parameters, scikit-learn's get/set/clone, fit's input rules, refits."""
import inspect
from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.base import clone

from fairdistill import DataError, FairDataset
from fairdistill.errors import ConfigError
from fairdistill.methods import get, make
from fairdistill.methods.fwc.estimator import FWC
from fairdistill.params import Param


def table(n=240, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, (n, 1))
    X = rng.normal(size=(n, 3)) + s
    y = (X[:, 0] + rng.normal(0, 0.5, n) > 0.5).astype(int)
    return FairDataset(X=X, y=y, s=s, sensitive_names=["a"], name="toy")


@pytest.mark.parametrize("bad", [-1, 2 ** 32, 2 ** 64, None, True, 1.5, "x"])
def test_seed_is_checked_at_construction(bad):
    """A negative, huge, boolean or missing seed fails in the constructor with the library's error, not in numpy or
    torch during fit (seed=None used to run with a different result each time)."""
    with pytest.raises(ConfigError, match="seed="):
        make("uniform", seed=bad)
    assert make("uniform", seed=2 ** 32 - 1).seed == 2 ** 32 - 1


def test_none_only_where_the_default_is_none():
    with pytest.raises(ConfigError, match="epsilon=None is not valid"):
        make("fwc", epsilon=None)
    assert make("random", ipc=None).ipc is None  # None = decided by the data


def test_size_one_point_zero_and_booleans_are_refused():
    p = Param("size", "size", 0.1, "h")
    assert p.coerce(1) == 1 and p.coerce("1") == 1 and p.coerce(0.5) == 0.5 and p.coerce(250.0) == 250
    for bad in (1.0, "1.0", np.float64(1.0), True):  # 1.0: every row or one row? True: a count of 1?
        with pytest.raises(ConfigError, match="size="):
            p.coerce(bad)
    with pytest.raises(ConfigError, match="n_per_cell=True"):
        make("equal-sampling", n_per_cell=True)
    with pytest.raises(ConfigError, match="size='1e0'"):
        p.coerce("1e0")
    with pytest.raises(ConfigError, match="max_iter=(np.)?True_? is not valid: a boolean is not an integer"):
        make("fwc", max_iter=np.True_)


def test_errors_of_parser_typed_params_say_what_they_accept():
    from fairdistill.models import make as make_model
    with pytest.raises(ConfigError) as info:
        make_model("mlp", 2, hidden=None)
    assert "give None" not in str(info.value) and "hidden layer sizes" in str(info.value)
    with pytest.raises(ConfigError, match="a boolean is not what its help says: hidden layer sizes"):
        make_model("mlp", 2, hidden=True)


def test_unknown_names_suggest_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'epsilon'"):
        make("fwc", epsilion=0.1)
    with pytest.raises(ConfigError, match="did you mean 'fwc'"):
        make("fcw")


def test_signature_and_help_list_the_parameters():
    sig = inspect.signature(FWC)
    assert sig.parameters["epsilon"].default == FWC.param_spec()["epsilon"].default
    assert sig.parameters["seed"].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(sig.parameters) == list(FWC.param_spec())
    flat = " ".join(FWC.__doc__.split())  # the parameter lines are wrapped
    for name, p in FWC.param_spec().items():
        line = f"{name}: {p.help}" if "(default" in p.help else f"{name} (default {p.default!r}): {p.help}"
        assert " ".join(line.split()) in flat
    assert max(len(line) for line in FWC.__doc__.splitlines()) <= 120
    assert FWC.__doc__.startswith(FWC._doc_head) and FWC._doc_head  # the class's own text comes first


@pytest.mark.parametrize("params", [dict(epsilon=0.05, size=30, seed=3), dict(size=1000, seed=123456789),
                                    dict(size=np.int64(500), epsilon=np.float64(0.1)), dict(size=0.25)])
def test_scikit_learn_clone_keeps_every_parameter(params):
    """clone checks that the constructor keeps its arguments as the same objects: counts above 256 (not cached by
    Python) and numpy scalars used to fail."""
    m = make("fwc", **params)
    c = clone(m)
    assert c is not m and c.get_params() == m.get_params() and type(c) is FWC


def test_every_method_can_be_cloned():
    from fairdistill.methods import REGISTRY
    for name in REGISTRY:
        m = make(name)
        assert clone(m).get_params() == m.get_params()


def test_scikit_learn_check_is_fitted_and_html_repr():
    """scikit-learn >= 1.6 helpers need __sklearn_tags__ (check_is_fitted raised AttributeError on every method)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils import estimator_html_repr
    from sklearn.utils.validation import check_is_fitted

    from fairdistill.methods import REGISTRY
    for name in REGISTRY:
        m = make(name)
        with pytest.raises(NotFittedError):
            check_is_fitted(m)
        assert type(m).__name__ in estimator_html_repr(m)
    check_is_fitted(make("uniform", size=20).fit(table()))


def test_scikit_learn_clone_and_set_params():
    m = make("fwc", epsilon=0.05, size=30, seed=3)
    assert m.set_params(epsilon=0.2) is m and m.epsilon == 0.2
    with pytest.raises(ConfigError, match="epsilon=-5"):
        m.set_params(epsilon=-5)
    with pytest.raises(ConfigError, match="did you mean 'size'"):
        m.set_params(sise=3)


def test_weights_are_refused_where_a_method_ignores_them():
    data = table()
    weighted = replace(data, weights=np.where(data.s[:, 0] == 0, 5.0, 0.2))
    for name in ("fwc", "uniform", "kmeans"):
        with pytest.raises(DataError, match="ignores row weights"):
            make(name, size=20).fit(weighted)
    equal = replace(data, weights=np.full(len(data), 2.0))  # equal weights carry nothing to ignore
    plain = make("uniform", size=20).fit(data).synthetic_.X
    assert np.array_equal(make("uniform", size=20).fit(equal).synthetic_.X, plain)
    assert np.array_equal(make("full").fit(weighted).synthetic_.weights, weighted.weights)  # full reads them


@pytest.mark.parametrize("name", ["uniform", "kmeans", "fwc", "fairwasp", "kmedian-coreset", "equal-sampling"])
def test_a_constant_sensitive_axis_is_refused_by_every_method(name):
    data = table()
    const = replace(data, s=np.zeros_like(data.s))
    with pytest.raises(DataError, match="'a' is constant"):
        make(name).fit(const)


def test_only_the_axes_a_fit_reads_must_vary():
    """A constant axis that groups= leaves out, or data a method never reads s of, is fine."""
    data = table()
    two = replace(data, s=np.c_[data.s, np.zeros(len(data), int)], sensitive_names=["a", "b"])
    make("uniform", size=20, groups="single:a").fit(two)
    with pytest.raises(DataError, match="'b' is constant"):
        make("uniform", size=20).fit(two)  # joint: b is read
    const = replace(data, s=np.zeros_like(data.s))
    make("full").fit(const)
    make("random", size=20).fit(const)


def test_random_checks_ipc_with_size_whatever_the_order():
    with pytest.raises(ConfigError, match="not both"):
        make("random", size=0.1, ipc=5)
    m = make("random", size=0.1)
    with pytest.raises(ConfigError, match="not both"):
        m.set_params(ipc=5)
    assert m.ipc is None and m.size == 0.1  # nothing set when the check fails


def test_largest_seed_runs_through_scikit_learn():
    """Derived seeds (seed + offset) reach scikit-learn, which takes 0..2**32-1, modulo 2**32."""
    data = table()
    for name in ("fwc", "kmeans"):
        make(name, size=20, seed=2 ** 32 - 1).fit(data)


def test_a_refit_starts_afresh():
    """Fitted state ends in "_" and is cleared by fit: a refit on other data equals a fresh fit (Fair4Free used to
    keep the first fit's label offsets, breaking y_parity on the second data set)."""
    from fairdistill.methods.fair4free.estimator import Fair4Free
    from test_fair4free import FAST, make_table
    first, second = make_table(n=160, seed=1), make_table(n=200, seed=2, n_axes=2)
    fresh = Fair4Free(**FAST).fit(second).synthetic_
    m = Fair4Free(**FAST).fit(first)
    m.sample(50)  # fills the label-offset cache
    again = m.fit(second).synthetic_
    assert np.array_equal(again.X, fresh.X) and np.array_equal(again.y, fresh.y) and np.array_equal(again.s, fresh.s)
    fresh_offsets = Fair4Free(**FAST).fit(second)._label_offsets("student", "sample")
    assert torch.equal(m._label_offsets("student", "sample"), fresh_offsets)


def test_every_registered_method_documents_its_parameters():
    from fairdistill.methods import REGISTRY
    for name in REGISTRY:
        cls = get(name)
        assert "Parameters (keyword only):" in cls.__doc__ and "seed (default 0)" in cls.__doc__


def test_a_boolean_parameter_takes_booleans_0_1_and_their_words_only():
    """bool(x) is True for any non-empty value: 5, 2.5 or [1] must not pass as True."""
    p = Param("flag", bool, False, "a switch")
    for given, want in ((True, True), (np.bool_(False), False), (1, True), (np.int64(0), False), ("yes", True),
                        ("False", False)):
        assert p.coerce(given) is want
    for bad in (5, 2.5, 1.0, [1], "maybe"):
        with pytest.raises(ConfigError, match="flag=.* is not valid; give true or false"):
            p.coerce(bad)


@pytest.mark.parametrize("name, given, needs", [("fwc", {"eo_epsilon": 0.1}, {"constraint": "eo"})])
def test_an_option_that_another_makes_meaningful_is_refused_alone(name, given, needs):
    from fairdistill.methods import make
    (key, value), = given.items()
    (other, what), = needs.items()
    with pytest.raises(ConfigError, match=rf"{key}={value} applies only with {other}='{what}' "
                                          rf"\(--{other.replace('_', '-')} {what}\)"):
        make(name, **given)
    assert getattr(make(name, **given, **needs), key) == value
    with pytest.raises(ConfigError, match="applies only with"):  # also when the other is changed afterwards
        make(name, **given, **needs).set_params(**{other: make(name).get_params()[other]})


@pytest.mark.parametrize("groups", ["", "single:", "  "])
def test_an_empty_grouping_is_refused_when_the_estimator_is_made(groups):
    with pytest.raises(ConfigError, match="must be 'joint' or 'single:<axis>' with an axis name"):
        make("fwc", groups=groups)


def test_fit_x_y_and_a_dataset_without_x_are_refused_with_the_way_to_build_one(data_dir):
    with pytest.raises(DataError, match=r"uniform\.fit takes one FairDataset holding X, y and s, not fit\(X, y\)"):
        make("uniform", size=5).fit(np.zeros((50, 2)), np.arange(50) % 2)
    with pytest.raises(DataError, match="X is None; give the feature matrix"):
        FairDataset(X=None, y=[0, 1], s=[0, 1], sensitive_names=["g"])
    from fairdistill import datasets
    with pytest.raises(ConfigError, match=r"sensitive=3 must be a list of column names, e\.g\. sensitive=\['sex'\]"):
        datasets.load("german", sensitive=3, data_dir=data_dir)
    assert datasets.load("german", sensitive=np.array(["sex"]), data_dir=data_dir).sensitive_names == ["sex"]
