"""Progress: log lines by time (not every total//10 steps) with step/total, elapsed and ETA; resumed loops count on."""
import re
from types import SimpleNamespace

import pytest

from fairdistill import progress
from fairdistill.progress import Progress, duration


@pytest.fixture
def clock(monkeypatch):
    """A fake clock: every step of a loop takes ``clock.step`` seconds; progress output is on (not quiet)."""
    state = SimpleNamespace(t=0.0, step=4.2)
    monkeypatch.setattr(progress, "time", SimpleNamespace(perf_counter=lambda: state.t))
    monkeypatch.setattr(progress, "_QUIET", False)
    return state


def run(clock, prog):
    for _ in prog:
        clock.t += clock.step
        prog.set(loss=1.5)


def lines(capsys):
    return capsys.readouterr().err.splitlines()


def test_a_long_run_logs_its_first_step_then_every_30_seconds_and_the_last(clock, capsys):
    run(clock, Progress(range(200), "DM"))  # 4.2 s a step: total//10 would wait 84 s, 20000 steps hours
    out = lines(capsys)
    steps = [int(re.match(r"\[DM\] (\d+)/200, ", ln).group(1)) for ln in out]
    assert steps[0] == 1 and steps[-1] == 200
    gaps = [(b - a) * clock.step for a, b in zip(steps, steps[1:-1])]
    assert all(30 <= g < 30 + clock.step + 1e-9 for g in gaps)  # about every 30 s, never more often
    assert "4s elapsed, ETA 13m56s, loss=1.5" in out[0]  # 199 steps of 4.2 s left
    assert "ETA" not in out[-1] and "14m00s elapsed" in out[-1]


def test_a_fast_loop_prints_two_lines(clock, capsys):
    clock.step = 0.001
    run(clock, Progress(range(5000), "FWC"))
    out = lines(capsys)
    assert [ln.split(",")[0] for ln in out] == ["[FWC] 1/5000", "[FWC] 5000/5000"]


def test_a_capped_loop_gives_no_eta(clock, capsys):
    prog = Progress(range(100), "FWC", log_seconds=8, at_most=True)  # an iteration limit the loop stops before
    for k in prog:
        clock.t += clock.step
        if k == 4:
            break
    out = lines(capsys)
    assert [ln.split(",")[0] for ln in out] == ["[FWC] 1 (at most 100)", "[FWC] 3 (at most 100)"]
    assert not any("ETA" in ln for ln in out)


def test_a_resumed_loop_counts_from_the_checkpoint(clock, capsys):
    # the way Distiller._optimise calls it after resuming at iteration 25 of 40
    run(clock, Progress(range(25, 40), desc="dm", total=40, start=25))
    out = lines(capsys)
    assert out[0].startswith("[dm] 26/40, ") and out[-1].startswith("[dm] 40/40, ")
    assert "ETA 59s" in out[0]  # 14 steps of 4.2 s left, from this run's own pace
    run(clock, Progress(range(7, 10), "t", total=10, start=7))  # explicit: 7 steps were done before
    assert [ln.split(",")[0] for ln in lines(capsys)] == ["[t] 8/10", "[t] 10/10"]


def test_a_one_based_loop_without_total_is_unchanged(clock, capsys):
    run(clock, Progress(range(1, 11), "fair4free teacher"))  # epochs 1..10
    out = lines(capsys)
    assert out[0].startswith("[fair4free teacher] 1/10, ") and out[-1].startswith("[fair4free teacher] 10/10, ")


def test_quiet_prints_nothing(clock, capsys, monkeypatch):
    monkeypatch.setattr(progress, "_QUIET", True)
    run(clock, Progress(range(50), "DM"))
    assert capsys.readouterr().err == ""


def test_the_terminal_bar_starts_at_the_resumed_step(monkeypatch):
    import tqdm
    made = {}

    class Bar:
        def __init__(self, **kw):
            made.update(kw, updates=0)

        def update(self, n):
            made["updates"] += n

        def set_postfix(self, *a, **k):
            pass

        def close(self):
            pass
    monkeypatch.setattr(tqdm, "tqdm", Bar)
    monkeypatch.setattr(progress, "_QUIET", False)
    monkeypatch.setattr(progress.sys, "stderr", SimpleNamespace(isatty=lambda: True))
    for _ in Progress(range(25, 40), desc="dm", total=40, start=25):
        pass
    assert made["initial"] == 25 and made["total"] == 40 and made["updates"] == 15


def test_duration():
    assert [duration(s) for s in (4.2, 59.6, 61, 3599, 3600, 83000)] == ["4s", "1m00s", "1m01s", "59m59s", "1h00m",
                                                                        "23h03m"]


def test_progress_of_a_fit_can_be_silenced_from_the_package(monkeypatch, capsys):
    import numpy as np

    import fairdistill
    from fairdistill.methods import make
    rng = np.random.default_rng(0)
    data = fairdistill.FairDataset(X=rng.normal(size=(120, 3)), y=rng.integers(0, 2, 120),
                                   s=rng.integers(0, 2, 120), sensitive_names=["a"])
    fit = lambda: make("fwc", size=10).fit(data)  # noqa: E731
    monkeypatch.setattr(progress, "_QUIET", False)
    fit()
    err = capsys.readouterr().err
    assert "[FWC] 1 (at most " in err and "[FWC] stopped after " in err  # shown by default
    with fairdistill.quiet():
        fit()
    assert capsys.readouterr().err == ""
    assert progress._QUIET is False  # the block restores the previous setting
    fairdistill.set_quiet(True)
    fit()
    assert capsys.readouterr().err == ""
