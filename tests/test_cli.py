"""The `fairdistill` command end to end on the real data, and its bad-input behaviour (one line, status 2)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairdistill.cli import main
from fairdistill.errors import ConfigError


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
    assert "missing (cifar10s, celeba, utkface, bffhq): `fairdistill datasets NAME` says" in out
    assert out.splitlines()[0].endswith("(default first)")  # no empty sizes column without --sizes


def test_datasets_name_shows_the_options(capsys, data_dir):
    code, out, _ = run(capsys, "datasets", "cmnist-fg", "--data-dir", data_dir)
    assert code == 0 and "faithful (bool, default False)" in out and "--data-option" in out
    code, _, err = run(capsys, "datasets", "nope")
    assert code == 2 and "unknown dataset 'nope'" in err
    code, out, _ = run(capsys, "datasets", "celeba", "--data-dir", data_dir)  # missing: what to supply, and where
    assert code == 0 and "files: missing\n  supply the folder celeba/" in out
    code, out, _ = run(capsys, "datasets", "adult", "--data-dir", Path(data_dir) / "german")
    assert code == 0 and "missing file 'adult/adult.data'" in out


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
    assert protocol["settings"]["epochs"] == 5 and "hidden" in protocol["settings"]  # defaults recorded too
    groups = json.loads((out_dir / "groups.json").read_text())
    assert sorted(g["names"]["sex"] for g in groups) == ["Female", "Male"]
    tpr, fpr = [g["tpr"] for g in groups], [g["fpr"] for g in groups]  # one repeat: eo_difference from the groups
    assert metrics["eo_difference"] == pytest.approx(max(max(tpr) - min(tpr), max(fpr) - min(fpr)), abs=1e-12)
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
    (["run", "random", "--dataset", "adult", "--size", "1e9"], "has only"),
    (["run", "random", "--dataset", "adult", "--sensitive", "height"], "unknown sensitive attribute(s) of dataset 'adult' ['height']; choose from: "),
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


def test_report_replaces_only_an_earlier_report_and_leaves_no_stale_figure(capsys, tmp_path, data_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        assert run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--out", d)[0] == 0
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "thesis.txt").write_text("important")
    (tmp_path / "afile").write_text("x")
    for out, why in ((tmp_path / "thesis", "is a folder that is not a report folder (comparison.md), and --out "
                                           "replaces only a report folder"),
                     (tmp_path / "afile", "is a file; choose another --out"), (a, "is not a report folder")):
        for extra in ([], ["--overwrite"]):
            code, _, err = run(capsys, "report", a, "--out", out, *extra)
            assert code == 2 and why in err and len(err.splitlines()) == 1
    assert os.listdir(tmp_path / "thesis") == ["thesis.txt"] and (tmp_path / "afile").read_text() == "x"
    code, _, err = run(capsys, "report", a, tmp_path / "x" / ".." / "a", "--out", tmp_path / "dup")
    assert code == 2 and f"run folder(s) {a} given twice" in err and not (tmp_path / "dup").exists()
    cmp = tmp_path / "cmp"
    cmp.mkdir()  # an empty folder, as for a run: replaced only with --overwrite
    code, _, err = run(capsys, "report", a, b, "--out", cmp)
    assert code == 2 and "already exists; choose another --out or pass --overwrite" in err
    assert run(capsys, "report", a, b, "--out", cmp, "--overwrite")[0] == 0
    (cmp / "grid_old.png").write_bytes(b"an earlier report's figure")
    code, _, err = run(capsys, "report", a, "--out", cmp)
    assert code == 2 and err == f"fairdistill: error: report folder {cmp} already exists; choose another --out or " \
                                f"pass --overwrite\n"
    assert run(capsys, "report", a, "--out", cmp, "--overwrite")[0] == 0
    assert sorted(os.listdir(cmp)) == ["comparison.md"]  # the old figure went with the old report
    assert "uniform:a" in (cmp / "comparison.md").read_text() and "uniform:b" not in (cmp / "comparison.md").read_text()


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
    assert code == 2 and "unknown option(s) of bench fwc-scale ['bogus']; choose from: ns (--set KEY=VALUE)" in err
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


# ---------------------------------------------------------------------------------------- new-user review fixes
def parse_error(capsys, *argv):
    """An argparse error: status 2 and the stderr text."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    return exc.value.code, capsys.readouterr().err


