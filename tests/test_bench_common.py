"""What the benchmark suites share: mean ± std, configuration keys, refusing a generic option a suite ignores."""
import numpy as np
import pytest

from fairdistill.bench import demo, fairdd, fwc
from fairdistill.bench.common import check_data, config_diff, config_key, mean_std
from fairdistill.errors import ConfigError, MissingDataError


def test_mean_std_leaves_out_undefined_values():
    assert mean_std([1.0, 3.0]) == (2.0, 1.0, 2)
    assert mean_std([1.0, None, float("nan"), 3.0, float("inf")]) == (2.0, 1.0, 2)
    assert mean_std(iter([np.float32(0.5)])) == (0.5, 0.0, 1)
    m, s, n = mean_std([None, float("nan")])
    assert np.isnan(m) and np.isnan(s) and n == 0
    assert mean_std([0.1, 0.2, 0.7])[:2] == (float(np.mean([0.1, 0.2, 0.7])), float(np.std([0.1, 0.2, 0.7])))


def test_config_key_covers_only_the_named_fields_as_json_stores_them():
    a = {"quick": False, "downstream": {"model": "mlp", "repeats": 1}, "sizes": (0.05, 0.1), "seeds": 10}
    fields = ("quick", "downstream", "sizes")
    assert len(config_key(a, fields)) == 12
    assert config_key(a, fields) == config_key({**a, "sizes": [0.05, 0.1], "seeds": 2}, reversed(fields))
    assert config_key(a, fields) != config_key({**a, "quick": True}, fields)
    assert config_diff(a, {**a, "quick": True, "seeds": 3, "sizes": [0.05, 0.1]}, fields) == ["quick"]


@pytest.mark.parametrize("suite, options, option", [
    (fairdd.cost, {"seeds": 5}, "--seeds"), (demo.timing, {"seeds": 2}, "--seeds"),
    (demo.timing, {"device": "cuda"}, "--device"), (fwc.scale, {"data_dir": "x"}, "--data-dir")])
def test_a_suite_refuses_a_generic_option_it_ignores(tmp_path, suite, options, option):
    with pytest.raises(ConfigError, match=f"ignores {option}; it accepts") as err:
        suite(tmp_path / "out", **options)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_check_data_names_the_missing_file_before_a_suite_writes(tmp_path, data_dir):
    check_data(["crime", "german"], data_dir)
    with pytest.raises(MissingDataError,
                       match=r"missing file .* for dataset crime: looked only in data_dir \(--data-dir\)") as err:
        check_data(["crime"], tmp_path / "nodata")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="unknown dataset 'crim'"):
        check_data(["crim"], data_dir)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suite", ["fwc-paper", "fair4free-paper", "fair4free-smode", "intersectional",
                                   "fairdd-paper", "fairdd-cost"])
def test_a_suite_checks_its_data_before_it_makes_its_folder(tmp_path, suite):
    from fairdistill.bench import get
    with pytest.raises(MissingDataError, match=r"looked only in data_dir \(--data-dir\)"):
        get(suite)(tmp_path / "a" / "out", data_dir=tmp_path / "nodata", quick=True)
    assert list(tmp_path.iterdir()) == []


def test_bench_reads_the_code_commit_before_the_suite_runs(monkeypatch, tmp_path):
    """A run's ``made_at`` is the commit when ``fairdistill bench`` started, not when its first run ended: a checkout
    edited (or committed to) while a long suite runs must not relabel runs made by the code loaded earlier."""
    from fairdistill import bench, cli
    from fairdistill.bench import record
    record.process_commit.cache_clear()
    checkout = {"commit": "at-start"}
    monkeypatch.setattr(record, "git_commit", lambda *a, **k: checkout["commit"])
    seen = {}

    def suite(out_dir, *, data_dir=None, seeds=None, quick=False, device="auto"):
        checkout["commit"] = "later"  # someone commits while the first run is under way
        seen["made_at"] = record.stamp({})["made_at"]

    monkeypatch.setattr(bench, "get", lambda name: suite)
    try:
        assert cli.main(["--quiet", "bench", "fwc-scale", "--out", str(tmp_path / "out")]) == 0
    finally:
        record.process_commit.cache_clear()
    assert seen["made_at"] == "at-start"


def test_run_tasks_gives_every_result_in_workers_as_in_this_process():
    from fairdistill.bench.common import mean_std, run_tasks
    tasks = [([1.0, 2.0, 3.0],), ([4.0],), ([None, 5.0, 7.0],)]
    serial = list(run_tasks(mean_std, tasks, 1))
    assert [t for t, _ in serial] == tasks and serial[0][1] == (2.0, pytest.approx(0.816496580927726), 3)
    parallel = sorted(run_tasks(mean_std, tasks, 2), key=lambda r: tasks.index(r[0]))
    assert parallel == serial


@pytest.mark.parametrize("suite", ["fair4free-paper", "fair4free-smode", "intersectional"])
@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_a_bad_jobs_count_is_refused_before_anything_is_written(tmp_path, suite, jobs):
    from fairdistill.bench import get
    with pytest.raises(ConfigError, match=r"^jobs=.* must be a whole number >= 1"):
        get(suite)(tmp_path / "out", quick=True, jobs=jobs)
    assert not (tmp_path / "out").exists()
