"""The fair4free-smode suite: quick run on the real COMPAS file, paired differences, and its default row."""
import importlib.util
import json

import numpy as np
import pytest

from fairdistill.bench import fair4free_smode as S
from fairdistill.bench import get
from fairdistill.errors import ConfigError


def test_quick_run_writes_results_and_its_auto_row_is_fair4free_papers(tmp_path, data_dir):
    out = get("fair4free-smode")(tmp_path, data_dir=data_dir, quick=True, cases="compas/sex")
    doc = json.loads((tmp_path / "fair4free-smode.json").read_text())
    assert doc["suite"] == "fair4free-smode" and doc["runs_made_at"] and (tmp_path / "fair4free-smode.md").exists()
    rows = set(S.ROWS) - (set() if importlib.util.find_spec(S.FOR_MODEL) else {f"auto-{S.FOR_MODEL}"})
    assert set(out["compas/sex"]["rf"]) == rows and sum(out["compas/sex"]["chosen"].values()) == 1
    run = doc["results"]["runs"][0]
    for mode in rows:
        assert 0 <= run["scores"]["rf"][mode]["bacc"] <= 1 and 0 <= run["scores"]["rf"][mode]["positive_rate"] <= 1
    assert run["scores"]["rf"]["auto-unshifted"] == run["scores"]["rf"][run["chosen"]]
    assert set(run["selection"]) == set(S.S_MODES) and f"{run['label_shift']['t']:g}" in run["label_shift"]["scores"]
    if f"auto-{S.FOR_MODEL}" in rows:  # the shift chosen again with XGBoost: its own walk, other scores
        ours, theirs = run["label_shift"]["scores"]["0"], run[f"label_shift_{S.FOR_MODEL}"]["scores"]["0"]
        assert set(theirs) == set(ours) and theirs["rates"] != ours["rates"]
    if run["label_shift"]["t"] == 0:  # no shift: the same rows and labels as the chosen mode's
        assert run["scores"]["rf"]["auto"] == run["scores"]["rf"][run["chosen"]]
    # the default fit's own rows are the ones fair4free-paper scores as fair4free-mmd, here with s read raw as in
    # its '@raw-s' row (same split, fit and forest)
    paper = get("fair4free-paper")(tmp_path / "paper", data_dir=data_dir, quick=True, cases="compas/sex")
    rf = paper["summary"]["compas/sex"]["fair4free-mmd @raw-s"]["rf"]
    assert run["scores"]["rf"]["auto"]["dpr"] == pytest.approx(rf["dpr"][0], abs=0, rel=0)
    assert run["scores"]["rf"]["auto"]["bacc"] == pytest.approx(rf["bacc"][0], abs=0, rel=0)
    # a second call finds every run in the log and computes nothing
    again = get("fair4free-smode")(tmp_path, data_dir=data_dir, quick=True, cases="compas/sex")
    assert json.dumps(again) == json.dumps(out)  # (one seed: the standard errors are NaN)
    assert len((tmp_path / "fair4free-smode.runs.jsonl").read_text().splitlines()) == 1


