"""Image loaders: coloured (F)MNIST on the real IDX files; CIFAR10-S, CelebA, UTKFace, BFFHQ on tiny files written
here in the standard formats."""
import gzip
import math
import pickle
import shutil

import numpy as np
import pytest
from PIL import Image

from fairdistill import datasets
from fairdistill.datasets import images as I
from fairdistill.errors import ConfigError, MissingDataError

VARIANTS = ["cmnist-fg", "cmnist-bg", "cfmnist-fg", "cfmnist-bg"]


def raw_idx(path):
    """Independent IDX read: images have a 16-byte header, labels an 8-byte one."""
    raw = gzip.decompress(path.read_bytes())
    if "images" in path.name:
        return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    return np.frombuffer(raw, np.uint8, offset=8)


def folder_of(variant):
    return "mnist" if variant.startswith("cmnist") else "fashion_mnist"


def to_u8(X, mean, std):
    v = (X * np.asarray(std, np.float32)[None, :, None, None] + np.asarray(mean, np.float32)[None, :, None, None])
    return v * 255


@pytest.fixture(scope="module")
def fg(data_dir):
    return datasets.load_splits("cmnist-fg", data_dir=data_dir)


@pytest.fixture(scope="module")
def test_parts(data_dir):
    return {v: I.build_coloured(v, "test", data_dir) for v in VARIANTS}


def expected_cells(n, rho):
    """Sizes of the own-colour cell and the sorted other-colour cells of a class of n rows (chunked scheme)."""
    k = math.floor(n * rho + 1e-9)
    r = n - k
    size = math.ceil(r / 9)
    others = [min(size, max(0, r - t * size)) for t in range(9)]
    return k, sorted(others)


def check_cells(y, s, rho):
    for c in range(10):
        counts = np.bincount(s[y == c], minlength=10)
        k, others = expected_cells(int((y == c).sum()), rho)
        assert counts[c] == k
        assert sorted(np.delete(counts, c).tolist()) == others


def test_sizes_range_and_normalisation(fg, data_dir):
    tr, te = fg["train"], fg["test"]
    assert (len(tr), len(te)) == (60000, 10000)
    assert tr.X.shape[1:] == (3, 32, 32) and tr.X.dtype == np.float32
    assert tr.modality == "image" and tr.sensitive_names == ["colour"] and tr.s.shape == (60000, 1)
    assert tr.meta["mean"] == [0.5] * 3 and tr.meta["std"] == [0.5] * 3
    assert tr.X.min() == -1.0 and tr.X.max() == 1.0
    v = to_u8(te.X, te.meta["mean"], te.meta["std"])
    assert np.abs(v - np.round(v)).max() < 1e-3  # x/255 of an integer x
    # labels are the file's labels (same multiset)
    raw = raw_idx(data_dir / "mnist" / "train-labels-idx1-ubyte.gz")
    assert np.array_equal(np.bincount(tr.y, minlength=10), np.bincount(raw, minlength=10))


def test_train_bias_ratio_and_even_spread(fg):
    tr = fg["train"]
    y, s = tr.y, tr.s[:, 0]
    for c in range(10):
        assert abs(np.mean(s[y == c] == c) - 0.9) <= 0.005
    check_cells(y, s, 0.9)


def test_test_cells_balanced(fg, test_parts):
    te = fg["test"]
    check_cells(te.y, te.s[:, 0], 0.1)
    for c in range(10):
        counts = np.bincount(te.s[:, 0][te.y == c], minlength=10)
        n = counts.sum()
        assert counts.max() <= math.ceil((n - math.floor(0.1 * n)) / 9) and counts.min() >= n // 10 - 9
    for part in test_parts.values():
        check_cells(part.y, part.s, 0.1)


def test_loader_matches_uint8_builder(fg, test_parts):
    te, part = fg["test"], test_parts["cmnist-fg"]
    assert np.array_equal(te.y, part.y) and np.array_equal(te.s[:, 0], part.s)
    assert np.array_equal(np.round(to_u8(te.X, te.meta["mean"], te.meta["std"])).astype(np.uint8), part.images)


