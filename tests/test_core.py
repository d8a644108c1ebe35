"""FairDataset / SyntheticSet validation, grouping, size allocation, parameters, checkpoints, atomic folders."""
import re

import numpy as np
import pytest
import torch

from fairdistill import DataError, FairDataset, SyntheticSet
from fairdistill.dataset import group_ids
from fairdistill.errors import ConfigError, ResumeError
from fairdistill.fileio import Checkpointer, atomic_dir
from fairdistill.methods import make
from fairdistill.methods.subsample import allocate
from fairdistill.params import Param


def table(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return FairDataset(X=rng.normal(size=(n, 3)), y=np.arange(n) % 2, s=np.c_[np.arange(n) % 3, np.arange(n) % 2],
                       sensitive_names=["a", "b"], name="t")


def test_group_ids_are_sorted_tuples_present():
    gid, tuples = group_ids(np.array([[1, 0], [0, 1], [1, 0], [0, 0]]))
    assert tuples == [(0, 0), (0, 1), (1, 0)]
    assert gid.tolist() == [2, 1, 2, 0]


def test_groups_joint_and_single():
    d = table()
    gid, tuples = d.groups()
    assert len(tuples) == 6 and np.bincount(gid).sum() == 20
    gid, tuples = d.groups("single:b")
    assert tuples == [(0,), (1,)]
    with pytest.raises(DataError, match="unknown sensitive axis 'c'"):
        d.groups("single:c")


@pytest.mark.parametrize("kw,msg", [
    ({"X": np.full((4, 2), np.nan)}, "NaN"),
    ({"y": np.array([0, 1, 0])}, "y has shape"),
    ({"s": np.zeros((4, 2))}, "2 columns"),
    ({"X": np.zeros((4, 2, 2))}, "2-D"),
    ({"weights": -np.ones(4)}, "weights"),
])
def test_bad_shapes_and_values_are_named(kw, msg):
    args = dict(X=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]), s=np.zeros(4), sensitive_names=["a"])
    args.update(kw)
    with pytest.raises(DataError, match=msg):
        FairDataset(**args)


@pytest.mark.parametrize("kw,msg", [
    ({"y": np.array(["no", "yes", "no", "yes"])}, r"y holds non-numeric values \(e\.g\. 'no', dtype <U3\): labels "
                                                  r"are integer codes 0\.\.k-1: build .*datasets\.from_frame$"),
    ({"y": np.array([0, 1, 0, 1]) + 0.7}, r"y holds non-integer values \(e\.g\. 0\.7\): labels are integer codes "
                                          r"0\.\.k-1 \(whole-number floats such as 1\.0 are fine\)$"),
    ({"s": np.array([0, -1, 1, 0])}, r"s holds the negative code -1; sensitive codes are 0\.\.k-1 \(k values per "
                                     r"axis\): .*datasets\.from_frame$"),
    ({"s": np.array(["f", "m", "f", "m"])}, r"s holds non-numeric values \(e\.g\. 'f'.*datasets\.from_frame$"),
    ({"s": np.array([0, 0.5, 1, 0])}, r"s holds non-integer values \(e\.g\. 0\.5\)"),
    ({"X": np.array([["a", 1], ["b", 2]] * 2, dtype=object)}, r"X has dtype object, not numbers; .*from_frame$"),
    ({"X": np.array([["1", "2"]] * 4)}, r"X has dtype <U1, not numbers"),
])
def test_post_init_checks_what_it_coerces(kw, msg):
    """y + 0.7 was truncated to 0 without a word, -1 group codes accepted, text gave numpy's raw ValueError."""
    args = dict(X=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]), s=np.zeros(4), sensitive_names=["a"], name="t")
    args.update(kw)
    with pytest.raises(DataError, match="^t: " + msg):
        FairDataset(**args)


def test_whole_number_floats_and_object_numbers_are_accepted():
    d = FairDataset(X=np.array([[1, 2]] * 4, dtype=object), y=np.array([0.0, 1.0, 0.0, 1.0]),
                    s=np.array([0., 1., 1., 0.]), sensitive_names=["a"])
    assert d.y.dtype == np.int64 and d.s.dtype == np.int64 and d.X.dtype == np.float32 and d.y.tolist() == [0, 1, 0, 1]


def test_only_a_synthetic_set_may_leave_a_group_unassigned():
    d = table()
    assert SyntheticSet.from_dataset(d, s=-np.ones((20, 2))).s.min() == -1  # -1 = unassigned (distilled images)
    with pytest.raises(DataError, match=r"negative code -2; sensitive codes are 0\.\.k-1 \(k values per axis, or "
                                        r"-1 = unassigned\)"):
        SyntheticSet.from_dataset(d, s=np.full((20, 2), -2))
    with pytest.raises(DataError, match="negative code -1"):
        FairDataset(X=d.X, y=d.y, s=-np.ones((20, 2)), sensitive_names=d.sensitive_names)


