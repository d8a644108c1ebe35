"""The `fairdistill` command end to end on the real data, and its bad-input behaviour (one line, status 2)."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fairdistill.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_datasets_lists_every_name_and_presence(capsys, data_dir):
    code, out, _ = run(capsys, "datasets", "--data-dir", data_dir)
    assert code == 0
    for name in ("adult", "compas", "german", "crime", "drug", "cmnist-fg", "cfmnist-bg", "cifar10s", "celeba"):
        assert name in out
    assert "adult" in [ln.split()[0] for ln in out.splitlines() if "present" in ln]
    assert "celeba" in [ln.split()[0] for ln in out.splitlines() if "missing" in ln]


def test_datasets_name_shows_the_options(capsys, data_dir):
    code, out, _ = run(capsys, "datasets", "cmnist-fg", "--data-dir", data_dir)
    assert code == 0 and "faithful (bool, default False)" in out and "--data-option" in out
    code, _, err = run(capsys, "datasets", "nope")
    assert code == 2 and "unknown dataset 'nope'" in err


def test_tabular_run_evaluate_report(capsys, tmp_path, data_dir):
    out_dir = tmp_path / "adult_random"
    code, out, _ = run(capsys, "run", "random", "--dataset", "adult", "--size", "0.02", "--seed", 3, "--out", out_dir)
    assert code == 0, out
    assert {p.name for p in out_dir.iterdir()} >= {"config.json", "synthetic.npz", "synthetic.csv", "report.md"}
    z = np.load(out_dir / "synthetic.npz", allow_pickle=False)
    assert z["X"].dtype == np.float32 and z["s"].shape[1] == 1 and z["w"].sum() == len(z["y"])
    csv = pd.read_csv(out_dir / "synthetic.csv")
    assert {"age", "workclass", "sex", "income"} <= set(csv.columns) and set(csv["sex"]) <= {"Male", "Female"}
    cfg = json.loads((out_dir / "config.json").read_text())
    assert cfg["method"] == "random" and cfg["params"]["seed"] == 3
    code, out, _ = run(capsys, "evaluate", out_dir, "--model", "mlp", "--repeats", 1, "--epochs", 5)
    assert code == 0
    for metric in ("accuracy", "auc", "dp_difference", "dp_ratio", "demographic_disparity"):
        assert metric in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert 0.6 < metrics["auc"] <= 1 and 0 <= metrics["dp_difference"] <= 1
    assert all(isinstance(v, (int, float)) or v is None for v in metrics.values())  # the flat name -> number contract
    protocol = json.loads((out_dir / "evaluation.json").read_text())
    assert protocol["model"] == "mlp" and protocol["repeats"] == 1 and protocol["options"]["epochs"] == 5
    second = tmp_path / "adult_full"
    assert run(capsys, "run", "full", "--dataset", "adult", "--out", second)[0] == 0
    code, out, _ = run(capsys, "report", out_dir, second, "--out", tmp_path / "cmp")
    assert code == 0 and "random:adult_random" in out and "full:adult_full" in out
    assert (tmp_path / "cmp" / "tradeoff.png").exists() and (tmp_path / "cmp" / "groups.png").exists()


def test_image_run_evaluate_prints_deo(capsys, tmp_path, data_dir):
    out_dir = tmp_path / "cm"
    assert run(capsys, "run", "random", "--dataset", "cmnist-fg", "--ipc", 2, "--out", out_dir)[0] == 0
    assert (out_dir / "grid.png").exists() and not (out_dir / "synthetic.csv").exists()
    code, out, _ = run(capsys, "evaluate", out_dir, "--model", "convnet", "--repeats", 1, "--epochs", 1,
                       "--width", 8)
    assert code == 0
    for metric in ("accuracy", "deo_max", "deo_avg"):
        assert metric in out
    m = json.loads((out_dir / "metrics.json").read_text())
    assert 0 <= m["deo_max"] <= 100 and m["deo_avg"] <= m["deo_max"]


@pytest.mark.parametrize("argv,fragment", [
    (["run", "random", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["run", "nope", "--dataset", "adult"], "unknown method 'nope'"),
    (["run", "random", "--dataset", "cmnist-fg", "--ipc", "100000"], "ipc=100000 exceeds"),
    (["run", "random", "--dataset", "adult", "--size", "0"], "size='0' is not valid; give a fraction in (0, 1)"),
    (["run", "random", "--dataset", "adult", "--size", "1e9"], "has only"),
    (["run", "random", "--dataset", "adult", "--sensitive", "height"], "no sensitive attribute ['height']"),
    (["run", "random", "--dataset", "adult", "--data-option", "protocol=magic"], "protocol"),
    (["run", "random", "--dataset", "adult", "--resume"], "no checkpoint"),
])
def test_bad_input_is_one_line_status_2_and_no_folder(capsys, tmp_path, data_dir, argv, fragment):
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, *argv, "--out", out_dir)
    assert code == 2
    assert err.startswith("fairdistill: error:") and fragment in err and err.count("\n") == 1
    assert not out_dir.exists() and not (tmp_path / "out.partial").exists()


def test_missing_file_names_the_file_and_where_it_looked(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRDISTILL_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code, _, err = run(capsys, "run", "random", "--dataset", "german", "--data-dir", tmp_path, "--out",
                       tmp_path / "o")
    assert code == 2 and "german/german.data" in err and str(tmp_path) in err
    assert not (tmp_path / "o").exists()


def test_existing_run_folder_is_not_overwritten(capsys, tmp_path, data_dir):
    out_dir = tmp_path / "o"
    out_dir.mkdir()
    code, _, err = run(capsys, "run", "random", "--dataset", "german", "--out", out_dir)
    assert code == 2 and "--overwrite" in err


def test_demo_never_deletes_a_folder_it_did_not_write(capsys, tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    code, _, err = run(capsys, "demo", "--out", tmp_path)
    assert code == 2 and "not written by the demo" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "mine.txt").read_text() == "keep"


def test_report_with_a_bad_folder_writes_nothing(capsys, tmp_path):
    code, _, err = run(capsys, "report", tmp_path / "missing", "--out", tmp_path / "cmp")
    assert code == 2 and not (tmp_path / "cmp").exists()


def test_evaluate_on_a_non_run_folder(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", tmp_path)
    assert code == 2 and "not a run folder" in err


@pytest.mark.parametrize("argv", [["--help"], ["run", "random", "--help"], ["evaluate", "--help"],
                                  ["bench", "--help"], ["datasets", "--help"], ["report", "--help"]])
def test_help_explains_options_with_defaults(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out
    if argv != ["--help"]:
        assert "default" in out


def test_every_method_has_a_working_help(capsys):
    from fairdistill.methods import REGISTRY
    for name in REGISTRY:
        with pytest.raises(SystemExit) as exc:
            main(["run", name, "--help"])
        assert exc.value.code == 0, name
        out = capsys.readouterr().out
        assert f"{name} parameters" in out, name


def test_console_script_exit_status_without_traceback(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    p = subprocess.run([sys.executable, "-m", "fairdistill.cli", "run", "random", "--dataset", "nope", "--out",
                        str(tmp_path / "x")], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_bench_set_options_are_checked_against_the_suite(capsys, tmp_path):
    code, _, err = run(capsys, "bench", "fwc-scale", "--set", "bogus=1", "--out", tmp_path)
    assert code == 2 and "no option(s) ['bogus']" in err and "ns" in err
    assert list(tmp_path.iterdir()) == []
    code, out, _ = run(capsys, "bench", "list")
    assert code == 0 and "fairdd-paper" in out and "intersectional" in out


@pytest.mark.slow
def test_demo_timing_suite_records_the_demo(capsys, tmp_path, data_dir):
    assert run(capsys, "bench", "demo-timing", "--quick", "--out", tmp_path)[0] == 0
    rec = json.loads((tmp_path / "demo-timing.json").read_text())
    assert rec["results"]["demo_seconds"] > 0 and {"command", "commit", "machine"} <= set(rec)


def test_git_commit_marks_code_changes_dirty_but_not_results_or_prose(tmp_path):
    import subprocess

    from fairdistill.bench.record import git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("# readme\n")
    (tmp_path / "benchmarks" / "suite.json").write_text("{}\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "init")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert git_commit(tmp_path) == head
    (tmp_path / "benchmarks" / "suite.json").write_text('{"rewritten": true}\n')
    assert git_commit(tmp_path / "benchmarks") == head  # a suite rewriting its own results stays clean
    (tmp_path / "README.md").write_text("# readme, edited while a suite runs\n")
    assert git_commit(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == head + "-dirty"