def test_paired_differences_and_their_standard_error():
    rng = np.random.default_rng(0)
    records = []
    for seed in range(5):
        base = {k: float(rng.random()) for k in S.SCORES}
        scores = {m: {k: base[k] + 0.1 * i + 0.01 * seed for k in S.SCORES} for i, m in enumerate(S.S_MODES)}
        chosen = S.S_MODES[seed % 2]
        scores["auto-unshifted"] = scores[chosen]
        scores["auto"] = {k: v + 0.05 * seed for k, v in scores[chosen].items()}
        records.append({"dataset": "compas", "sensitive": "sex", "seed": seed, "scores": {"rf": scores},
                        "chosen": chosen, "label_shift": {"t": 0.5 * seed}})
    summ = S.summarise(records)["compas/sex"]
    assert summ["chosen"] == {"sample": 3, "counterfactual": 2}
    assert "diff" not in summ["rf"]["sample"]
    for i, mode in enumerate(S.S_MODES[1:], start=1):
        d = np.array([r["scores"]["rf"][mode]["dpr"] - r["scores"]["rf"]["sample"]["dpr"] for r in records])
        assert summ["rf"][mode]["diff"]["dpr"]["mean"] == pytest.approx(0.1 * i)
        assert summ["rf"][mode]["diff"]["dpr"]["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(5), abs=1e-12)
        vals = [r["scores"]["rf"][mode]["eor"] for r in records]
        assert summ["rf"][mode]["eor"]["mean"] == pytest.approx(np.mean(vals)) and summ["rf"][mode]["eor"]["n"] == 5
    assert summ["rf"]["auto-unshifted"]["diff"]["dpr"]["mean"] == pytest.approx(0.1 * 2 / 5)  # seeds 1, 3: +0.1
    shift = summ["rf"]["auto"]["diff_auto-unshifted"]["eor"]  # 0.05 * seed
    assert shift["mean"] == pytest.approx(0.1) and shift["se"] == pytest.approx(np.std(0.05 * np.arange(5), ddof=1)
                                                                                / np.sqrt(5))
    assert summ["shift_t"] == [0, 0.5, 1.0, 1.5, 2.0] and "diff_auto-unshifted" not in summ["rf"]["sample"]
    md = S.markdown(S.summarise(records), {"seeds": {"compas/sex": 5}})
    assert f"- compas/sex, rf: +0.100 ± {shift['se']:.3f} / +0.100 ± {shift['se']:.3f}" in md
    assert "What choosing t for xgboost" not in md  # no auto-xgboost row (xgboost not installed): no section for it
    for seed, r in enumerate(records):  # the shift chosen for XGBoost: its own row, paired with auto, and its t
        r["scores"]["rf"]["auto-xgboost"] = {k: v - 0.02 * seed for k, v in r["scores"]["rf"]["auto"].items()}
        r["label_shift_xgboost"] = {"t": 3.0 - 0.5 * seed}
    summ = S.summarise(records)["compas/sex"]
    other = summ["rf"]["auto-xgboost"]["diff_auto"]["dpr"]
    assert other["mean"] == pytest.approx(-0.04) and summ["shift_t_xgboost"] == [3, 2.5, 2, 1.5, 1]
    md = S.markdown(S.summarise(records), {"seeds": {"compas/sex": 5}})
    section = md.split("What choosing t for xgboost")[1]
    assert f"- compas/sex, rf: -0.040 ± {other['se']:.3f} / -0.040 ± {other['se']:.3f}" in section
    assert "Shift steps t chosen for xgboost (seeds): compas/sex 3, 2.5, 2, 1.5, 1" in md


@pytest.mark.slow
def test_runs_in_worker_processes_equal_runs_in_this_one(tmp_path, data_dir):
    """jobs=2 gives the same records as jobs=1 (every run is seeded; both with one torch thread), each stamped with
    its thread count."""
    from fairdistill.torchutil import single_thread
    with single_thread():
        a = S.run(tmp_path / "a", data_dir=data_dir, quick=True, cases="compas/sex,compas/race")
    b = S.run(tmp_path / "b", data_dir=data_dir, quick=True, cases="compas/sex,compas/race", jobs=2)
    assert json.dumps(a) == json.dumps(b)
    runs = [json.loads(line) for line in (tmp_path / "b" / "fair4free-smode.runs.jsonl").read_text().splitlines()]
    assert sorted(r["sensitive"] for r in runs) == ["race", "sex"] and {r["torch_threads"] for r in runs} == {1}


def test_bad_options():
    with pytest.raises(ConfigError, match=r"^unknown fair4free-smode case\(s\) \['compas/age'\]"):
        S.run("unused", cases="compas/age")
    with pytest.raises(ConfigError, match="seeds=0"):
        S.run("unused", seeds=0)
