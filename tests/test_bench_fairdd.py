"""FairDD benchmark suites: the transcribed paper numbers, the targets logic, and quick smoke runs."""
import json

import numpy as np
import pytest

from fairdistill.bench import fairdd
from fairdistill.dataset import SyntheticSet
from fairdistill.errors import ConfigError


def test_paper_values_transcribed():
    assert fairdd.paper_value("cmnist-fg", 10, "fairdd-dm") == (94.61, 17.04, 7.95)
    assert fairdd.paper_value("cmnist-bg", 100, "dc") == (90.20, 62.63, 20.87)
    assert fairdd.paper_value("cfmnist-bg", 50, "random") == (34.92, 100.0, 98.52)
    assert fairdd.paper_value("cfmnist-fg", "whole", "whole") == (82.94, 79.2, 41.72)
    assert fairdd.paper_value("cmnist-fg", 2, "dm") is None
    for ds in fairdd.DATASETS:
        for ipc in (10, 50, 100):
            vals = [fairdd.paper_value(ds, ipc, m) for m in fairdd.METHODS[:5]]
            assert all(v is not None and len(v) == 3 and 0 <= min(v) and max(v) <= 100 for v in vals)
            # the paper's claim: FairDD lowers DM's DEO_M and raises its accuracy on every coloured set
            assert vals[2][1] < vals[1][1] and vals[2][0] > vals[1][0]


def test_targets_logic():
    rows = [{"dataset": "cmnist-fg", "ipc": 10, "method": "dm", "acc": 25.0, "deo_m": 100.0},
            {"dataset": "cmnist-fg", "ipc": 10, "method": "fairdd-dm", "acc": 90.0, "deo_m": 40.0},
            {"dataset": "cmnist-bg", "ipc": 10, "method": "dm", "acc": 25.0, "deo_m": 100.0},
            {"dataset": "cmnist-bg", "ipc": 10, "method": "fairdd-dm", "acc": 20.0, "deo_m": 60.0},
            {"dataset": "cmnist-bg", "ipc": "whole", "method": "whole", "acc": 97.0, "deo_m": 10.0}]
    t = fairdd._targets(rows)
    assert t["cmnist-fg"]["deo_m_halved"] and t["cmnist-fg"]["acc_not_lower"]
    assert not t["cmnist-bg"]["deo_m_halved"] and not t["cmnist-bg"]["acc_not_lower"]
    # rows of the other initialisation never enter the protocol's targets
    other = [{**r, "init": "proportional", "deo_m": 100.0, "acc": 0.0} for r in rows if r["method"] == "fairdd-dm"]
    tb = fairdd._targets([{**r, "init": "balanced"} for r in rows] + other, "balanced")
    assert tb == t
    assert not fairdd._targets(rows + other, "proportional")["cmnist-fg"]["deo_m_halved"]


def test_random_baseline_follows_the_protocol_initialisation():
    from fairdistill.dataset import FairDataset
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 50)
    s = np.where(rng.random(150) < 0.8, y, (y + 1) % 3)  # class c is mostly group c
    data = FairDataset(X=rng.standard_normal((150, 3, 4, 4)).astype(np.float32), y=y, s=s,
                       sensitive_names=["colour"], modality="image", name="toy", n_classes=3)
    p = fairdd.PROTOCOLS["quick"]
    S = fairdd._synthesise("random", 2, data, p, "cpu", True)
    for c in range(3):  # one image of each of the class's two groups, although 80% of the class is group c
        assert sorted(S.s[S.y == c, 0].tolist()) == sorted([c, (c + 1) % 3])
    R = fairdd._synthesise("random", 2, data, p, "cpu", False)
    assert sorted(R.y.tolist()) == sorted(S.y.tolist()) and len(R) == 6


def test_image_grid(tmp_path):
    from fairdistill.report import pyplot, to_display
    X = np.random.default_rng(0).uniform(-1, 1, (6, 3, 8, 8)).astype(np.float32)
    S = SyntheticSet(X=X, y=np.array([2, 0, 1, 0, 1, 0]), s=-np.ones(6, int), sensitive_names=["c"],
                     modality="image")
    panels = fairdd.grid_panels({"DM": S, "DM+FairDD": S.subset(np.arange(2))})
    assert list(panels) == ["DM", "DM+FairDD"]
    g = panels["DM"]  # classes as rows (3), the class's images in order along its row (at most 3), 1-pixel border
    assert g.shape == (3 * (8 + 2), 3 * (8 + 2), 3)
    img = to_display(X, {})
    cell = lambda r, c: g[r * 10 + 1:r * 10 + 9, c * 10 + 1:c * 10 + 9]  # noqa: E731
    assert np.allclose(cell(0, 2), img[5]) and np.allclose(cell(1, 1), img[4]) and np.allclose(cell(2, 0), img[0])
    assert np.all(cell(2, 1) == 1)  # class 2 has one image: the rest of its row is blank
    assert panels["DM+FairDD"].shape == (2 * 10, 10, 3)
    fairdd.image_grid(tmp_path / "g.png", {"a": S, "b": S})
    png = pyplot().imread(tmp_path / "g.png")
    assert png.shape[1] > png.shape[0] and png.std() > 0  # two panels side by side


