"""Image datasets: MNIST (gzip IDX), CIFAR-10 (a tar.gz of JPEGs) and image folders.

Every loader returns raw ``uint8`` pixels, ``(N, H, W)`` for grayscale or
``(N, H, W, C)`` for colour, plus ``int64`` labels. Conversion to float, scaling and
the move to channels-first happen in one place, the detector's preprocessing
(:class:`memae.preprocessing.Scaler`), batch by batch; no float copy of a dataset is
ever made here.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from memae.datasets._paths import find_file

MNIST_FILES = {
    "train": ("mnist/train-images.idx3-ubyte.gz", "mnist/train-labels.idx1-ubyte.gz"),
    "test": ("mnist/t10k-images.idx3-ubyte.gz", "mnist/t10k-labels.idx1-ubyte.gz"),
}
CIFAR10_ARCHIVE = "cifar10/cifar10_jpg.tar.gz"
#: label order 0..9 of CIFAR-10
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_IDX_DTYPES = {0x08: np.uint8}


class ImageDataError(ValueError):
    """An image file or archive is malformed (the message names the file)."""


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain), the MNIST format, as a uint8 array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ImageDataError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = data[2], data[3]
    if dtype not in _IDX_DTYPES:
        raise ImageDataError(f"{path}: IDX type 0x{dtype:02x} is not supported (only uint8)")
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise ImageDataError(
            f"{path}: header says shape {shape} ({int(np.prod(shape))} bytes), the file holds "
            f"{len(data) - header}; it is truncated or damaged"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist(
    split: str = "train", path: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits from the canonical gzip IDX files.

    Parameters
    ----------
    split : {"train", "test"}
        60,000 training or 10,000 test images.
    path : path, optional
        A data folder holding ``mnist/*.idx?-ubyte.gz`` (or the ``mnist`` folder
        itself); by default ``$MEMAE_DATA`` or a nearby ``shared/data``.

    Returns
    -------
    X : ndarray of shape (N, 28, 28), uint8
    y : ndarray of shape (N,), int64, the digit
    """
    _check_split(split)
    images, labels = (find_file(name, path) for name in MNIST_FILES[split])
    X, y = read_idx(images), read_idx(labels)
    if X.ndim != 3 or y.ndim != 1 or len(X) != len(y):
        raise ImageDataError(f"{images} and {labels} do not hold matching images and labels")
    return X, y.astype(np.int64)


def _decode(blob: bytes, name: str, mode: str | None, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob)) as img:
            if mode is not None and img.mode != mode:
                img = img.convert(mode)
            elif img.mode not in ("L", "RGB"):
                img = img.convert("RGB")
            if size is not None and img.size != size:
                img = img.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageDataError(f"cannot decode image {name}: {exc}") from None


def _folder_members(
    root: Path, prefix: str, suffixes: Sequence[str] = IMAGE_SUFFIXES
) -> Iterator[tuple[str, bytes]]:
    """``(relative path, bytes)`` of the files (image files by default) under a directory
    or inside a tar archive."""
    if root.is_dir():
        base = root / prefix if prefix else root
        for file in sorted(base.rglob("*")):
            if file.suffix.lower() in suffixes and file.is_file():
                yield file.relative_to(base).as_posix(), file.read_bytes()
        return
    try:
        # Stream the archive member by member: nothing is extracted to disk.
        with tarfile.open(root, "r:*") as tar:
            for member in tar:
                name = member.name.lstrip("./")
                if not member.isfile() or Path(name).suffix.lower() not in suffixes:
                    continue
                if prefix:
                    if not name.startswith(prefix.rstrip("/") + "/"):
                        continue
                    name = name[len(prefix.rstrip("/")) + 1 :]
                fh = tar.extractfile(member)
                if fh is not None:
                    yield name, fh.read()
    except tarfile.TarError as exc:
        raise ImageDataError(f"{root} is not a readable tar archive: {exc}") from None


def load_image_folder(
    root: str | os.PathLike,
    *,
    subdir: str = "",
    classes: Sequence[str] | None = None,
    mode: str | None = None,
    size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images laid out as ``root/<class>/*.png|jpg`` (the torchvision ImageFolder layout).

    Parameters
    ----------
    root : path
        A directory, or a ``.tar`` / ``.tar.gz`` archive of one (read member by
        member, never extracted).
    subdir : str, optional
        A folder inside ``root`` that holds the class folders (``"train"``).
    classes : sequence of str, optional
        Class names in label order; by default the sorted folder names. Folders not
        listed are skipped.
    mode : {"L", "RGB"}, optional
        Convert every image to grayscale or RGB; by default each keeps its mode
        (palette and alpha images become RGB) and all must agree.
    size : (width, height), optional
        Resize (bilinear) to this size; by default all images must share one size.

    Returns
    -------
    X : ndarray (N, H, W) or (N, H, W, C), uint8
        Sorted by class, then file name.
    y : ndarray (N,), int64
        Index into ``class_names``.
    class_names : list of str
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"no image folder or archive at {root}")
    wanted = None if classes is None else {c: i for i, c in enumerate(classes)}
    found: dict[str, list[tuple[str, np.ndarray]]] = {}
    for rel, blob in _folder_members(root, subdir):
        parts = rel.split("/")
        if len(parts) != 2:  # only <class>/<file>
            continue
        cls = parts[0]
        if wanted is not None and cls not in wanted:
            continue
        found.setdefault(cls, []).append((parts[1], _decode(blob, f"{root}:{rel}", mode, size)))
    where = f"{root}/{subdir}" if subdir else str(root)
    if not found:
        raise ImageDataError(f"no images in {where} (expected <class>/<image file> entries)")
    names = list(classes) if classes is not None else sorted(found)
    missing = [c for c in names if c not in found]
    if missing:
        raise ImageDataError(f"{where} has no images for classes {missing}")
    images, labels = [], []
    for label, cls in enumerate(names):
        for _, arr in sorted(found[cls], key=lambda item: item[0]):
            images.append(arr)
            labels.append(label)
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise ImageDataError(
            f"images in {where} differ in size or mode ({sorted(shapes)[:4]}...); pass size= "
            "and mode= to convert them"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64), names


def load_cifar10(
    split: str = "train", path: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 from ``cifar10_jpg.tar.gz`` (``train|test/<class>/NNNN.jpg``), read in place.

    Parameters
    ----------
    split : {"train", "test"}
        50,000 training or 10,000 test images.
    path : path, optional
        The archive, a data folder holding ``cifar10/cifar10_jpg.tar.gz``, or an
        extracted copy (a directory with ``train/`` and ``test/``).

    Returns
    -------
    X : ndarray of shape (N, 32, 32, 3), uint8
    y : ndarray of shape (N,), int64, index into :data:`CIFAR10_CLASSES`
    """
    _check_split(split)
    if path is not None and Path(path, split).is_dir():
        source = Path(path)
    else:
        source = find_file(CIFAR10_ARCHIVE, path)
    X, y, _ = load_image_folder(source, subdir=split, classes=CIFAR10_CLASSES, mode="RGB")
    return X, y


IMAGE_DATASETS = {"mnist": load_mnist, "cifar10": load_cifar10}


def load_image_dataset(
    name: str, split: str = "train", path: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``load_mnist`` or ``load_cifar10`` by name (``"mnist"``, ``"cifar10"``)."""
    if name not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; choose from {sorted(IMAGE_DATASETS)}")
    return IMAGE_DATASETS[name](split, path)