@pytest.mark.parametrize("argv,prog,fragment", [
    (["run", "fwc", "--dataset", "german", "--epsilonn", "0.1", "--out", "o"], "fairdistill run fwc",
     "unrecognized arguments: --epsilonn 0.1; did you mean --epsilon?"),
    (["run", "fwc", "--dataset", "german"], "fairdistill run fwc", "the following arguments are required: --out"),
    (["run", "fwc", "--dataset", "german", "--ipc", "3", "--out", "o"], "fairdistill run fwc",
     "unrecognized arguments: --ipc 3"),
    (["run", "uniform", "--dataset", "german", "--data-seed", "-1", "--out", "o"], "fairdistill run uniform",
     "argument --data-seed: -1 must lie in 0..4294967295"),
    (["run", "uniform", "--dataset", "german", "--data-seed", str(2 ** 32), "--out", "o"], "fairdistill run uniform",
     "argument --data-seed: 4294967296 must lie in 0..4294967295"),  # the loader's range, checked by the flag
    (["run", "random", "--dataset", "adult", "--size", "0", "--out", "o"], "fairdistill run random",
     "argument --size: '0' is not valid; give a fraction in (0, 1)"),
    (["run", "fair4free", "--dataset", "adult", "--n-samples", "0", "--out", "o"], "fairdistill run fair4free",
     "argument --n-samples: 0 must be > 0"),
    (["run", "fwc", "--dataset", "adult", "--preset", "papr", "--out", "o"], "fairdistill run fwc",
     "argument --preset: 'papr' is unknown; did you mean 'paper'?; choose from: 'default', 'paper'"),
    (["run", "uniform", "--dataset", "german", "--evaluate", "svm", "--out", "o"], "fairdistill run uniform",
     "argument --evaluate: invalid choice: 'svm'"),
    (["evaluate", "runs/x", "--epochz", "3"], "fairdistill evaluate", "did you mean --epochs?"),
    (["evaluate", "runs/x", "--repeats", "0"], "fairdistill evaluate", "argument --repeats: 0 must be > 0"),
    (["bogus"], "fairdistill", "invalid choice: 'bogus'"),
])
def test_argparse_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, prog, fragment):
    monkeypatch.chdir(tmp_path)
    code, err = parse_error(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and "usage:" not in err
    assert err.startswith(f"{prog}: error: ") and fragment in err and err.endswith(f"(see {prog} --help)\n")
    assert list(tmp_path.iterdir()) == []


def test_quiet_is_accepted_in_every_command(capsys, tmp_path):
    from fairdistill.cli import build_parser
    parser = build_parser()
    for argv in (["datasets"], ["evaluate", "x"], ["report", "x"], ["bench", "list"], ["demo"], ["download", "x"],
                 ["run", "fwc"]):
        args, extra = parser.parse_known_args([*argv, "--quiet"])
        assert (args.quiet or "--quiet" in args.rest) and not extra, argv
    assert parser.parse_args(["--quiet", "datasets"]).quiet  # before the command, as before
    code, out, err = run(capsys, "run", "random", "--dataset", "german", "--size", 20, "--out", tmp_path / "r",
                         "--quiet")
    assert code == 0 and err == ""


def test_help_lists_methods_and_examples(capsys):
    for argv, fragments in [(["run", "--help"], ["fwc", "Fair Wasserstein Coresets", "fairdd-dm", "Examples:",
                                                 "fairdistill run fwc --dataset adult"]),
                            (["run", "fairdd-dm", "--help"], ["example: fairdistill run fairdd-dm --dataset "
                                                              "cmnist-fg --ipc 10 --iterations 200"]),
                            (["report", "--help"], ["comparison.md", "tradeoff.png", "example:"]),
                            (["evaluate", "--help"], ["default: the method's recommendation, else 5"]),
                            (["bench", "--help"], ["runs/bench-quick"])]:
        with pytest.raises(SystemExit):
            main(argv)
        out = " ".join(capsys.readouterr().out.split())
        for fragment in fragments:
            assert fragment in out, (argv, fragment)
    code, out, _ = run(capsys, "run", "list")
    assert code == 0 and "Fair Wasserstein Coresets" in out


def test_datasets_listing_shows_full_targets(capsys, data_dir):
    from fairdistill import datasets
    code, out, _ = run(capsys, "datasets", "--data-dir", data_dir)
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip()}
    for name in ("crime", "adult", "cmnist-pca"):
        sp = datasets.spec(name)
        assert sp.target in rows[name] and ", ".join(sp.default_sensitive) in rows[name]