@pytest.mark.parametrize("variant", VARIANTS)
def test_colouring_on_pixels(variant, test_parts, data_dir):
    part = test_parts[variant]
    grey = raw_idx(data_dir / folder_of(variant) / "t10k-images-idx3-ubyte.gz")
    labels = raw_idx(data_dir / folder_of(variant) / "t10k-labels-idx1-ubyte.gz")
    assert np.array_equal(labels[part.source_index], part.y)
    g = np.zeros((len(grey), 32, 32), np.float64)
    g[:, 2:30, 2:30] = grey
    g = g[part.source_index][:, None]
    col = I.PALETTE[part.s].astype(np.float64)[:, :, None, None]
    img = part.images.astype(np.float64)
    if variant == "cmnist-fg":
        want = np.where(g >= 128, col, 0)
    elif variant == "cmnist-bg":
        want = np.where(g >= 128, 0, col)
    elif variant == "cfmnist-fg":
        want = g / 255 * col
    else:
        want = g + (1 - g / 255) * col
    assert np.abs(img - want).max() <= 0.5
    # the 2-px border: black in FG, the background colour in BG
    border = img[:, :, 0, :]
    assert (border == 0).all() if variant.endswith("fg") else (border == col[:, :, 0, :]).all()


def test_faithful_padding_and_wraparound(test_parts, data_dir):
    fixed = test_parts["cmnist-fg"]
    faith = I.build_coloured("cmnist-fg", "test", data_dir, faithful=True)
    assert np.array_equal(fixed.s, faith.s) and np.array_equal(fixed.y, faith.y)
    assert np.array_equal(faith.images[:, :, 4:, 4:], fixed.images[:, :, 2:30, 2:30])
    assert not faith.images[:, :, :4].any() and not faith.images[:, :, :, :4].any()

    bg = I.build_coloured("cfmnist-bg", "test", data_dir, faithful=True)
    grey = raw_idx(data_dir / "fashion_mnist" / "t10k-images-idx3-ubyte.gz")
    g = np.zeros((len(grey), 32, 32), np.float32)
    g[:, 4:, 4:] = grey
    g = g[bg.source_index][:, None]
    col = I.PALETTE[bg.s].astype(np.float32)[:, :, None, None]
    f = np.float32
    d = (f(255) - g) / f(255)
    v = f(255) * (f(255) + d * (col / f(255) - f(255)))
    assert v.dtype == np.float32
    want = np.mod(np.trunc(v).astype(np.int64), 256)
    assert np.array_equal(bg.images.astype(np.int64), want)
    img = bg.images.astype(np.int64)
    gb = np.broadcast_to(g, img.shape)
    colb = np.broadcast_to(col, img.shape)
    assert np.abs(img[gb == 0] - colb[gb == 0]).max() <= 1  # background takes the colour (+-1)
    assert (img[gb == 255] == 1).all()  # 65025 mod 256
    fixed_bg = test_parts["cfmnist-bg"]
    assert not np.array_equal(fixed_bg.images[:, :, 4:, 4:], bg.images[:, :, 4:, 4:])


def test_seed_options_and_iid(data_dir, test_parts):
    again = I.build_coloured("cmnist-bg", "test", data_dir, seed=0)
    ref = test_parts["cmnist-bg"]
    assert np.array_equal(again.images, ref.images) and np.array_equal(again.s, ref.s)
    other = I.build_coloured("cmnist-bg", "test", data_dir, seed=1)
    assert not np.array_equal(other.s, ref.s)
    tr = I.build_coloured("cmnist-fg", "train", data_dir, bias_ratio=0.85, other_colours="iid")
    for c in range(10):
        sc = tr.s[tr.y == c]
        assert abs(np.mean(sc == c) - 0.85) <= 0.005
        counts = np.delete(np.bincount(sc, minlength=10), c)
        expect = counts.sum() / 9
        assert (np.abs(counts - expect) < 5 * math.sqrt(expect)).all()  # uniform over the nine others


