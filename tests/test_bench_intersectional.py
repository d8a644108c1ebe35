"""Smoke test of the intersectional benchmark (quick configuration on real COMPAS) and its model selection."""
import json

import numpy as np
import pytest

from fairdistill.bench import get
from fairdistill.bench.intersectional import ACC_SLACK, train_and_select
from fairdistill.dataset import FairDataset
from fairdistill.errors import ConfigError


def test_quick_suite_writes_consistent_results(tmp_path, data_dir):
    run = get("intersectional")
    res = run(tmp_path, data_dir=data_dir, quick=True, device="cpu")
    for ext in ("json", "md", "png"):
        assert (tmp_path / f"intersectional.{ext}").stat().st_size > 0
    doc = json.loads((tmp_path / "intersectional.json").read_text())
    assert doc["suite"] == "intersectional" and doc["config"]["quick"] is True
    runs = res["compas"]["runs"]
    assert set(runs) == {"erm", "equal-sampling", "aug-reference"}
    assert runs["equal-sampling"][0]["train_rows"] == runs["aug-reference"][0]["train_rows"] == 2 * 50 * 8
    for rows in runs.values():
        r = rows[0]
        assert len(r["group_tpr"]) == 8
        # DF is the log-ratio of the extreme smoothed rates; IF_0.5 follows from the same two rates
        assert np.isclose(r["df"], np.log(r["best_tpr"] / r["worst_tpr"]))
        hw, hb = 1 - r["worst_tpr"], 1 - r["best_tpr"]
        assert np.isclose(r["if_0.5"], 0.5 * hw + 0.5 * hw / hb)
        assert np.isclose(r["if_0.5_reference"], 0.5 * hw + 0.5 * hb / hw)
        assert r["df_boot_lo"] <= r["df_boot_hi"]
    assert 0.0 <= runs["aug-reference"][0]["real_vs_generated_bacc"] <= 1.0
    assert set(res["compas"]["checks"]["erm"]["aug-reference"]) == {"df_lower", "if_lower", "worst_tpr_not_lower",
                                                               "bacc_within_1pt", "if_reference_lower"}


def test_selection_keeps_accuracy_within_slack_and_minimises_valid_df():
    rng = np.random.default_rng(0)

    def make(n):
        s = rng.integers(0, 2, (n, 2))
        y = rng.integers(0, 2, n)
        X = rng.normal(size=(n, 3)) + y[:, None] + 0.5 * s[:, :1]
        return FairDataset(X=X, y=y, s=s, sensitive_names=["a", "b"])

    tr, va, te = make(600), make(300), make(300)
    mlp = dict(hidden=(16,), dropout=0.0, epochs=6, batch_size=100, lr=1e-2, patience=0)
    sel = train_and_select(tr, va, te, tr.X.mean(0), tr.X.std(0), 0, mlp, "cpu")
    assert 0 <= sel["epoch"] < 6 and sel["pred"].shape == (300,)
    assert sel["valid_bacc"] > 0.6 and sel["valid_df"] >= 0
    hist = sel["epochs"]
    assert [e["epoch"] for e in hist] == list(range(6))
    best = max(e["valid_bacc"] for e in hist)
    eligible = [e for e in hist if e["valid_bacc"] >= best - ACC_SLACK]
    assert sel["valid_bacc"] >= best - ACC_SLACK
    assert sel["valid_df"] == min(e["valid_df"] for e in eligible)
    again = train_and_select(tr, va, te, tr.X.mean(0), tr.X.std(0), 0, mlp, "cpu")
    assert again["epoch"] == sel["epoch"] and np.array_equal(again["pred"], sel["pred"])


def test_resume_reuses_finished_runs_and_adds_new_methods(tmp_path, data_dir):
    run = get("intersectional")
    first = run(tmp_path, data_dir=data_dir, quick=True, device="cpu", methods="erm")
    path = tmp_path / "intersectional.json"
    doc = json.loads(path.read_text())
    doc["results"]["compas"]["runs"]["erm"][0]["marker"] = "kept"  # a recomputed run would not carry it
    path.write_text(json.dumps(doc))
    again = run(tmp_path, data_dir=data_dir, quick=True, device="cpu", methods="erm,erm-balanced", resume=True)
    assert again["compas"]["runs"]["erm"][0]["marker"] == "kept"
    assert again["compas"]["runs"]["erm"][0]["df"] == first["compas"]["runs"]["erm"][0]["df"]
    bal = again["compas"]["runs"]["erm-balanced"][0]
    with pytest.raises(ConfigError, match="differs"):
        run(tmp_path, data_dir=data_dir, quick=False, device="cpu", methods="erm", resume=True)
    assert bal["train_rows"] == first["compas"]["runs"]["erm"][0]["train_rows"]
    # a resume that asks for fewer methods keeps the others in the file (it is their only record)
    third = run(tmp_path, data_dir=data_dir, quick=True, device="cpu", methods="erm-balanced", resume=True)
    assert set(third["compas"]["runs"]) == {"erm", "erm-balanced"}
    assert third["compas"]["runs"]["erm"][0]["marker"] == "kept"