def test_synthetic_set_defaults_and_subset():
    d = table()
    syn = SyntheticSet.from_dataset(d, s=-np.ones((20, 2)))
    assert np.all(syn.w == 1) and np.all(syn.origin == 1)
    sub = syn.subset([0, 5])
    assert len(sub) == 2 and sub.origin.shape == (2,)


@pytest.mark.parametrize("m", [4, 10, 57, 100])
def test_allocate_sums_to_m_and_respects_minimum_and_capacity(m):
    sizes = {"a": 1, "b": 40, "c": 9, "d": 50}
    out = allocate(m, sizes)
    assert sum(out.values()) == m
    assert all(1 <= out[k] <= sizes[k] for k in sizes)
    # proportional up to rounding when no minimum binds
    if m == 57:
        assert out["d"] in (28, 29) and out["b"] in (22, 23)


def test_allocate_rejects_impossible_sizes():
    with pytest.raises(ConfigError, match="between 4 and 100"):
        allocate(3, {"a": 1, "b": 40, "c": 9, "d": 50})


def test_evaluation_protocol_is_a_copy():
    m = make("dm")
    m.evaluation_protocol()["options"]["epochs"] = 1
    assert make("dm").evaluation_protocol()["options"]["epochs"] != 1


def test_param_coercion_and_errors():
    p = Param("size", "size", 0.1, "h")
    assert p.coerce("0.25") == 0.25 and p.coerce("12") == 12 and p.coerce(12.0) == 12
    assert isinstance(p.coerce("12.0"), int)
    for bad in ("x", 2.5, "0", -3, 0.0):  # neither a fraction in (0, 1) nor a whole count: never truncated
        with pytest.raises(ConfigError, match="fraction in \\(0, 1\\) or a whole count"):
            p.coerce(bad)
    for method in ("random", "uniform", "fwc"):
        with pytest.raises(ConfigError, match="size=2.5"):
            make(method, size=2.5)
    with pytest.raises(ConfigError, match="unknown parameter"):
        make("random", ipcs=3)
    with pytest.raises(ConfigError, match="must be > 0"):
        make("random", ipc=0)
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        make("nope")


def test_random_is_per_class_and_seeded():
    d = table(200)
    a = make("random", size=0.1, seed=1).fit(d).synthetic_
    b = make("random", size=0.1, seed=1).fit(d).synthetic_
    c = make("random", size=0.1, seed=2).fit(d).synthetic_
    assert len(a) == 20 and np.bincount(a.y).tolist() == [10, 10]
    assert np.array_equal(a.X, b.X) and not np.array_equal(a.X, c.X)
    with pytest.raises(ConfigError, match="ipc=150 exceeds"):
        make("random", ipc=150).fit(d)


def test_checkpointer_roundtrip_and_config_mismatch(tmp_path):
    ck = Checkpointer(tmp_path, {"lr": 1}, every=2)
    ck.save(4, {"x": torch.arange(3)})
    state = Checkpointer(tmp_path, {"lr": 1}, resume=True).load()
    assert state["step"] == 4 and state["x"].tolist() == [0, 1, 2]
    with pytest.raises(ResumeError, match="other settings \\(lr\\); use the same settings, or pass --overwrite"):
        Checkpointer(tmp_path, {"lr": 2}, resume=True).load()
    assert Checkpointer(tmp_path, {"lr": 1}).load() is None  # not resuming


def test_a_checkpoint_of_an_older_version_resumes_when_what_it_lacks_is_the_default(tmp_path):
    from fairdistill.fileio import TRAINING_ROWS
    Checkpointer(tmp_path, {"method": "m", "lr": 1}).save(2, {"x": torch.zeros(1)})  # before "beta" and the rows
    now = {"method": "m", "lr": 1, "beta": 0.5, TRAINING_ROWS: "ab12"}
    assumed = {"lr": 1, "beta": 0.5, TRAINING_ROWS: "ab12"}  # defaults; the rows: taken to match
    assert Checkpointer(tmp_path, now, resume=True, assumed=assumed).load()["step"] == 2
    with pytest.raises(ResumeError, match=r"other settings \(beta\)"):  # not the default: refused
        Checkpointer(tmp_path, {**now, "beta": 0.9}, resume=True, assumed=assumed).load()
    with pytest.raises(ResumeError, match=r"other settings \(beta, the training rows\)"):  # nothing assumed
        Checkpointer(tmp_path, now, resume=True).load()