@pytest.mark.slow
def test_paper_quick_smoke(tmp_path, data_dir):
    (tmp_path / "fairdd-paper.notes.md").write_text("How the protocol was chosen: a note kept beside the results.\n")
    res = fairdd.paper(tmp_path, data_dir=data_dir, quick=True, device="cpu")
    assert "a note kept beside the results." in (tmp_path / "fairdd-paper.md").read_text()
    saved = json.loads((tmp_path / "fairdd-paper.json").read_text())
    assert saved["suite"] == "fairdd-paper" and saved["results"]["rows"] == json.loads(json.dumps(res["rows"]))
    methods = {r["method"] for r in res["rows"]}
    assert methods == set(fairdd.METHODS)
    for r in res["rows"]:
        assert 0 <= r["acc"] <= 100 and 0 <= r["deo_m"] <= 100 and r["deo_a"] <= r["deo_m"] + 1e-9
    assert (tmp_path / "fairdd-paper.md").read_text().count("| cmnist-fg |") == len(res["rows"]) + 1  # + targets
    assert (tmp_path / "fairdd-paper.png").exists()
    assert not list(tmp_path.glob("*.partial.*"))  # the per-cell files are gone once the run is complete


def test_an_interrupted_paper_run_keeps_the_earlier_results(tmp_path, data_dir, monkeypatch):
    (tmp_path / "fairdd-paper.json").write_text("earlier results\n")
    calls = []

    def cell(*args, **kwargs):  # the second cell is interrupted
        if calls:
            raise KeyboardInterrupt
        calls.append(args)
        return real_cell(*args, **kwargs)

    real_cell = fairdd._cell
    monkeypatch.setattr(fairdd, "_cell", cell)
    with pytest.raises(KeyboardInterrupt):
        fairdd.paper(tmp_path, data_dir=data_dir, quick=True, device="cpu", methods=("random", "dm"))
    assert (tmp_path / "fairdd-paper.json").read_text() == "earlier results\n"
    partial = json.loads((tmp_path / "fairdd-paper.partial.json").read_text())
    assert len(partial["results"]["rows"]) == 1


@pytest.mark.slow
def test_paper_quick_parallel_equals_serial(tmp_path, data_dir):
    """Cells run in worker processes give the same rows as in one process (every cell is seeded)."""
    kw = dict(data_dir=data_dir, quick=True, device="cpu", methods=("random", "fairdd-dm"))
    a = fairdd.paper(tmp_path / "a", **kw)
    b = fairdd.paper(tmp_path / "b", jobs=2, **kw)
    key = lambda r: (r["method"], r["init"])  # noqa: E731
    for ra, rb in zip(sorted(a["rows"], key=key), sorted(b["rows"], key=key)):
        assert key(ra) == key(rb)
        assert ra["acc"] == pytest.approx(rb["acc"]) and ra["deo_m"] == pytest.approx(rb["deo_m"])
    assert (tmp_path / "b" / "fairdd-paper.png").exists()


@pytest.mark.slow
def test_cost_quick_smoke(tmp_path, data_dir):
    res = fairdd.cost(tmp_path, data_dir=data_dir, quick=True, device="cpu")
    assert set(res["seconds_per_iteration"]) == {"dm", "fairdd-dm", "dc", "fairdd-dc"}
    assert all(v > 0 for v in res["seconds_per_iteration"].values())
    assert res["ratio_time"]["fairdd-dm/dm"] > 0 and (tmp_path / "fairdd-cost.json").exists()


def test_unknown_names_fail_before_anything_is_written(tmp_path):
    for kw in (dict(datasets=("cmnist-fg", "bogus")), dict(methods=("dm", "nope")), dict(seeds=0)):
        with pytest.raises(ConfigError, match=r"^unknown fairdd-paper (dataset|method)\(s\) \['(bogus|nope)'\]; choose from: |must be >= 1"):
            fairdd.paper(tmp_path / "out", quick=True, device="cpu", **kw)
    assert not (tmp_path / "out").exists()