@pytest.fixture
def german_run(capsys, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("runs") / "uniform"
    assert run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--out", out_dir)[0] == 0
    return out_dir


def test_evaluate_repeats_and_none_option_values(capsys, german_run):
    from fairdistill.errors import ConfigError
    from fairdistill.runs import evaluate_run
    with pytest.raises(ConfigError, match="repeats=0 must be > 0"):
        evaluate_run(german_run, repeats=0)  # never silently 5
    for none in ("none", "None", "null"):
        code, _, err = run(capsys, "evaluate", german_run, "--model", "rf", "--max-depth", none, "--repeats", 1)
        assert code == 0, err
        assert json.loads((german_run / "evaluation.json").read_text())["options"] == {"max_depth": None}
    code, _, err = run(capsys, "evaluate", german_run, "--model", "mlp", "--epochs", "none", "--repeats", 1)
    assert code == 2 and "epochs='none' is not valid" in err and err.count("\n") == 1
    code, _, err = run(capsys, "evaluate", german_run, "--model", "convnet")
    assert code == 2 and "model 'convnet' is for image data but this data is tabular" in err


def test_run_evaluate_model_is_checked_before_the_data_is_loaded(capsys, tmp_path, monkeypatch):
    from fairdistill import datasets

    def boom(*args, **kwargs):
        raise AssertionError("data loaded before the model was checked")
    monkeypatch.setattr(datasets, "load", boom)
    code, _, err = run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--out", tmp_path / "o",
                       "--evaluate", "convnet")
    assert code == 2 and "model 'convnet' is for image data but this data is tabular; choose from: mlp" in err
    assert list(tmp_path.iterdir()) == []


def test_image_evaluation_labels_its_units(capsys, tmp_path, data_dir):
    out_dir = tmp_path / "cm"
    assert run(capsys, "run", "random", "--dataset", "cmnist-fg", "--ipc", 2, "--out", out_dir)[0] == 0
    code, out, _ = run(capsys, "evaluate", out_dir, "--repeats", 1, "--epochs", 1, "--width", 8)
    assert code == 0
    m = json.loads((out_dir / "metrics.json").read_text())
    shown = {ln[:28].strip(): float(ln[28:38]) for ln in out.splitlines() if ln[:28].strip().endswith("(%)")}
    assert shown["accuracy (%)"] == pytest.approx(100 * m["accuracy"], abs=0.01)  # the README's percent
    assert shown["deo_max (%)"] == pytest.approx(m["deo_max"], abs=0.01)  # DEO is in percent everywhere
    assert not any(ln.split()[0] == "accuracy" and ln.split()[1][0].isdigit() for ln in out.splitlines() if ln.strip())
    assert "metrics.json holds accuracy-like values as fractions" in out


def test_out_folder_that_cannot_be_written_is_one_line(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile" / "x", tmp_path / "afile" / "deeper" / "x"):
        code, _, err = run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--out", out)
        assert code == 2 and err == f"fairdistill: error: cannot write {out}: Not a directory; choose another " \
                                    f"folder\n"
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]
    if os.path.isdir("/proc/self"):
        code, _, err = run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--out", "/proc/x")
        assert code == 2 and err.startswith("fairdistill: error: cannot write /proc/x: ") and err.count("\n") == 1


def test_relative_data_dir_is_stored_absolute_and_folder_mode_is_a_plain_mkdir(capsys, tmp_path, data_dir,
                                                                              monkeypatch):
    monkeypatch.chdir(data_dir.parent)
    rel = os.path.relpath(data_dir, data_dir.parent)
    out_dir = tmp_path / "r"
    assert run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--data-dir", rel, "--out",
               out_dir)[0] == 0
    cfg = json.loads((out_dir / "config.json").read_text())
    assert cfg["data_dir"] == str(data_dir.resolve())
    (tmp_path / "plain").mkdir()
    assert out_dir.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
    monkeypatch.chdir(tmp_path)  # evaluate from another folder finds the data again
    assert run(capsys, "evaluate", out_dir, "--model", "logreg", "--repeats", 1)[0] == 0


def _dm(out_dir, *extra):
    return ["run", "dm", "--dataset", "german", "--ipc", 2, "--iterations", 6, "--checkpoint-every", 2,
            "--out", out_dir, *extra]


def _stop_after_first_checkpoint(monkeypatch, how):
    from fairdistill.fileio import Checkpointer
    save = Checkpointer.save

    def save_then_stop(self, step, state):
        save(self, step, state)
        how()
    monkeypatch.setattr(Checkpointer, "save", save_then_stop)


def _interrupted_dm(capsys, monkeypatch, out_dir) -> tuple[int, str]:
    """(exit code, stderr) of a dm run into ``out_dir`` stopped by Ctrl-C after its first checkpoint."""
    def interrupt():
        raise KeyboardInterrupt
    with monkeypatch.context() as m:
        _stop_after_first_checkpoint(m, interrupt)
        code, _, err = run(capsys, *_dm(out_dir))
    return code, err


