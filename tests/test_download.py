"""Verified downloads against a loopback HTTP server started here (127.0.0.1, stopped at the end)."""
import functools
import gzip
import hashlib
import http.server
import socket
import threading

import pytest

from fairdistill import datasets
from fairdistill.datasets import DatasetSpec, RemoteFile
from fairdistill.datasets.download import download, fetch_dataset
from fairdistill.errors import MissingDataError


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_good_file_accepted(server, tmp_path):
    root, url = server
    payload = bytes(range(256)) * 5000  # > one 1 MiB chunk
    (root / "a.bin").write_bytes(payload)
    dest = tmp_path / "out" / "sub" / "a.bin"
    got = download(url + "a.bin", dest, sha256=hashlib.sha256(payload).hexdigest())
    assert got == dest and dest.read_bytes() == payload
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.bin"]


def test_gz_checked_on_decompressed_content(server, tmp_path):
    root, url = server
    raw = b"IDX-like content " * 1000
    (root / "x.gz").write_bytes(gzip.compress(raw, compresslevel=1))  # recompressed: other .gz bytes, same content
    dest = tmp_path / "out" / "x.gz"
    download(url + "x.gz", dest, md5_raw=hashlib.md5(raw).hexdigest())
    assert gzip.decompress(dest.read_bytes()) == raw


@pytest.mark.parametrize("kind", ["sha256", "md5_raw"])
def test_corrupt_file_rejected_nothing_left(server, tmp_path, kind):
    root, url = server
    good = b"the published bytes" * 100
    (root / "c.gz").write_bytes(gzip.compress(good[:-1] + b"X"))
    out = tmp_path / "out"
    expected = (hashlib.sha256(gzip.compress(good)).hexdigest() if kind == "sha256"
                else hashlib.md5(good).hexdigest())
    with pytest.raises(MissingDataError) as info:
        download(url + "c.gz", out / "c.gz", **{kind: expected})
    msg = str(info.value)
    assert "c.gz" in msg and expected in msg and "got" in msg and "\n" not in msg
    assert list(out.iterdir()) == []
    # an existing good file is not clobbered by a failed attempt
    (out / "c.gz").write_bytes(b"keep")
    with pytest.raises(MissingDataError):
        download(url + "c.gz", out / "c.gz", **{kind: expected})
    assert (out / "c.gz").read_bytes() == b"keep" and len(list(out.iterdir())) == 1


def test_unreachable_and_404_name_the_url(server, tmp_path):
    _, url = server
    with pytest.raises(MissingDataError, match="missing.bin"):
        download(url + "missing.bin", tmp_path / "m.bin")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{port}/f.bin"
    with pytest.raises(MissingDataError) as info:
        download(dead, tmp_path / "f.bin", timeout=5)
    assert dead in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "f.bin").exists() and not list(tmp_path.glob(".f.bin*"))


@pytest.fixture
def toy_remote(server, monkeypatch):
    """A registered dataset 'toy-remote' of two .gz files served by ``server``; returns the served folder."""
    root, url = server
    files = {}
    for n in ("one.gz", "two.gz"):
        content = n.encode() * 50
        (root / n).write_bytes(gzip.compress(content))
        files[n] = hashlib.md5(content).hexdigest()
    sp = DatasetSpec(name="toy-remote", modality="tabular", loader="x:y", description="toy", target="t",
                     sensitive=("a",), default_sensitive=("a",),
                     files=tuple(RemoteFile(f"toy/{n}", url=url + n, md5_raw=m) for n, m in files.items()))
    datasets.names()
    monkeypatch.setitem(datasets.REGISTRY, "toy-remote", sp)
    return root


def test_fetch_dataset_downloads_only_missing(toy_remote, tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRDISTILL_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    files = ("one.gz", "two.gz")
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    (data / "toy" / "one.gz").write_bytes(b"already here")
    written = fetch_dataset("toy-remote", data)
    assert written == [data / "toy" / "two.gz"]
    assert (data / "toy" / "one.gz").read_bytes() == b"already here"
    assert datasets.files_present("toy-remote", data)
    # without data_dir the user cache is the destination
    assert fetch_dataset("toy-remote") == [tmp_path / "cache" / "fairdistill" / "toy" / n for n in files]
    # user-supplied datasets say they cannot be downloaded
    with pytest.raises(MissingDataError, match="celeba"):
        fetch_dataset("celeba", data)




@pytest.fixture
def loud(monkeypatch):
    from fairdistill import progress
    monkeypatch.setattr(progress, "_QUIET", False)


def test_fetch_into_explicit_dir_ignores_other_roots_and_says_where(toy_remote, tmp_path, monkeypatch, capsys, loud):
    env = tmp_path / "env"
    (env / "toy").mkdir(parents=True)
    for n in ("one.gz", "two.gz"):
        (env / "toy" / n).write_bytes((toy_remote / n).read_bytes())
    monkeypatch.setenv("FAIRDISTILL_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # present in $FAIRDISTILL_DATA: nothing to do, and it says where the files are (it used to print nothing)
    assert fetch_dataset("toy-remote") == []
    err = capsys.readouterr().err
    assert f"already in {env}" in err and "nothing to download" in err
    # an explicit folder is filled even though another root has the files (it used to do nothing)
    given = tmp_path / "given"
    assert fetch_dataset("toy-remote", given) == [given / "toy" / "one.gz", given / "toy" / "two.gz"]
    assert f"2 file(s) downloaded into {given}" in capsys.readouterr().err
    assert fetch_dataset("toy-remote", given) == []
    assert f"already in {given}" in capsys.readouterr().err


def test_fetch_completes_one_root(toy_remote, tmp_path, monkeypatch):
    """Without data_dir, a dataset split over $FAIRDISTILL_DATA and the cache is completed in the cache."""
    env, cache = tmp_path / "env", tmp_path / "cache" / "fairdistill"
    (env / "toy").mkdir(parents=True)
    (env / "toy" / "one.gz").write_bytes((toy_remote / "one.gz").read_bytes())
    (cache / "toy").mkdir(parents=True)
    (cache / "toy" / "two.gz").write_bytes((toy_remote / "two.gz").read_bytes())
    monkeypatch.setenv("FAIRDISTILL_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert not datasets.files_present("toy-remote")
    assert fetch_dataset("toy-remote") == [cache / "toy" / "one.gz"]
    assert datasets.files_present("toy-remote")


@pytest.mark.parametrize("fail", ["all", "second"])
def test_failed_fetch_leaves_nothing_behind(toy_remote, tmp_path, monkeypatch, fail):
    """Offline (or a failure part way), the folders and files this call created are removed again; an existing
    folder and what was in it stay."""
    monkeypatch.setenv("FAIRDISTILL_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (toy_remote / "two.gz").unlink()  # 404
    if fail == "all":
        (toy_remote / "one.gz").unlink()
    dl = tmp_path / "dl" / "sub"
    with pytest.raises(MissingDataError, match="two.gz" if fail == "second" else "one.gz"):
        fetch_dataset("toy-remote", dl)
    assert not (tmp_path / "dl").exists()
    (tmp_path / "kept" / "toy").mkdir(parents=True)
    (tmp_path / "kept" / "toy" / "mine.txt").write_text("x")
    with pytest.raises(MissingDataError):
        fetch_dataset("toy-remote", tmp_path / "kept")
    assert [p.name for p in (tmp_path / "kept" / "toy").iterdir()] == ["mine.txt"]
    with pytest.raises(MissingDataError, match="not a folder"):
        fetch_dataset("toy-remote", tmp_path / "kept" / "toy" / "mine.txt")
