"""The downstream protocol: weights are respected, metrics equal direct computations, bad inputs are named."""
import re

import numpy as np
import pytest

from fairdistill import DataError, FairDataset, SyntheticSet, evaluate
from fairdistill.evaluation import Report, model_inputs, score
from fairdistill.models import make as make_model


def blobs(n=400, seed=0, shift=2.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.integers(0, 2, (n, 2))
    X = rng.normal(size=(n, 2)) + shift * y[:, None]
    return FairDataset(X=X, y=y, s=s, sensitive_names=["a", "b"], name="blobs")


def test_weights_decide_the_label_of_ambiguous_points():
    # identical features, two labels: the weighted majority must win, for every model family
    X = np.zeros((40, 2))
    y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    for w_pos, expected in ((5.0, 1), (0.2, 0)):
        w = np.where(y == 1, w_pos, 1.0)
        for name, opts in (("logreg", {}), ("mlp", {"epochs": 30, "patience": 0}), ("rf", {"n_estimators": 10}),
                           ("xgboost", {"n_estimators": 10})):
            clf = make_model(name, 2, seed=0, **opts).fit(X, y, w)
            assert clf.predict_proba(X[:1]).argmax() == expected, (name, w_pos)


@pytest.mark.parametrize("name", ["logreg", "rf", "xgboost"])
def test_an_absent_class_gets_probability_zero_in_its_own_column(name):
    # labels {0, 2} of a 3-class task: the columns are the task's classes, not the classes present
    rng = np.random.default_rng(0)
    y = np.repeat([0, 2], 50)
    X = rng.normal(size=(100, 2)) + 4.0 * (y == 2)[:, None]
    p = make_model(name, 3, seed=0).fit(X, y).predict_proba(np.array([[0.0, 0.0], [4.0, 4.0]]))
    assert p.shape == (2, 3) and np.all(p[:, 1] == 0) and np.allclose(p.sum(1), 1)
    assert p[0].argmax() == 0 and p[1].argmax() == 2
    as_float = make_model(name, 3, seed=0).fit(X, y.astype(float)).predict_proba(np.array([[0.0, 0.0], [4.0, 4.0]]))
    assert np.array_equal(as_float, p)  # labels 0.0 / 2.0 are the same codes


def test_score_matches_direct_computation():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    s = rng.integers(0, 2, (500, 2))
    p1 = np.clip(0.3 * y + 0.2 * s[:, 0] + rng.uniform(0, 0.5, 500), 0, 1)
    proba = np.c_[1 - p1, p1]
    values, groups = score(y, proba, s, "tabular")
    pred = (p1 > 0.5).astype(int)
    assert values["accuracy"] == pytest.approx((pred == y).mean())
    rates = [pred[(s[:, 0] == a) & (s[:, 1] == b)].mean() for a in (0, 1) for b in (0, 1)]
    assert values["dp_difference"] == pytest.approx(max(rates) - min(rates))
    assert values["tradeoff"] == pytest.approx(np.hypot(1 - values["auc"], values["demographic_disparity"]))
    assert {"df", "if_alpha", "worst_group_tpr"} <= set(values)  # two axes -> intersectional metrics
    assert [g["n"] for g in groups] == [int(((s[:, 0] == a) & (s[:, 1] == b)).sum()) for a in (0, 1) for b in (0, 1)]


def test_multiclass_images_get_deo_not_parity():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 4)
    proba = np.eye(3)[y]
    proba[0] = [0, 1, 0]  # one miss in class 0, group 0
    s = np.tile([0, 1], 6)[:, None]
    values, _ = score(y, proba, s, "image")
    assert values["deo_max"] == pytest.approx(50.0) and values["deo_avg"] == pytest.approx(50.0 / 3)
    assert "dp_difference" not in values and rng is not None


def test_model_inputs_append_one_hot_sensitive_blocks():
    d = blobs(10)
    Z = model_inputs(d, [2, 3], True)
    assert Z.shape == (10, 2 + 2 + 3)
    assert np.all(Z[:, 2:4].sum(1) == 1) and np.all(Z[:, 4:].sum(1) == 1)
    assert np.array_equal(Z[np.arange(10), 2 + d.s[:, 0]], np.ones(10))
    assert model_inputs(d, [2, 3], False) is d.X


def test_evaluate_reports_mean_and_std_over_repeats():
    train, test = blobs(300, 0), blobs(300, 1)
    rep = evaluate(SyntheticSet.from_dataset(train), test, model="logreg", repeats=3, seed=0)
    summ = rep.summary()
    assert len(rep.runs) == 3 and summ["accuracy"][0] > 0.8
    flat = rep.flat()
    assert flat["accuracy_std"] == pytest.approx(np.std([r["accuracy"] for r in rep.runs]))
    assert len(rep.group_table()) == 4