def test_a_checkpoint_is_never_discarded_without_overwrite(capsys, tmp_path, data_dir, monkeypatch):
    out_dir = tmp_path / "dm"
    ckpt = tmp_path / "dm.partial" / "checkpoint.pt"
    code, err = _interrupted_dm(capsys, monkeypatch, out_dir)
    assert code == 130 and ckpt.exists()
    assert err.splitlines()[-1] == f"fairdistill: interrupted; the checkpoint in {ckpt.parent} is kept: continue " \
                                   f"with --resume"
    code, _, err = run(capsys, *_dm(out_dir))  # forgot --resume: refused, the checkpoint kept
    assert code == 2 and err == f"fairdistill: error: {ckpt.parent} holds a checkpoint of an interrupted run; " \
                                f"continue with --resume, or pass --overwrite to discard it\n"
    assert ckpt.exists()
    code, _, err = run(capsys, *_dm(out_dir, "--ipc", 3, "--resume"))  # other settings: no "continue with --resume"
    assert code == 2 and err.count("\n") == 1 and "other settings (ipc)" in err and "--overwrite" in err
    assert "continue with --resume" not in err and ckpt.exists()
    assert run(capsys, *_dm(out_dir, "--resume"))[0] == 0
    assert out_dir.exists() and not ckpt.parent.exists()
    assert _interrupted_dm(capsys, monkeypatch, tmp_path / "dm2")[0] == 130
    code, _, err = run(capsys, *_dm(tmp_path / "dm2", "--overwrite"))  # discarded on request
    assert code == 0 and (tmp_path / "dm2").exists() and not (tmp_path / "dm2.partial").exists()


def test_a_checkpoint_resumes_only_on_its_own_rows_and_method(capsys, tmp_path, data_dir, monkeypatch):
    out_dir = tmp_path / "dm"
    ckpt = tmp_path / "dm.partial" / "checkpoint.pt"
    assert _interrupted_dm(capsys, monkeypatch, out_dir)[0] == 130
    want = f"fairdistill: error: checkpoint {ckpt} was made on other training rows (the dataset, --data-seed, " \
           f"--data-option or --sensitive differ, or the data file changed); use the same settings, or pass " \
           f"--overwrite without --resume to discard it and start again\n"
    for other in (["--data-seed", 3], ["--sensitive", "age"]):  # other rows
        code, _, err = run(capsys, *_dm(out_dir, "--resume", *other))
        assert (code, err) == (2, want) and ckpt.exists() and not out_dir.exists()
    # a method that keeps no checkpoints neither resumes another's nor discards it
    for extra in (["--resume"], []):
        code, _, err = run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--out", out_dir, *extra)
        assert code == 2 and err == f"fairdistill: error: {ckpt.parent} holds the checkpoint of an interrupted run, " \
                                    f"and uniform keeps none, so it is another method's: resume that run with its " \
                                    f"own command, or pass --overwrite (without --resume) to discard it\n"
        assert ckpt.exists()
    code, _, err = run(capsys, "run", "fair4free", "--dataset", "german", "--teacher-epochs", 2, "--student-epochs", 2,
                       "--out", out_dir, "--resume")
    assert code == 2 and "was made by the method 'dm', not 'fair4free'" in err and ckpt.exists()
    assert run(capsys, *_dm(out_dir, "--resume"))[0] == 0 and not ckpt.parent.exists()
    assert _interrupted_dm(capsys, monkeypatch, tmp_path / "dm2")[0] == 130  # --overwrite discards it, as it says
    assert run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--out", tmp_path / "dm2",
               "--overwrite")[0] == 0
    assert (tmp_path / "dm2" / "synthetic.npz").exists() and not (tmp_path / "dm2.partial").exists()