def test_a_checkpoint_leaves_out_what_acts_after_training(tmp_path):
    est = make("fair4free", selection_model="logreg")
    est._checkpoint_dir = tmp_path
    cfg = est.checkpointer(5).config
    assert "selection_model" not in cfg and cfg["seed"] == 0 and "student_loss" in cfg


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    dest = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with atomic_dir(dest) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(dest) as tmp:
        (tmp / "ok.txt").write_text("x")
    assert (dest / "ok.txt").exists()


def test_atomic_overwrite_restores_the_old_run_when_the_new_one_cannot_be_put_in_place(tmp_path, monkeypatch):
    import os

    from fairdistill import fileio
    dest = tmp_path / "run"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    real = os.replace

    def replace(src, dst):  # the new run's rename fails; the others work
        if ".tmp-" in str(src):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(fileio.os, "replace", replace)
    with pytest.raises(OSError):
        with atomic_dir(dest, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
    assert (dest / "old.txt").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_write_text_leaves_no_temporary_file_on_error(tmp_path):
    from fairdistill.fileio import write_text
    with pytest.raises(OSError):
        write_text(tmp_path / "no-such-folder" / "x.md", "text")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.md").mkdir()  # renaming a file over a folder fails after the temporary file is written
    with pytest.raises(OSError):
        write_text(tmp_path / "d" / "x.md", "text")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["x.md"]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_dir_gets_the_permissions_of_a_plain_mkdir(tmp_path, umask):
    import os
    old = os.umask(umask)
    try:
        (tmp_path / "plain").mkdir()
        with atomic_dir(tmp_path / "run") as tmp:
            (tmp / "ok.txt").write_text("x")
        with atomic_dir(tmp_path / "run", overwrite=True) as tmp:
            (tmp / "ok.txt").write_text("y")
    finally:
        os.umask(old)
    mode = (tmp_path / "plain").stat().st_mode & 0o777
    assert mode == 0o777 & ~umask and (tmp_path / "run").stat().st_mode & 0o777 == mode  # not mkdtemp's 0700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "run"]


def _const_group_loader(data_dir=None, seed=0, sensitive=("g",)):
    d = FairDataset(X=np.zeros((6, 2)), y=[0, 1, 0, 1, 0, 1], s=np.zeros((6, 1)), sensitive_names=list(sensitive))
    return {"train": d, "test": d}


def test_a_sensitive_axis_with_one_group_fails_at_load_time():
    from fairdistill import datasets
    datasets.register(datasets.DatasetSpec(name="const-group", modality="tabular", loader=f"{__name__}:"
                                           "_const_group_loader", description="test", target="y", sensitive=("g",),
                                           default_sensitive=("g",)))
    try:
        with pytest.raises(DataError, match="'g' of 'const-group' has a single value"):
            datasets.load("const-group")
    finally:
        datasets.REGISTRY.pop("const-group")


def test_fingerprint_follows_the_rows():
    rng = np.random.default_rng(0)
    X, y, s = rng.normal(size=(6, 3)), np.array([0, 1] * 3), np.array([0, 0, 1, 1, 0, 1])
    d = FairDataset(X=X, y=y, s=s, sensitive_names=["g"])
    assert d.fingerprint() == FairDataset(X=X.copy(), y=y, s=s, sensitive_names=["g"]).fingerprint()
    changed = [FairDataset(X=X + 1e-3, y=y, s=s, sensitive_names=["g"]),
               FairDataset(X=X, y=1 - y, s=s, sensitive_names=["g"]),
               FairDataset(X=X, y=y, s=1 - s, sensitive_names=["g"]),
               FairDataset(X=X, y=y, s=s, sensitive_names=["g"], weights=np.full(6, 2.0)),
               FairDataset(X=X[::-1], y=y[::-1], s=s[::-1], sensitive_names=["g"]),  # order matters
               FairDataset(X=X.reshape(6, 3, 1)[:, :, 0].T.copy().T, y=y, s=s, sensitive_names=["g"])]
    assert all(c.fingerprint() != d.fingerprint() for c in changed[:5])
    assert changed[5].fingerprint() == d.fingerprint()  # the same values in another memory layout
    empty = [FairDataset(X=np.zeros((0, k)), y=np.zeros(0, int), s=np.zeros(0, int), sensitive_names=["g"],
                         n_classes=2).fingerprint() for k in (3, 3, 4)]  # empty arrays hash too, by their shape
    assert empty[0] == empty[1] != empty[2]


def test_labels_must_be_codes_and_a_dataset_reads_in_one_line():
    X, s = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    for y, absent in ((np.array([1, 2, 1, 2]), "[0]"), (np.array([0, 5, 0, 5]), "[1, 2, 3, 4]")):
        with pytest.raises(DataError, match=rf"labels .* are not the codes 0\.\.K-1 \(class\(es\) {re.escape(absent)} "
                                            r"absent\); recode them"):
            FairDataset(X=X, y=y, s=s, sensitive_names=["g"])
    assert FairDataset(X=X, y=np.array([1, 2, 1, 2]), s=s, sensitive_names=["g"], n_classes=3).n_classes == 3
    d = FairDataset(X=np.zeros((500, 30)), y=np.arange(500) % 2, s=np.arange(500) % 3, sensitive_names=["g"],
                    name="toy")
    assert repr(d) == "FairDataset('toy', tabular, X (500, 30), 2 classes, sensitive ['g'])"


def test_a_run_without_class_names_whose_set_lacks_class_0_reads_back(tmp_path):
    """load_run used to guess n_classes from the labels when the dataset had no class names; the guess refused a
    set that holds only class 1. config.json now records n_classes."""
    from fairdistill.runs import load_run, write_run
    syn = SyntheticSet(X=np.zeros((4, 2)), y=np.ones(4, int), s=np.array([0, 1, 0, 1]), sensitive_names=["g"],
                       n_classes=2, name="ones")
    back, cfg = load_run(write_run(tmp_path / "r", syn, {"method": "test"}))
    assert cfg["n_classes"] == 2 and back.n_classes == 2 and back.y.tolist() == [1, 1, 1, 1]


def test_the_package_imports_without_torch_and_evaluate_is_the_real_function():
    import subprocess
    import sys
    code = ("import sys, fairdistill; assert 'torch' not in sys.modules; assert 'evaluate' in dir(fairdistill); "
            "from fairdistill import evaluation; assert fairdistill.evaluate is evaluation.evaluate")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


@pytest.mark.parametrize("call, prefix", [
    (lambda: __import__("fairdistill.nn.convnet", fromlist=["x"]).norm_layer("instanse", 4), "norm='instanse'"),
    (lambda: __import__("fairdistill.methods.fwc.encoding", fromlist=["x"]).encode(table(), cost="l2"), "cost='l2'"),
    (lambda: __import__("fairdistill.methods.distill.matching", fromlist=["x"]).reduce_groups(torch.ones(2), "summ"),
     "group_reduction='summ'"),
    (lambda: __import__("fairdistill.methods.intersectional.generators", fromlist=["x"]).make_generator(
        "simpel", 2, 3), "variant='simpel'"),
    (lambda: __import__("fairdistill.nn.mmd", fromlist=["x"]).mmd2(torch.ones(2, 1), torch.ones(2, 1),
                                                                  estimator="vstat"), "estimator='vstat'"),
])
def test_an_unknown_choice_names_itself_the_closest_choice_and_all_choices(call, prefix):
    with pytest.raises(ConfigError) as err:
        call()
    msg = str(err.value)
    assert msg.startswith(prefix + " is unknown") and "; choose from: " in msg and "\n" not in msg
    close = {"instanse": "'instance'", "summ": "'sum'", "simpel": "'simple'"}.get(prefix.split("'")[1])
    assert (f"did you mean {close}?" in msg) if close else "did you mean" not in msg


def test_check_choice_raises_the_requested_error_and_accepts_members():
    from fairdistill.errors import check_choice
    check_choice(None, "average", ("binary", None))
    with pytest.raises(DataError, match=r"^modality='tabel' is unknown; did you mean 'table'\?; choose from: 'table'"):
        check_choice("tabel", "modality", ("table", "image"), error=DataError)


def test_check_members_names_each_unknown_value_once_in_the_given_order():
    from fairdistill.errors import check_members
    check_members(["crime", "drug"], "fwc-paper dataset(s)", ("crime", "drug", "german"))
    with pytest.raises(ConfigError, match=r"^unknown suite dataset\(s\) \['germany', 'x'\]; did you mean 'german'\?; "
                                          r"choose from: crime, german$"):
        check_members(["germany", "crime", "x", "germany"], "suite dataset(s)", ("crime", "german"))


def test_selecting_an_unknown_sensitive_axis_is_a_data_error_naming_the_axes():
    with pytest.raises(DataError, match=r"^unknown sensitive attribute\(s\) of t \['bb'\]; did you mean 'b'\?; "
                                        r"choose from: a, b$"):
        table().select_sensitive(["a", "bb"])
    assert table().select_sensitive(["b", "a"]).sensitive_names == ["b", "a"]