def test_equal_repeats_have_a_std_of_exactly_zero():
    """A deterministic model repeated gives equal values; their std is 0, not np.std's rounding residue."""
    assert np.std([0.1, 0.1, 0.1]) > 0  # the residue the report showed (1.4e-17)
    rep = Report(model="logreg", runs=[{"a": 0.1, "b": v} for v in (0.1, 0.2, 0.3)], groups=[])
    assert rep.summary()["a"] == (pytest.approx(0.1), 0.0)
    assert rep.summary()["b"][1] == pytest.approx(np.std([0.1, 0.2, 0.3]))
    odd = Report(model="logreg", runs=[{"c": v} for v in (np.inf, 1.0)], groups=[]).summary()["c"]
    assert odd[1] != 0.0  # an infinite repeat beside a finite one is not "no spread"


def test_evaluate_rejects_bad_inputs():
    train, test = blobs(50, 0), blobs(50, 1)
    one_class = SyntheticSet.from_dataset(train.subset(np.flatnonzero(train.y == 0)))
    with pytest.raises(DataError, match="single class"):
        evaluate(one_class, test, model="logreg")
    other = FairDataset(X=np.zeros((5, 3)), y=[0, 1, 0, 1, 0], s=np.zeros((5, 2)), sensitive_names=["a", "b"])
    with pytest.raises(DataError, match="shape"):
        evaluate(SyntheticSet.from_dataset(other), test, model="logreg")
    zero = SyntheticSet.from_dataset(train, weights=np.zeros(len(train)))
    with pytest.raises(DataError, match="empty"):
        evaluate(zero, test, model="logreg")
    with pytest.raises(Exception, match="unknown model 'svm'"):
        evaluate(SyntheticSet.from_dataset(train), test, model="svm")
    syn = SyntheticSet.from_dataset(train)
    with pytest.raises(DataError, match=r"the test split is a SyntheticSet .*evaluate\(fit.synthetic_, "
                                        r"splits\['test'\]"):
        evaluate(test, syn, model="logreg")  # swapped: the real rows would have trained, the set scored


@pytest.mark.parametrize("given, want", [("12,8", (12, 8)), ("(12, 8)", (12, 8)), (12, (12,)), ("12", (12,)),
                                         ([128, 64, 32], (128, 64, 32)), ((20,), (20,)), (None, None)])
def test_mlp_hidden_layers_parsed(given, want):
    """--hidden reached the MLP as the raw text ("12,8" built layers of size "1", "2", ...: a TypeError)."""
    opts = {} if given is None else {"hidden": given}
    clf = make_model("mlp", 2, **opts)
    assert clf.opts["hidden"] == (want or (20,))
    net = clf._net(np.zeros((3, 5)))
    sizes = [m.out_features for m in net if hasattr(m, "out_features")]
    assert sizes == [*(want or (20,)), 2]


@pytest.mark.parametrize("bad", ["12,x", "", "0", "12,-3", 12.5, "abc"])
def test_mlp_bad_hidden_is_a_one_line_config_error(bad):
    from fairdistill.errors import ConfigError
    with pytest.raises(ConfigError) as info:
        make_model("mlp", 2, hidden=bad)
    msg = str(info.value)
    assert msg == (f"hidden={bad!r} is not valid; give layer sizes as whole numbers >= 1, comma separated "
                   f"(e.g. 128,64,32)")


@pytest.mark.parametrize("given, want", [("None", None), ("none", None), ("null", None), (None, None), (5, 5),
                                         ("7", 7)])
def test_rf_max_depth_accepts_none_for_unlimited(given, want):
    """The help says "none = unlimited"; `--max-depth None` was rejected with "give int"."""
    clf = make_model("rf", 2, max_depth=given, n_estimators=3)
    assert clf.opts["max_depth"] == want and clf._estimator().max_depth == want


@pytest.mark.parametrize("bad", [0, -1, 2.5, "deep"])
def test_rf_bad_max_depth(bad):
    from fairdistill.errors import ConfigError
    with pytest.raises(ConfigError, match=r"max_depth=.* is not valid; give a whole number >= 1, or none for "
                                          r"unlimited$"):
        make_model("rf", 2, max_depth=bad)


def test_convnet_schedule_is_the_reference_one(monkeypatch):
    """E + 1 epochs; the learning rate drops tenfold after epoch E//2 + 1 with a fresh optimiser (momentum reset)."""
    import torch

    from fairdistill.models.torch_train import train_classifier
    cfg, _ = make_model("convnet", 2, epochs=10)._config()
    assert cfg.epochs == 11 and cfg.lr_decay_epoch == 7  # epochs 0..6 at lr, 7..10 at lr / 10 (E = 10)
    made, seen = [], []
    real_sgd = torch.optim.SGD

    def sgd(params, lr, **kw):
        made.append(lr)
        return real_sgd(params, lr=lr, **kw)

    monkeypatch.setattr(torch.optim, "SGD", sgd)
    net = torch.nn.Linear(3, 2)
    X, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    cfg.progress = False
    train_classifier(net, X, y, None, cfg, torch.Generator().manual_seed(0),
                     on_epoch=lambda e, _: seen.append((e, len(made))))
    assert made == [0.01, pytest.approx(0.001)]
    assert [n for e, n in seen] == [1] * 7 + [2] * 4  # the second optimiser from epoch 7 on