def test_overwrite_replaces_a_run_folder_and_nothing_else(capsys, tmp_path, data_dir, monkeypatch):
    keep = tmp_path / "thesis"
    keep.mkdir()
    (keep / "thesis.txt").write_text("important")
    (tmp_path / "afile").write_text("x")
    cmd = ["run", "uniform", "--dataset", "german", "--size", 20, "--overwrite", "--out"]
    for flags in (cmd, [c for c in cmd if c != "--overwrite"]):  # the error never suggests a flag it then refuses
        code, _, err = run(capsys, *flags, keep)
        assert code == 2 and err == f"fairdistill: error: --out {keep} is a folder that is not a run folder " \
                                    f"(config.json and synthetic.npz), and --out replaces only a run folder; choose " \
                                    f"another --out, or empty or delete that folder yourself\n"
        assert (keep / "thesis.txt").read_text() == "important" and sorted(os.listdir(keep)) == ["thesis.txt"]
        code, _, err = run(capsys, *flags, tmp_path / "afile")
        assert code == 2 and err == f"fairdistill: error: --out {tmp_path / 'afile'} is a file; choose another --out\n"
        assert (tmp_path / "afile").read_text() == "x"
    (tmp_path / "empty").mkdir()
    assert run(capsys, *cmd, tmp_path / "empty")[0] == 0  # an empty folder, then a run folder, are replaced
    assert run(capsys, *cmd, tmp_path / "empty")[0] == 0 and (tmp_path / "empty" / "synthetic.npz").exists()
    (tmp_path / "link").symlink_to(tmp_path)
    monkeypatch.chdir(keep)
    for out in (".", "", "..", tmp_path / "link" / "thesis"):  # also the current folder through a symlink
        code, _, err = run(capsys, *cmd, out)
        assert code == 2 and err.count("\n") == 1 and ("current folder" in err or "--out is empty" in err), err
    assert sorted(os.listdir(keep)) == ["thesis.txt"]


def test_a_failed_run_leaves_no_folder_it_made(capsys, tmp_path, data_dir, monkeypatch):
    out = tmp_path / "pp" / "q" / "r"
    code, _, err = run(capsys, "run", "uniform", "--dataset", "german", "--size", 100000, "--out", out)
    assert code == 2 and "asks for" in err and os.listdir(tmp_path) == []

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("fairdistill.report.write_run_report", disk_full)  # writing the folder fails
    code, _, err = run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--out", out)
    assert code == 2 and "No space left on device" in err and os.listdir(tmp_path) == []


def test_sigterm_cleans_up_like_ctrl_c(capsys, tmp_path, data_dir, monkeypatch):
    import signal
    import time

    def term():
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):  # would end pytest itself
            raise AssertionError("main() installed no SIGTERM handler")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM was not turned into an exception")
    before = signal.getsignal(signal.SIGTERM)
    with monkeypatch.context() as m:
        _stop_after_first_checkpoint(m, term)
        code, _, err = run(capsys, *_dm(tmp_path / "dm"))
    assert code == 143 and (tmp_path / "dm.partial" / "checkpoint.pt").exists()
    assert err.splitlines()[-1] == f"fairdistill: terminated (SIGTERM); the checkpoint in {tmp_path / 'dm.partial'}" \
                                   f" is kept: continue with --resume"
    from fairdistill.methods.subsample import Random
    monkeypatch.setattr(Random, "_fit", lambda self, data: term())  # no checkpoint yet: nothing left behind
    code, _, err = run(capsys, "run", "random", "--dataset", "german", "--size", 20, "--out", tmp_path / "r")
    assert code == 143 and err.splitlines()[-1] == "fairdistill: terminated (SIGTERM)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dm.partial"]
    assert signal.getsignal(signal.SIGTERM) == before  # main() restores the handler it replaced


def _fake_suite(calls):
    def suite(out_dir, *, data_dir=None, seeds=None, quick=False, device="auto", jobs: int = 1,
              datasets: tuple[str, ...] | None = None, fail: bool = False):
        calls.append({"out": str(out_dir), "jobs": jobs, "datasets": datasets})
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        if fail:
            raise ConfigError("datasets=... has an unknown name; choose one of: a, b")
        return {}
    return suite


def test_bench_default_out_depends_on_quick_and_set_values_are_typed(capsys, tmp_path, monkeypatch):
    from fairdistill import bench
    calls = []
    monkeypatch.setattr(bench, "get", lambda name: _fake_suite(calls))
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "bench", "fake", "--quick")[0] == 0
    assert run(capsys, "bench", "fake", "--set", "jobs=2", "--set", "datasets=a,b")[0] == 0
    assert run(capsys, "bench", "fake", "--quick", "--out", "mine")[0] == 0
    assert [c["out"] for c in calls] == ["runs/bench-quick", "benchmarks", "mine"]
    assert calls[1]["jobs"] == 2 and calls[1]["datasets"] == ("a", "b")
    code, _, err = run(capsys, "bench", "fake", "--set", "jobs=abc", "--out", "bad")
    assert code == 2 and err == "fairdistill: error: --set jobs='abc' is not valid for bench fake; give an integer\n"
    code, _, err = run(capsys, "bench", "fake", "--set", "fail=true", "--out", "bad/b")
    assert code == 2 and "unknown name" in err
    assert not (tmp_path / "bad").exists() and len(calls) == 4  # the empty folders it made are removed


