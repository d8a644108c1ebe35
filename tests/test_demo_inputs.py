"""`fairdistill demo` checks its seed, --out and data before it writes anything: bad input leaves no folder."""
import pytest

from fairdistill.cli import main
from fairdistill.demo import MARKER, run_demo
from fairdistill.errors import ConfigError, MissingDataError


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "argument --seed: -1 must lie in 0..4294967295 (2**32 - 1)"),
    (["--seed", "4294967296"], "argument --seed: 4294967296 must lie in 0..4294967295"),
    (["--data-dir", "nodata"], "looked only in data_dir (--data-dir) nodata (no such folder)"),
])
def test_bad_input_is_one_line_and_leaves_no_folder(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    for out in (["--out", "a/b/dm"], []):  # given, with missing parents, and the default runs/demo
        try:
            code = main(["demo", *args, *out])
        except SystemExit as exc:  # refused by the argument parser (a bad --seed)
            code = exc.code
        assert code == 2
        err = capsys.readouterr().err
        assert message in err and "--data-seed" not in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", [-1, 2 ** 32])
def test_run_demo_checks_its_seed_first(tmp_path, seed):
    with pytest.raises(ConfigError, match=f"demo --seed {seed} must lie in 0..4294967295"):
        run_demo(out=tmp_path / "dm", seed=seed)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_keeps_the_earlier_demo_output(tmp_path):
    out = tmp_path / "dm"
    out.mkdir()
    (out / MARKER).write_text("")
    (out / "old.txt").write_text("earlier run")
    with pytest.raises(MissingDataError, match="--data-dir"):
        run_demo(data_dir=tmp_path / "nodata", out=out)
    assert (out / "old.txt").read_text() == "earlier run"  # replaced only once the data is known to load
