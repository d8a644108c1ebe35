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
        for name in GENERATED:
            assert r["rows"][name]["coverage"] <= r["coverage_bound"] + 1e-12
            assert 0 <= r["rows"][name]["coverage_dedup"] <= 1
    syn = run["rows"]["fair4free-mmd"]
    assert 0 <= syn["synthetic_positive_rate"] <= 1
    # per-group selection rates are reported beside DPR (a constant classifier would give DPR 1 or NaN)
    rates = run["rows"]["original"]["downstream"]["rf"]["positive_rate_by_group"]
    assert len(rates) == 2 and all(0 <= v <= 1 for v in rates.values())
    assert set(out["targets"]) == set(summary)
    md = (tmp_path / "fair4free-paper.md").read_text()
    assert "paper: fair4free" in md and "compas" in md
    assert np.isfinite(run["fit_seconds"])