def test_bench_bad_set_value_on_a_real_suite(capsys, tmp_path):
    code, _, err = run(capsys, "bench", "fairdd-paper", "--quick", "--set", "jobs=abc", "--out", tmp_path / "b")
    assert code == 2 and "jobs='abc'" in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "b").exists()


def test_own_csv_run_and_evaluate_from_another_folder(capsys, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 600
    sex = rng.choice(["f", "m"], n)
    pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.choice(["a", "b", "c"], n), "sex": sex,
                  "hired": np.where(rng.random(n) < 0.3 + 0.3 * (sex == "m"), "yes", "no")}).to_csv(
        tmp_path / "mine.csv", index=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "run", "uniform", "--dataset", "csv", "--data-option", "path=mine.csv",
                       "--data-option", "target=hired", "--sensitive", "sex", "--size", 100, "--out", "r")
    assert code == 0, err
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["dataset_options"]["path"] == str(tmp_path / "mine.csv")  # absolute: found again from anywhere
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, out, err = run(capsys, "evaluate", tmp_path / "r", "--model", "mlp", "--repeats", 1, "--epochs", 3)
    assert code == 0 and "dp_ratio" in out, err
    (tmp_path / "mine.csv").rename(tmp_path / "moved.csv")  # moved: the one line says where the path is recorded
    code, _, err = run(capsys, "evaluate", tmp_path / "r", "--model", "mlp", "--repeats", 1, "--epochs", 3)
    assert code == 2 and f"the run's csv file {tmp_path / 'mine.csv'} is gone" in err and "dataset_options.path" in err
    (tmp_path / "moved.csv").rename(tmp_path / "mine.csv")
    with open(tmp_path / "mine.csv", "a") as fh:  # the file changes: its splits would differ, so evaluate refuses
        fh.write("0.5,a,f,yes\n")
    code, _, err = run(capsys, "evaluate", tmp_path / "r", "--model", "mlp", "--repeats", 1, "--epochs", 3)
    assert code == 2 and "changed since this run was made" in err
    code, _, err = run(capsys, "run", "uniform", "--dataset", "csv", "--data-option", "path=mine.csv",
                       "--out", tmp_path / "r2")
    assert code == 2 and "needs its sensitive column(s): --sensitive COL" in err
    code, _, err = run(capsys, "run", "uniform", "--dataset", "csv", "--data-option", "path=mine.csv",
                       "--sensitive", "sex", "--out", tmp_path / "r3")
    assert code == 2 and "needs --data-option path=FILE and --data-option target=COLUMN" in err
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()


def test_paper_preset_loads_the_faithful_data(capsys, tmp_path, data_dir):
    out = tmp_path / "p"
    code, _, err = run(capsys, "run", "random", "--dataset", "cmnist-fg", "--ipc", 1, "--preset", "paper",
                       "--out", out, "--data-dir", data_dir)
    assert code == 0, err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["params"]["preset"] == "paper" and cfg["dataset_options"] == {"faithful": True}
    code, _, err = run(capsys, "run", "random", "--dataset", "cmnist-fg", "--ipc", 1, "--preset", "paper",
                       "--data-option", "faithful=false", "--out", tmp_path / "q", "--data-dir", data_dir)
    cfg = json.loads((tmp_path / "q" / "config.json").read_text())
    assert code == 0 and cfg["dataset_options"] == {"faithful": False}  # an explicit choice wins
    code, _, err = run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--preset", "paper",
                       "--out", tmp_path / "g", "--data-dir", data_dir)  # german has no faithful form
    assert code == 0 and json.loads((tmp_path / "g" / "config.json").read_text())["dataset_options"] == {}
    # COMPAS has a faithful form only for FairDisCo's variant (the fair4free protocol): elsewhere the preset leaves it
    for extra, want in (([], {}), (["--data-option", "protocol=fair4free"],
                                   {"protocol": "fair4free", "faithful": True})):
        out = tmp_path / f"c{len(extra)}"
        code, _, err = run(capsys, "run", "uniform", "--dataset", "compas", "--size", 20, "--preset", "paper",
                           *extra, "--out", out, "--data-dir", data_dir)
        assert code == 0, err
        assert json.loads((out / "config.json").read_text())["dataset_options"] == want


def test_python_run_checks_the_data_seed_like_the_cli(tmp_path):
    """`--data-seed` and ``runs.execute(data_seed=...)`` share one Param: the same rule and message, nothing made."""
    from fairdistill.runs import execute
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError, match="data_seed="):
            execute("uniform", "german", data_seed=bad, out=tmp_path / "r")
    assert list(tmp_path.iterdir()) == []