def test_evaluate_checks_valid_like_test_and_the_first_argument():
    """valid= from another dataset gave a raw torch shape error; a bare array an AttributeError 'modality'."""
    train, test = blobs(60, 0), blobs(60, 1)
    syn = SyntheticSet.from_dataset(train)
    wide = FairDataset(X=np.zeros((6, 5)), y=[0, 1] * 3, s=np.zeros((6, 2)), sensitive_names=["a", "b"])
    with pytest.raises(DataError, match=r"^synthetic rows have shape \(2,\) but valid rows \(5,\); evaluate"):
        evaluate(syn, test, model="logreg", valid=wide)
    renamed = FairDataset(X=np.zeros((6, 2)), y=[0, 1] * 3, s=np.zeros((6, 2)), sensitive_names=["a", "race"])
    with pytest.raises(DataError, match=r"^sensitive attributes differ: synthetic \['a', 'b'\] vs valid"):
        evaluate(syn, test, model="logreg", valid=renamed)
    with pytest.raises(DataError, match=r"^evaluate: synthetic must be a FairDataset or SyntheticSet; got ndarray"):
        evaluate(train.X, test, model="logreg")
    with pytest.raises(DataError, match=r"^evaluate: valid must be a FairDataset or SyntheticSet; got tuple"):
        evaluate(syn, test, model="logreg", valid=(test.X, test.y))
    with pytest.raises(DataError, match=r"^evaluate: the test split has no rows; give one with rows"):
        evaluate(syn, test.subset(np.arange(0)), model="logreg")  # scikit-learn's error before
    with pytest.raises(DataError, match=r"^the synthetic set is empty \(or all weights are 0\)"):
        evaluate(syn.subset(np.arange(0)), test, model="logreg")


@pytest.mark.parametrize("bad, msg", [(0, "repeats=0 must be > 0"), (1.5, "repeats=1.5 is not valid; give an integer"),
                                      (None, "repeats=None is not valid"), (True, "repeats=True is not valid"),
                                      (-1, "seed=-1 must lie in 0..4294967295")])
def test_evaluate_repeats_and_seed_are_checked(bad, msg):
    """repeats must be a whole number >= 1 and seed a seed (-1 reached scikit-learn as a raw error)."""
    from fairdistill.errors import ConfigError
    train, test = blobs(60, 0), blobs(60, 1)
    kw = {"seed": bad} if msg.startswith("seed") else {"repeats": bad}
    with pytest.raises(ConfigError, match="^" + re.escape(msg)):
        evaluate(SyntheticSet.from_dataset(train), test, model="logreg", **kw)


def test_evaluate_warns_when_the_test_split_has_one_group_on_an_axis(monkeypatch, capsys):
    from fairdistill import progress
    monkeypatch.setattr(progress, "_QUIET", False)
    train, test = blobs(100, 0), blobs(100, 1)
    one = test.subset(np.flatnonzero(test.s[:, 1] == 0))
    rep = evaluate(SyntheticSet.from_dataset(train), one, model="logreg", repeats=2.0)
    assert len(rep.runs) == 2
    warned = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert warned == ["[evaluate] warning: the test split has a single group on sensitive axis 'b'; its fairness "
                      "numbers are vacuous (e.g. dp_ratio 1.0)"]


def test_unknown_model_and_model_option_suggest_the_closest():
    from fairdistill.errors import ConfigError
    from fairdistill.runs import check_model
    with pytest.raises(ConfigError, match=r"^unknown model 'mlpp'; did you mean 'mlp'\?; choose from: convnet, "
                                          r"mlp, "):
        make_model("mlpp", 2)
    with pytest.raises(ConfigError, match=r"^unknown model 'logreg2'; did you mean 'logreg'\?; choose from: "):
        check_model("logreg2", "tabular")  # the run folder's check, before any data is loaded
    with pytest.raises(ConfigError, match=r"^unknown option\(s\) of model 'mlp' \['epoch'\]; did you mean 'epochs'\?; "
                                          r"choose from: .*epochs"):
        make_model("mlp", 2, epoch=3)


def test_every_metric_evaluate_reports_has_a_meaning_in_the_reports():
    """report.md and comparison.md explain each metric from report.MEANING: none that score() emits may lack one."""
    from fairdistill.report import MEANING
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, (200, 2))
    keys = set()
    for n_classes, modality in ((2, "tabular"), (3, "tabular"), (3, "image")):
        y = rng.integers(0, n_classes, 200)
        proba = rng.dirichlet(np.ones(n_classes), 200)
        keys |= set(score(y, proba, s, modality)[0])
    assert {"df", "if_alpha", "deo_max", "tradeoff", "eo_difference"} <= keys  # the premise: every family is there
    assert keys <= set(MEANING), sorted(keys - set(MEANING))
