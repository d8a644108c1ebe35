"""FairDD without protected attributes (``groups="cluster"``): the seeded k-means, the pseudo-groups the methods use,
independence from ``s``, reproducibility, resumption and the option errors."""
import numpy as np
import pytest
import torch

from fairdistill.dataset import FairDataset
from fairdistill.errors import ConfigError
from fairdistill.methods import make
from fairdistill.methods.distill.base import Context
from fairdistill.methods.distill.clustering import kmeans
from fairdistill.methods.distill.samplers import ClassSampler

TINY = {"ipc": 2, "iterations": 3, "batch_real": 24, "net_width": 16, "net_depth": 2, "groups": "cluster"}
TINY_DC = {**TINY, "iterations": 2, "outer_loop": 2, "inner_loop": 1}
COLOURS = np.array([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0]])  # red / green strokes


def coloured(n=96, classes=2, size=8, seed=0, minority=0.3, gap=1.0):
    """Class = stroke pattern, group (s) = stroke colour on a black background; ``gap`` scales the colour contrast."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    s = (rng.random(n) < minority).astype(int)
    shapes = rng.random((classes, size, size)) < 0.4
    mask = shapes[y] & (rng.random((n, size, size)) < 0.85)
    X = np.where(mask[:, None], gap * COLOURS[s][:, :, None, None], -1.0) + rng.normal(0, 0.05, (n, 3, size, size))
    return FairDataset(X=X.astype(np.float32), y=y, s=s, sensitive_names=["colour"], modality="image",
                       name="colours", n_classes=classes)


def agreement(a, b) -> float:
    """Share of rows on which two 2-group labellings agree, up to swapping the labels."""
    a, b = np.asarray(a), np.asarray(b)
    return max(float((a == b).mean()), float((a == 1 - b).mean()))


# --------------------------------------------------------------------------------------------------- k-means
@pytest.mark.parametrize("seed", range(5))
def test_kmeans_recovers_planted_clusters_exactly(seed):
    g = torch.Generator().manual_seed(seed)
    sizes = (40, 7)  # imbalanced, as protected groups are
    x = torch.cat([torch.randn(sizes[0], 6, generator=g), torch.randn(sizes[1], 6, generator=g) + 12.0])
    truth = np.repeat([0, 1], sizes)
    perm = torch.randperm(len(x), generator=g)
    labels = kmeans(x[perm], 2, torch.Generator().manual_seed(seed)).numpy()
    assert agreement(labels, truth[perm.numpy()]) == 1.0


def test_kmeans_is_a_lloyd_fixed_point_and_deterministic():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=g) * torch.tensor([3.0, 1, 1, 0.5])
    labels = kmeans(x, 4, torch.Generator().manual_seed(7), steps=100)
    centres = torch.stack([x[labels == j].mean(0) for j in range(4) if (labels == j).any()])
    nearest = torch.cdist(x.double(), centres.double()).argmin(1)
    present = torch.unique(labels)
    assert torch.equal(present[nearest], labels)  # every row sits in the cluster of its nearest mean
    assert torch.equal(labels, kmeans(x, 4, torch.Generator().manual_seed(7), steps=100))
    with pytest.raises(ConfigError, match="n_clusters=61"):
        kmeans(x, 61, torch.Generator())


# ------------------------------------------------------------------------------------------ pseudo-groups in use
def _spy_pseudo_groups(monkeypatch):
    """Record, in call order, the real batch rows drawn and the pseudo-groups the method gives them."""
    drawn, found = [], []
    draw, groups = ClassSampler.draw, Context.batch_groups

    def spy_draw(self, c, n, gen):
        idx = draw(self, c, n, gen)
        drawn.append(idx.numpy().copy())
        return idx

    def spy_groups(self, feats, gid):
        out = groups(self, feats, gid)
        found.append(out[0].cpu().numpy().copy())
        return out

    monkeypatch.setattr(ClassSampler, "draw", spy_draw)
    monkeypatch.setattr(Context, "batch_groups", spy_groups)
    return drawn, found


@pytest.mark.parametrize("name, options", [("fairdd-dm", {"dsa": False}), ("fairdd-dm", {"cluster_on": "clean"}),
                                           ("fairdd-dc", {}), ("fairdd-dc", {"dsa": True})])
def test_pseudo_groups_agree_with_colour_groups(monkeypatch, name, options):
    """The pseudo-groups of every real batch match the colours (DM: DSA off, or on with cluster_on=clean; DC clusters
    the un-augmented batch with or without DSA)."""
    data = coloured()
    drawn, found = _spy_pseudo_groups(monkeypatch)
    S = make(name, **(TINY_DC if "dc" in name else TINY), n_clusters=2, **options).fit(data).synthetic_
    assert np.isfinite(S.X).all() and S.provenance["n_clusters"] == 2
    assert len(found) == len(drawn) > 0
    scores = [agreement(f, data.s[d, 0]) for d, f in zip(drawn, found)]
    assert np.mean(scores) >= 0.95, scores


def test_exact_pseudo_groups_reproduce_the_labelled_run():
    """With colours far apart k-means finds them in every (un-augmented) batch; batches, nets and DSA draws are those
    of groups=joint, so the synthetic images are those of the labelled run (up to the order of the group sum)."""
    data = coloured(gap=3.0)
    kw = {k: v for k, v in TINY.items() if k != "groups"}
    labelled = make("fairdd-dm", **kw, seed=2).fit(data).synthetic_.X
    clustered = make("fairdd-dm", **kw, seed=2, groups="cluster", n_clusters=2, cluster_on="clean").fit(data)
    clustered = clustered.synthetic_.X
    assert np.allclose(clustered, labelled, atol=1e-5)
    vanilla = make("dm", **kw, seed=2).fit(data).synthetic_.X
    assert not np.allclose(vanilla, labelled, atol=1e-3)  # the groups do matter here


# ------------------------------------------------------------------------------------------ s is never read
@pytest.mark.parametrize("name", ["fairdd-dm", "fairdd-dc"])
def test_sensitive_attributes_are_not_read(name):
    data = coloured()
    kw = {**(TINY_DC if "dc" in name else TINY), "seed": 1}
    ref = make(name, **kw).fit(data).synthetic_
    assert ref.provenance["n_clusters"] == 2  # default: the number of colour groups
    shuffled = FairDataset(X=data.X, y=data.y, s=np.random.default_rng(0).permutation(data.s), modality="image",
                           sensitive_names=["colour"], n_classes=2)
    assert np.array_equal(make(name, **kw).fit(shuffled).synthetic_.X, ref.X)
    removed = FairDataset(X=data.X, y=data.y, s=np.zeros((len(data), 0), dtype=np.int64), sensitive_names=[],
                          modality="image", n_classes=2)
    out = make(name, **kw).fit(removed).synthetic_
    assert out.provenance["n_clusters"] == 2 and np.array_equal(out.X, ref.X)  # no axis: default 2
    assert (np.asarray(ref.provenance["init_group"]) == -1).all()


# --------------------------------------------------------------------------------- reproducibility and resume
def test_same_seed_same_result_and_seed_matters():
    data = coloured()
    a = make("fairdd-dm", **TINY, seed=3).fit(data).synthetic_.X
    assert np.array_equal(a, make("fairdd-dm", **TINY, seed=3).fit(data).synthetic_.X)
    assert not np.array_equal(a, make("fairdd-dm", **TINY, seed=4).fit(data).synthetic_.X)


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("name", ["fairdd-dm", "fairdd-dc"])
def test_resume_equals_uninterrupted(tmp_path, monkeypatch, name):
    """Stopped at iteration 3 of 4 (checkpoint after 2), the resumed run clusters iterations 2 and 3 anew and ends
    where the uninterrupted run does."""
    data = coloured()
    kw = {**(TINY_DC if "dc" in name else TINY), "iterations": 4, "checkpoint_every": 2, "n_clusters": 3}
    full = make(name, **kw).fit(data, checkpoint_dir=tmp_path / "a").synthetic_
    seeds, stop, original = [], {"at": 3}, Context.for_iteration

    def spy(self, cluster_seed):
        seeds.append(int(cluster_seed))
        if len(seeds) == stop["at"]:
            raise Interrupted
        return original(self, cluster_seed)

    with monkeypatch.context() as mp:
        mp.setattr(Context, "for_iteration", spy)
        with pytest.raises(Interrupted):
            make(name, **kw).fit(data, checkpoint_dir=tmp_path / "b")
        first, stop["at"] = list(seeds), None
        seeds.clear()
        resumed = make(name, **kw).fit(data, checkpoint_dir=tmp_path / "b", resume=True).synthetic_
    assert len(seeds) == 2 and seeds[0] == first[2]  # iterations 2 and 3 again, same k-means seed for 2
    assert np.array_equal(resumed.X, full.X)


# -------------------------------------------------------------------------------------------------- errors
def test_option_errors():
    data = coloured(n=40)  # 20 rows per class
    with pytest.raises(ConfigError, match=r"n_clusters=30 exceeds the 20 real images.*n_clusters <= 20"):
        make("fairdd-dm", **TINY, n_clusters=30).fit(data)
    with pytest.raises(ConfigError, match=r"n_clusters=30 exceeds the 24 real images.*batch_real=24"):
        make("fairdd-dc", **TINY_DC, n_clusters=30).fit(coloured(n=120))
    # the rules between options fail at construction, before any data is read
    with pytest.raises(ConfigError, match="fairdd-dm"):
        make("dm", **TINY)
    with pytest.raises(ConfigError, match="sampler=uniform"):
        make("fairdd-dm", **TINY, sampler="stratified")
    with pytest.raises(ConfigError, match="init_balanced"):
        make("fairdd-dm", **TINY, init_balanced=True)
    with pytest.raises(ConfigError, match="groups=cluster"):
        make("fairdd-dm", **{**TINY, "groups": "joint"}, n_clusters=2)
    with pytest.raises(ConfigError, match="n_clusters"):
        make("fairdd-dm", n_clusters=0)