def test_fair4free_run_report_names_the_mode_auto_picked(capsys, tmp_path, data_dir):
    out_dir = tmp_path / "f4f"
    code, _, err = run(capsys, "run", "fair4free", "--dataset", "compas", "--data-option", "protocol=fair4free",
                       "--teacher-epochs", 2, "--student-epochs", 1, "--out", out_dir)
    assert code == 0, err
    cfg = json.loads((out_dir / "config.json").read_text())
    picked = cfg["provenance"]["picked"]["s_mode"]
    assert picked in cfg["provenance"]["s_mode_scores"] and cfg["provenance"]["s_mode"] == picked
    assert f"| s_mode | default: auto (picked {picked}) |" in (out_dir / "report.md").read_text()


def test_a_corrupt_run_folder_is_one_line(capsys, tmp_path, data_dir):
    import numpy as np
    good = tmp_path / "good"
    assert run(capsys, "run", "uniform", "--dataset", "german", "--size", 20, "--out", good)[0] == 0
    def flip(d):  # one byte inside the compressed data: the archive opens, the array does not inflate
        raw = bytearray((d / "synthetic.npz").read_bytes())
        raw[len(raw) // 3] ^= 0xFF
        (d / "synthetic.npz").write_bytes(bytes(raw))
    cases = {"truncated": lambda d: (d / "synthetic.npz").write_bytes((d / "synthetic.npz").read_bytes()[:100]),
             "flipped": flip,
             "no-y": lambda d: np.savez(d / "synthetic.npz", **{k: v for k, v in np.load(d / "synthetic.npz").items()
                                                                 if k != "y"}),
             "config": lambda d: (d / "config.json").write_text("{oops")}
    for name, spoil in cases.items():
        d = tmp_path / name
        shutil.copytree(good, d)
        spoil(d)
        before = sorted(os.listdir(d))
        for cmd in (["evaluate", d, "--model", "logreg", "--repeats", 1], ["report", d, "--out", tmp_path / "cmp"]):
            code, _, err = run(capsys, *cmd)
            assert code == 2 and err.count("\n") == 1 and str(d) in err and "Traceback" not in err, (name, err)
        assert sorted(os.listdir(d)) == before and not (tmp_path / "cmp").exists()
    assert "lacks y; run it again" in run(capsys, "evaluate", tmp_path / "no-y")[2]
    for spoiled, says in (("{oops", "cannot be read as JSON"), ("[]", "holds a JSON list, not a dict")):
        (good / "metrics.json").write_text(spoiled)  # a spoiled evaluation is named too, with its fix
        code, _, err = run(capsys, "report", good, "--out", tmp_path / "cmp")
        assert code == 2 and err.startswith(f"fairdistill: error: {good / 'metrics.json'} {says}")
        assert err.endswith(f"; evaluate it again (fairdistill evaluate {good})\n")


def test_a_warning_is_one_line_without_source(capsys, monkeypatch):
    import warnings

    from fairdistill import cli

    def warn(args):
        warnings.warn("cell (1, 0) has one row", stacklevel=1)
        warnings.warn("old option", DeprecationWarning, stacklevel=1)
        warnings.warn("lbfgs failed to converge.\n\nIncrease the number of iterations.", stacklevel=1)
        return 0
    monkeypatch.setattr(cli, "cmd_datasets", warn)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run(capsys, "datasets")
    assert code == 0 and err == "fairdistill: warning: cell (1, 0) has one row\n" \
                                "fairdistill: warning: old option [DeprecationWarning]\n" \
                                "fairdistill: warning: lbfgs failed to converge. Increase the number of iterations.\n"
    assert warnings.showwarning is not cli._show_warning  # restored after the command


def test_help_shows_choices_and_defaults_and_pair_errors_give_valid_examples(capsys):
    def help_text(*argv):
        with pytest.raises(SystemExit):
            main(list(argv))
        return " ".join(capsys.readouterr().out.split())
    text = help_text("run", "fwc", "--help")
    assert "--preset {default,paper}" in text and "defects stay behind explicit options (default: default)" in text
    assert "default: none (`fairdistill evaluate DIR` does it later)" in text
    assert "options override it (default: default)" in help_text("run", "fair4free", "--help")
    for flag, example in (("--data-option", "protocol=fwc"), ("--model-option", "epochs=10"),
                          ("--set", "datasets=VALUE; bench fwc-paper accepts datasets, resume")):
        cmd = {"--data-option": ["run", "uniform", "--dataset", "german", "--out", "x"],
               "--model-option": ["evaluate", "x"], "--set": ["bench", "fwc-paper"]}[flag]
        code, _, err = run(capsys, *cmd, flag, "foo")
        assert code == 2 and err == f"fairdistill: error: {flag} 'foo' must look like KEY=VALUE (e.g. {flag} " \
                                    f"{example})\n"


def test_report_keeps_runs_over_other_groups_apart(capsys, tmp_path, data_dir, monkeypatch):
    """Runs scored on other groups or other test rows: a sensitive column, a note naming the test splits, and one
    titled groups.png panel per (test split, groups), each labelled with that run's own group names (the first run's
    names were put on every run's bars); folders with one name get labels that tell them apart."""
    import fairdistill.report as report

    for folder, extra in (("a/sex", ["--sensitive", "sex"]), ("a/age", ["--sensitive", "age"]),
                          ("b/sex", ["--sensitive", "sex", "--data-seed", 1])):
        d = tmp_path / folder
        assert run(capsys, "run", "uniform", "--dataset", "german", *extra, "--size", 200, "--out", d,
                   "--data-dir", data_dir)[0] == 0
        assert run(capsys, "evaluate", d, "--model", "logreg", "--repeats", 1)[0] == 0
    figures = {}
    real_save = report.save_figure
    monkeypatch.setattr(report, "save_figure", lambda fig, path: (figures.__setitem__(Path(path).name, fig),
                                                                  real_save(fig, path))[1])
    runs = [tmp_path / f for f in ("a/sex", "a/age", "b/sex")]
    assert run(capsys, "report", *runs, "--out", tmp_path / "cmp")[0] == 0
    text = (tmp_path / "cmp" / "comparison.md").read_text()
    for label, axis in (("uniform:a/sex", "sex"), ("uniform:a/age", "age"), ("uniform:b/sex", "sex")):
        assert f"| {label} | german | {axis} |" in text
    assert "scored on different test splits or groups (german, data seed 1, sensitive sex; german, sensitive age; " \
           "german, sensitive sex)" in text
    panels = [({t.get_text() for t in ax.get_xticklabels()}, ax.get_title()) for ax in figures["groups.png"].axes]
    assert panels == [({"female", "male"}, "german, sensitive sex"), ({"age<25", "age>=25"}, "german, sensitive age"),
                      ({"female", "male"}, "german, data seed 1, sensitive sex")]


def test_a_single_class_set_is_refused_before_writing_when_it_will_be_evaluated(capsys, tmp_path, data_dir):
    """--size 2 of german (70% 'good') can hold one class: with --evaluate nothing is written and the one line names
    the class and the fix; without it the run is written with a warning, and evaluate says the same."""
    argv = ["run", "uniform", "--dataset", "german", "--size", 2, "--seed", 0, "--data-dir", data_dir]
    from fairdistill import datasets
    from fairdistill.methods import make
    y = make("uniform", size=2, seed=0).fit(datasets.load_splits("german", data_dir=data_dir)["train"]).synthetic_.y
    assert len(set(y)) == 1  # the premise: this seed draws one class
    code, _, err = run(capsys, *argv, "--out", tmp_path / "e", "--evaluate", "mlp")
    assert code == 2 and not (tmp_path / "e").exists() and err.count("\n") == 1
    assert "single class ('good', 2 rows)" in err and "larger size" in err
    code, _, err = run(capsys, *argv, "--out", tmp_path / "w")
    assert code == 0 and "fairdistill: warning: uniform: the synthetic set holds a single class" in err
    code, _, err = run(capsys, "evaluate", tmp_path / "w")
    assert code == 2 and "single class ('good', 2 rows)" in err and not (tmp_path / "w" / "metrics.json").exists()


def test_evaluate_finds_the_data_again_when_the_runs_folder_is_gone(capsys, tmp_path, data_dir, monkeypatch):
    """config.json records the --data-dir of the run; once that folder is gone, evaluate searches
    $FAIRDISTILL_DATA (the files are checksummed), and an explicit --data-dir still wins."""
    copy = tmp_path / "data"
    copy.mkdir()
    (copy / "german").symlink_to(Path(data_dir).resolve() / "german")
    assert run(capsys, "run", "uniform", "--dataset", "german", "--size", 100, "--data-dir", copy,
               "--out", tmp_path / "r")[0] == 0
    shutil.rmtree(copy)
    monkeypatch.setenv("FAIRDISTILL_DATA", str(data_dir))
    code, _, err = run(capsys, "evaluate", tmp_path / "r", "--model", "logreg", "--repeats", 1)
    assert code == 0 and (tmp_path / "r" / "metrics.json").exists(), err
    monkeypatch.delenv("FAIRDISTILL_DATA")
    assert run(capsys, "evaluate", tmp_path / "r", "--model", "logreg", "--repeats", 1, "--data-dir", data_dir)[0] == 0
