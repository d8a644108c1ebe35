"""Smoke test of the fair4free-paper suite in its quick configuration on the real Adult and COMPAS files."""
import json

import numpy as np

from fairdistill.bench import get
from fairdistill.bench.fair4free import CASES, GENERATED


def test_quick_suite_writes_results(tmp_path, data_dir):
    paper = get("fair4free-paper")
    out = paper(tmp_path, data_dir=data_dir, quick=True)
    for ext in ("json", "md", "png"):
        assert (tmp_path / f"fair4free-paper.{ext}").stat().st_size > 0
    doc = json.loads((tmp_path / "fair4free-paper.json").read_text())
    assert doc["suite"] == "fair4free-paper" and doc["config"]["quick"] is True
    summary = doc["results"]["summary"]
    assert sorted(summary) == sorted(f"{d}/{a}" for d, a in CASES)
    for case in summary.values():
        assert {"original", "correlation-remover", "threshold-optimizer", *GENERATED} <= set(case)
        for name, row in case.items():
            for cell in row.values():
                for key in ("acc", "bacc", "recall", "f1"):
                    assert 0 <= cell[key][0] <= 1
                if name in GENERATED:
                    assert 0 <= cell["coverage"][0] <= 1 and cell["density"][0] >= 0
    run = doc["results"]["runs"][0]
    for r in doc["results"]["runs"]:  # quick sets are < 10,000 rows: no subsample, so the bound is exact
        for name in ("original", *GENERATED):  # original: the real test rows, bounded the same way
            assert r["rows"][name]["coverage"] <= r["coverage_bound"] + 1e-12
            assert 0 <= r["rows"][name]["coverage_dedup"] <= 1
    syn = run["rows"]["fair4free-mmd"]
    assert 0 <= syn["synthetic_positive_rate"] <= 1
    # per-group selection rates are reported beside DPR (a constant classifier would give DPR 1 or NaN)
    rates = run["rows"]["original"]["downstream"]["rf"]["positive_rate_by_group"]
    assert len(rates) == 2 and all(0 <= v <= 1 for v in rates.values())
    assert set(out["targets"]) == set(summary) | {f"{c} @own-split" for c in summary}
    for case in summary.values():  # the paper's own-split protocol beside every generated set and the original
        assert {f"{n} @own-split" for n in ("original", *GENERATED)} <= set(case)
    md = (tmp_path / "fair4free-paper.md").read_text()
    assert "paper: fair4free" in md and "compas" in md
    assert np.isfinite(run["fit_seconds"])


def test_own_split_protocol_matches_an_independent_sklearn_computation():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split

    from fairdistill.bench.fair4free import _own_split
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=400) > 0.4).astype(int)
    sf = rng.integers(0, 2, 400)
    make = {"rf": lambda: RandomForestClassifier(n_estimators=10, random_state=0)}
    got = _own_split(X, y, sf, make, seed=3)["rf"]
    tr, te = train_test_split(np.arange(400), test_size=0.3, stratify=y, random_state=3)
    ref = RandomForestClassifier(n_estimators=10, random_state=0).fit(X[tr], y[tr]).predict(X[te])
    assert np.isclose(got["acc"], accuracy_score(y[te], ref))
    assert np.isclose(got["positive_rate"], ref.mean())


def test_resume_reuses_cached_runs_and_summarises_every_case(tmp_path, data_dir):
    import pytest

    from fairdistill.errors import ConfigError
    paper = get("fair4free-paper")
    paper(tmp_path, data_dir=data_dir, quick=True, cases="compas/sex")
    cache = tmp_path / "fair4free-paper.runs.jsonl"
    rec = json.loads(cache.read_text())
    rec["marker"] = "kept"  # a recomputed run would not carry it
    fidelity = {k: rec["rows"]["original"].pop(k) for k in ("density", "coverage", "coverage_dedup")}
    cache.write_text(json.dumps(rec) + "\n")  # as cached before the original row had its fidelity
    out = paper(tmp_path, data_dir=data_dir, quick=True, cases="compas/race", resume=True)
    assert [(r["sensitive"], r.get("marker")) for r in out["runs"]] == [("sex", "kept"), ("race", None)]
    assert {k: out["runs"][0]["rows"]["original"][k] for k in fidelity} == fidelity  # filled in, same values
    assert [json.loads(line)["rows"]["original"].get("coverage") for line in cache.read_text().splitlines()] == [
        fidelity["coverage"], out["runs"][1]["rows"]["original"]["coverage"]]  # and written back once
    assert set(out["summary"]) == {"compas/sex", "compas/race"}
    with pytest.raises(ConfigError, match="unknown case"):
        paper(tmp_path, data_dir=data_dir, quick=True, cases="compas/age")
