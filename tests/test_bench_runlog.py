"""The benchmarks' run log: records stamped with the configuration key, torn last lines, other configurations."""
import json

import pytest

from fairdistill.bench.record import MADE_AT, git_commit, made_at_tally, write_results
from fairdistill.bench.runlog import RunLog
from fairdistill.errors import ConfigError, ResumeError


def bare(records):
    """Records without the commit stamp (checked on its own below)."""
    return [{k: v for k, v in r.items() if k != MADE_AT} for r in records]


def test_round_trip_keeps_records_and_order(tmp_path):
    log = RunLog(tmp_path / "sub" / "s.runs.jsonl", "abc")
    assert log.records() == []  # no file yet
    recs = [{"dataset": "crime", "seed": s, "w1": 0.5 + s, "nested": {"a": [1, 2]}} for s in range(3)]
    for r in recs:
        log.append(r)
    assert bare(RunLog(log.path, "abc").records()) == recs
    lines = log.path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["config_key"] == "abc" for line in lines)


def test_torn_last_line_is_skipped_with_a_warning_and_cut_off_by_the_next_append(tmp_path):
    log = RunLog(tmp_path / "s.runs.jsonl", "abc")
    log.append({"seed": 0})
    log.append({"seed": 1})
    whole = log.path.read_bytes()
    log.path.write_bytes(whole + b'{"seed": 2, "w1": 0.3')  # killed in the middle of an append
    with pytest.warns(RuntimeWarning, match="line 3 is incomplete"):
        assert bare(log.records()) == [{"seed": 0}, {"seed": 1}]
    log.append({"seed": 3})
    assert log.path.read_bytes().startswith(whole) and log.path.read_text().count("\n") == 3
    assert bare(log.records()) == [{"seed": 0}, {"seed": 1}, {"seed": 3}]
    # a torn multi-byte character is torn too
    log.path.write_bytes(log.path.read_bytes() + '{"method": "FWC (ε'.encode()[:-1])
    with pytest.warns(RuntimeWarning, match="incomplete"):
        assert len(log.records()) == 3
    # a complete record that only lacks its newline is kept, and the next append starts a new line
    log.path.write_bytes(whole + b'{"seed": 9, "config_key": "abc"}')
    assert log.records()[-1] == {"seed": 9}
    log.append({"seed": 10})
    assert [r["seed"] for r in log.records()] == [0, 1, 9, 10]


def test_damage_before_the_last_line_is_an_error(tmp_path):
    log = RunLog(tmp_path / "s.runs.jsonl", "abc")
    log.append({"seed": 0})
    log.path.write_text("not json\n" + log.path.read_text())
    with pytest.raises(ResumeError, match="line 1 is not a JSON record"):
        log.records()


def test_records_of_another_configuration_are_refused(tmp_path):
    path = tmp_path / "s.runs.jsonl"
    RunLog(path, "quick").append({"seed": 0})
    with pytest.raises(ConfigError, match=r"another configuration \(config key quick, this run's is full\)"):
        RunLog(path, "full").records()
    path.write_text(json.dumps({"seed": 0}) + "\n")  # written before records carried a key
    with pytest.raises(ConfigError, match="config key missing"):
        RunLog(path, "full").records()


def test_every_run_carries_the_commit_that_made_it(tmp_path, monkeypatch):
    """A resumed suite mixes runs of several commits: each logged run keeps its own, and the results header counts
    them (the header's commit is only that of the invocation that wrote the file)."""
    log = RunLog(tmp_path / "s.runs.jsonl", "abc")
    made = log.append({"seed": 0})
    assert made == {"seed": 0, MADE_AT: git_commit()} and log.records() == [made]
    log.append({"seed": 1, MADE_AT: "old"})  # a resumed run keeps the commit it was made at
    assert [r[MADE_AT] for r in log.records()] == [git_commit(), "old"]
    runs = [*log.records(), {"seed": 2}, {"seed": 3, MADE_AT: "old"}]
    assert made_at_tally(runs) == {"old": 2, git_commit(): 1, "unrecorded": 1}
    out = json.loads(write_results(tmp_path / "r.json", "s", {}, {}, runs=runs).read_text())
    assert out["runs_made_at"] == {"old": 2, git_commit(): 1, "unrecorded": 1}
    assert "runs_made_at" not in json.loads(write_results(tmp_path / "q.json", "s", {}).read_text())