def test_an_interrupted_resume_keeps_every_kept_run(tmp_path, data_dir, monkeypatch):
    from fairdistill.bench import intersectional as suite
    run = get("intersectional")
    run(tmp_path, data_dir=data_dir, quick=True, device="cpu", methods="erm", datasets="compas,german")
    real = suite._method_set

    def method_set(name, train, *args):  # the new method is interrupted on the second dataset
        if name == "erm-balanced" and train.name.startswith("german"):
            raise KeyboardInterrupt
        return real(name, train, *args)

    monkeypatch.setattr(suite, "_method_set", method_set)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, data_dir=data_dir, quick=True, device="cpu", methods="erm,erm-balanced",
            datasets="compas,german", resume=True)
    runs = {ds: {m: len(r) for m, r in res["runs"].items()}
            for ds, res in json.loads((tmp_path / "intersectional.json").read_text())["results"].items()}
    assert runs == {"compas": {"erm": 1, "erm-balanced": 1}, "german": {"erm": 1}}  # german's erm run survives


@pytest.mark.slow
def test_runs_in_worker_processes_equal_runs_in_this_one(tmp_path, data_dir):
    """jobs=2 gives the same runs as jobs=1 (every run is seeded; both with one torch thread), each stamped with its
    thread count; the results are written whole."""
    from fairdistill.torchutil import single_thread
    run = get("intersectional")
    kw = dict(data_dir=data_dir, quick=True, device="cpu", datasets="compas,german", methods="erm,aug-reference")
    with single_thread():
        a = run(tmp_path / "a", **kw)
    b = run(tmp_path / "b", jobs=2, **kw)
    drop = ("seconds", "fit_seconds", "made_at")
    strip = lambda res: {ds: {m: [{k: v for k, v in r.items() if k not in drop} for r in rows]  # noqa: E731
                              for m, rows in d["runs"].items()} for ds, d in res.items()}
    assert strip(a) == strip(b) and set(b) == {"compas", "german"}
    assert {r["torch_threads"] for d in b.values() for rows in d["runs"].values() for r in rows} == {1}


def test_erm_balanced_weights_equalise_the_labels(data_dir):
    from fairdistill.bench.intersectional import _method_set
    from fairdistill.datasets import load
    train = load("compas", split="train", data_dir=data_dir, sensitive=["sex", "race", "age"],
                 protocol="intersectional", seed=10)
    tr, _ = _method_set("erm-balanced", train, 10, True, "cpu")
    w = tr.weights
    assert np.isclose(w.sum(), len(train))
    assert np.isclose(w[train.y == 1].sum(), w[train.y == 0].sum())


def _row(seed, bacc=0.8, df=0.5, if_=0.4, worst=0.6, best=0.9, **kw):
    return {"seed": seed, "balanced_accuracy": bacc, "df": df, "if_0.5": if_, "if_0.5_reference": if_ + 0.1,
            "worst_tpr": worst, "best_tpr": best, "group_tpr": {"(0, 0)": worst, "(0, 1)": best}, **kw}


def test_summary_of_two_seeds_gives_their_mean_and_std():
    from fairdistill.bench.intersectional import _summary
    s = _summary([_row(10, bacc=0.7, df=0.2, worst=0.5), _row(20, bacc=0.9, df=0.6, worst=0.7)])
    assert s["balanced_accuracy"] == pytest.approx({"mean": 0.8, "std": 0.1})
    assert s["df"] == pytest.approx({"mean": 0.4, "std": 0.2})
    assert s["worst_tpr"] == pytest.approx({"mean": 0.6, "std": 0.1})
    assert s["if_0.5"] == {"mean": 0.4, "std": 0.0}
    assert s["group_tpr"] == pytest.approx({"(0, 0)": 0.6, "(0, 1)": 0.9})
    assert "real_vs_generated_bacc" not in s  # no run has it
    # a run whose metric is undefined (NaN) does not count; a group missing from a run neither
    s = _summary([_row(10, df=0.2), _row(20, df=float("nan"), group_tpr={"(0, 0)": 0.4})])
    assert s["df"] == {"mean": 0.2, "std": 0.0}
    assert s["group_tpr"] == pytest.approx({"(0, 0)": 0.5, "(0, 1)": 0.9})


def test_checks_compare_each_method_with_each_baseline():
    from fairdistill.bench.intersectional import _checks, _summary
    summ = {"erm": _summary([_row(10)]), "erm-balanced": _summary([_row(10, bacc=0.85, worst=0.55)]),
            "aug-simple": _summary([_row(10, bacc=0.795, df=0.3, if_=0.3, worst=0.6)])}
    c = _checks(summ)
    assert set(c) == {"erm", "erm-balanced"} and set(c["erm"]) == {"aug-simple"}
    assert c["erm"]["aug-simple"] == {"df_lower": True, "if_lower": True, "if_reference_lower": True,
                                      "worst_tpr_not_lower": True, "bacc_within_1pt": True}  # equal worst TPR is ok
    assert c["erm-balanced"]["aug-simple"]["bacc_within_1pt"] is False  # 0.795 < 0.85 - 0.01
    summ["aug-simple"] = _summary([_row(10, bacc=0.795, df=0.3, if_=0.3, worst=0.59)])  # below ERM's 0.6
    c = _checks(summ)
    assert c["erm"]["aug-simple"]["worst_tpr_not_lower"] is False
    assert c["erm-balanced"]["aug-simple"]["worst_tpr_not_lower"] is True  # still above 0.55
    assert {k for k, v in c["erm"]["aug-simple"].items() if not v} == {"worst_tpr_not_lower"}