def test_checksum_of_decompressed_content(tmp_path, data_dir, monkeypatch):
    (tmp_path / "mnist").mkdir()
    for p in (data_dir / "mnist").iterdir():
        shutil.copy(p, tmp_path / "mnist" / p.name)
    lab = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(lab.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    lab.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(MissingDataError, match="t10k-labels-idx1-ubyte.gz"):
        I.build_coloured("cmnist-fg", "test", tmp_path)
    # recompressing without changing the content is accepted
    lab.write_bytes(gzip.compress(gzip.decompress((data_dir / "mnist" / lab.name).read_bytes()), compresslevel=1))
    assert len(I.build_coloured("cmnist-fg", "test", tmp_path).y) == 10000


def test_bad_options_and_missing_folders(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="colour_mode"):
        datasets.load("cmnist-fg", colour_mode=1)
    with pytest.raises(ConfigError, match="colour_mode"):
        datasets.build_splits("cmnist-bg", colour_mode=1)
    with pytest.raises(ConfigError, match="other_colours"):
        datasets.build_splits("cfmnist-fg", other_colours="random")
    with pytest.raises(ConfigError, match="bias_ratio"):
        datasets.build_splits("cfmnist-fg", bias_ratio=1.5)
    monkeypatch.setenv("FAIRDISTILL_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for name, folder in (("cifar10s", "cifar-10-batches-py"), ("celeba", "celeba"), ("utkface", "utkface"),
                         ("bffhq", "bffhq")):
        with pytest.raises(MissingDataError, match=folder):
            datasets.load(name, data_dir=tmp_path)
    with pytest.raises(MissingDataError, match="train-images-idx3-ubyte"):
        datasets.build_splits("cmnist-fg", data_dir=tmp_path)


# ------------------------------------------------------------------------------------- tiny standard-format files
def test_cifar10s_tiny(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    per_class = 20
    labels = np.repeat(np.arange(10), per_class)
    rng.shuffle(labels)
    data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
    for b in range(5):
        sl = slice(b * 40, (b + 1) * 40)
        with open(folder / f"data_batch_{b + 1}", "wb") as fh:
            pickle.dump({b"data": data[sl], b"labels": labels[sl].tolist()}, fh)
    test_data = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": test_data, b"labels": [1, 7, 3]}, fh)

    out = datasets.load_splits("cifar10s", data_dir=tmp_path)
    tr, te = out["train"], out["test"]
    assert tr.X.shape == (200, 3, 32, 32) and te.X.shape == (6, 3, 32, 32)
    assert tr.sensitive_names == ["grayscale"] and tr.sensitive_values == [["grayscale", "colour"]]
    for c in range(10):
        grey_share = np.mean(tr.s[tr.y == c, 0] == 0)
        assert grey_share == (18 / 20 if c < 5 else 2 / 20)
    order = np.random.RandomState(0).permutation(200)
    assert np.array_equal(tr.y, labels[order])
    u = np.round(to_u8(tr.X, tr.meta["mean"], tr.meta["std"])).astype(np.int64)
    orig = data[order].reshape(-1, 3, 32, 32).astype(np.int64)
    for i in range(200):
        if tr.s[i, 0] == 1:
            assert np.array_equal(u[i], orig[i])
        else:
            pil = np.asarray(Image.fromarray(orig[i].transpose(1, 2, 0).astype(np.uint8)).convert("L"))
            assert np.array_equal(u[i], np.repeat(pil[None], 3, axis=0))
            L = (299 * orig[i, 0] + 587 * orig[i, 1] + 114 * orig[i, 2]) / 1000
            assert np.abs(u[i, 0] - L).max() <= 1
    assert te.y.tolist() == [1, 7, 3, 1, 7, 3] and te.s[:, 0].tolist() == [0, 0, 0, 1, 1, 1]
    ut = np.round(to_u8(te.X, te.meta["mean"], te.meta["std"])).astype(np.int64)
    assert np.array_equal(ut[3:], test_data.reshape(-1, 3, 32, 32))
    assert (ut[:3, 0] == ut[:3, 1]).all() and (ut[:3, 1] == ut[:3, 2]).all()


def write_jpeg(path, rgb, size, top=None):
    arr = np.empty((size[1], size[0], 3), np.uint8)
    arr[:] = rgb
    if top is not None:
        arr[:20] = top
    Image.fromarray(arr).save(path, quality=100, subsampling=0)


def test_celeba_tiny(tmp_path):
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    names = [f"attr{i}" for i in range(40)]
    names[2], names[20], names[39] = "Attractive", "Male", "Young"
    # (attractive, male, partition): train 4, valid 1, test cells (1,1) x3, (1,0) x2, (0,1) x2, (0,0) x4
    rows = [(1, 1, 0), (0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 1)]
    rows += [(1, 1, 2)] * 3 + [(1, 0, 2)] * 2 + [(0, 1, 2)] * 2 + [(0, 0, 2)] * 4
    attr_lines, part_lines = [str(len(rows)), " ".join(names)], []
    for i, (a, m, p) in enumerate(rows):
        fname = f"{i + 1:06d}.jpg"
        vals = [-1] * 40
        vals[2], vals[20], vals[39] = (1 if a else -1), (1 if m else -1), 1
        attr_lines.append(fname + "  " + " ".join(f"{v:2d}" for v in vals))
        part_lines.append(f"{fname} {p}")
        write_jpeg(root / "img_align_celeba" / fname, (10 * i, 100, 200), (178, 218), top=(255, 0, 0))
    (root / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(part_lines) + "\n")

    out = datasets.load_splits("celeba", data_dir=tmp_path, seed=3)
    tr, te = out["train"], out["test"]
    assert tr.X.shape == (4, 3, 64, 64) and tr.y.tolist() == [1, 0, 1, 0] and tr.s[:, 0].tolist() == [1, 0, 0, 1]
    assert len(te) == 8  # 4 cells x the smallest cell (2)
    for a in (0, 1):
        for m in (0, 1):
            assert np.sum((te.y == a) & (te.s[:, 0] == m)) == 2
    u = to_u8(tr.X, tr.meta["mean"], tr.meta["std"])
    for j, i in enumerate([0, 1, 2, 3]):
        # centre crop 178 removed the red top band; the whole image is the fill colour
        assert np.abs(u[j] - np.array([10 * i, 100, 200])[:, None, None]).max() <= 6
    young = datasets.load("celeba", split="train", data_dir=tmp_path, target="Young")
    assert young.y.tolist() == [1, 1, 1, 1]
    with pytest.raises(ConfigError, match="Smiles"):
        datasets.load("celeba", data_dir=tmp_path, target="Smiles")


def test_utkface_tiny(tmp_path):
    folder = tmp_path / "UTKFace"
    folder.mkdir()
    specs = [(5, 0, 0), (15, 1, 0), (25, 0, 1), (30, 1, 1), (39, 0, 2), (45, 1, 3), (70, 0, 3), (20, 1, 0),
             (50, 0, 4)]
    for i, (age, g, r) in enumerate(specs):
        write_jpeg(folder / f"{age}_{g}_{r}_2017011{i}.jpg.chip.jpg", (50, 60, 70), (200, 200))
    write_jpeg(folder / "61_1_20170109150557335.jpg.chip.jpg", (0, 0, 0), (200, 200))  # unparsable
    out = datasets.load_splits("utkface", data_dir=tmp_path, test_per_cell=1)
    tr, te = out["train"], out["test"]
    assert tr.meta["skipped_unparsed"] == 1 and tr.meta["dropped_race_others"] == 1
    assert len(tr) + len(te) == 8
    # (age bin, race) cells: ages 5, 15 -> (0,0); 20 -> (1,0); 25, 30 -> (1,1); 39 -> (1,2); 45, 70 -> (2,3)
    cells = {(0, 0): 2, (1, 0): 1, (1, 1): 2, (1, 2): 1, (2, 3): 2}
    assert len(te) == len(cells)
    assert sorted(zip(te.y.tolist(), te.s[:, 0].tolist())) == sorted(cells)
    allpairs = sorted(zip(np.r_[tr.y, te.y].tolist(), np.r_[tr.s[:, 0], te.s[:, 0]].tolist()))
    assert allpairs == sorted([k for k, n in cells.items() for _ in range(n)])
    assert tr.X.shape[1:] == (3, 64, 64)
    assert np.abs(to_u8(tr.X, tr.meta["mean"], tr.meta["std"]) - np.array([50, 60, 70])[:, None, None]).max() <= 3


def test_bffhq_tiny(tmp_path):
    root = tmp_path / "bffhq"
    files = {"0.5pct/align/0": ["1_0_0.png", "2_0_0.png", "3_0_0.png"], "0.5pct/align/1": ["4_1_1.png", "5_1_1.png"],
             "0.5pct/conflict/0": ["6_0_1.png"], "test": ["7_0_0.png", "8_1_0.png", "9_0_1.png"],
             "valid": ["10_1_1.png"]}
    for sub, names in files.items():
        (root / sub).mkdir(parents=True)
        for n in names:
            Image.fromarray(np.full((128, 128, 3), 120, np.uint8)).save(root / sub / n)
    out = datasets.load_splits("bffhq", data_dir=tmp_path)
    tr, te = out["train"], out["test"]
    assert len(tr) == 6 and len(te) == 3 and tr.X.shape[1:] == (3, 64, 64)
    assert tr.y.tolist() == [0, 0, 0, 1, 1, 0] and tr.s[:, 0].tolist() == [0, 0, 0, 1, 1, 1]
    assert te.y.tolist() == [0, 1, 0] and te.s[:, 0].tolist() == [0, 0, 1]
    assert tr.meta["n_align"] == 5 and tr.meta["n_conflict"] == 1
    assert np.allclose(to_u8(te.X, te.meta["mean"], te.meta["std"]), 120, atol=1e-3)
