"""Video datasets laid out as frame folders (UCSD Ped2 and users' own videos).

The layout is the one the video anomaly-detection literature shares (Liu et al.,
CVPR 2018): ``root/training/frames/<video>/<frame>.jpg`` and
``root/testing/frames/<video>/<frame>.jpg``, frames sorted by file name, with
per-frame test labels in ``testing/frame_labels.json`` or a MATLAB file of 1-based
``[start, end]`` anomalous ranges (``ped2.mat``, key ``gt``). ``root`` may be a
directory or a ``.tar(.gz)`` of one, read member by member without extracting.

Frames are decoded once, converted to grayscale, resized and kept as one compact
``uint8`` array; clips of consecutive frames are lazy views of it
(:class:`memae.clips.ClipWindows`), so no frame is ever held twice or as float.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memae.clips import ClipWindows
from memae.datasets._paths import find_file
from memae.datasets.images import IMAGE_SUFFIXES, ImageDataError, _decode, _folder_members

PED2_ARCHIVE = "ped2/ped2.tar.gz"
_FRAME = re.compile(r"^(.*?)(training|testing)/frames/([^/]+)/([^/]+)$")
_LABEL_FILES = (".json", ".mat")


@dataclass(frozen=True)
class Videos:
    """The frames of several videos, back to back, with optional per-frame labels.

    Attributes
    ----------
    frames : ndarray of shape (F, H, W), uint8
        Every frame of every video, in video order then frame order.
    names : tuple of str
        The video folder names (``"01"``, ``"02"``, ...).
    offsets : ndarray of shape (n_videos + 1,), int64
        Video ``i`` is ``frames[offsets[i]:offsets[i + 1]]``.
    labels : ndarray of shape (F,), int64, or None
        1 for an anomalous frame, 0 for a normal one; None when no labels exist
        (training videos).
    """

    frames: np.ndarray
    names: tuple[str, ...]
    offsets: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.names)

    def lengths(self) -> np.ndarray:
        """Frames per video."""
        return np.diff(self.offsets)

    def video(self, i: int) -> slice:
        """The frame range of video ``i``."""
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def clip_starts(self, length: int, stride: int = 1) -> list[np.ndarray]:
        """Per video, the first frame (global index) of every clip of ``length`` frames.

        Raises a ValueError naming any video shorter than one clip.
        """
        if length < 1 or stride < 1:
            raise ValueError(f"clip length and stride must be >= 1, got {length}, {stride}")
        short = [n for n, k in zip(self.names, self.lengths(), strict=True) if k < length]
        if short:
            raise ValueError(f"videos {short} have fewer than {length} frames (one clip)")
        return [
            np.arange(self.offsets[i], self.offsets[i + 1] - length + 1, stride)
            for i in range(len(self))
        ]

    def windows(self, length: int = 16, stride: int = 1) -> ClipWindows:
        """Every clip of ``length`` consecutive frames within one video, as a lazy view.

        ``stride=1`` gives all windows (the training samples of the MemAE video
        model); shape ``(n_clips, 1, length, H, W)``.
        """
        return ClipWindows(self.frames, np.concatenate(self.clip_starts(length, stride)), length)


def _labels_from_mat(blob: bytes, name: str, lengths: dict[str, int]) -> dict[str, np.ndarray]:
    """Per-video 0/1 labels from a MATLAB ``gt`` cell of 1-based ``[start; end]`` ranges."""
    from scipy.io import loadmat

    try:
        gt = loadmat(io.BytesIO(blob))["gt"].ravel()
    except (KeyError, ValueError, NotImplementedError) as exc:
        raise ImageDataError(f"{name}: expected a MATLAB file with a 'gt' cell ({exc})") from None
    if len(gt) != len(lengths):
        raise ImageDataError(f"{name} has ranges for {len(gt)} videos, there are {len(lengths)}")
    out = {}
    for (video, n), ranges in zip(lengths.items(), gt, strict=True):
        lab = np.zeros(n, dtype=np.int64)
        for start, end in np.asarray(ranges, dtype=np.int64).reshape(2, -1).T:
            lab[start - 1 : end] = 1
        out[video] = lab
    return out


def _labels_from_json(blob: bytes, name: str, lengths: dict[str, int]) -> dict[str, np.ndarray]:
    try:
        table = json.loads(blob)
        table = table.get("labels", table)
        return {v: np.asarray(table[v], dtype=np.int64) for v in lengths}
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise ImageDataError(
            f"{name}: expected {{'labels': {{video: [0/1 per frame]}}}} for every test video "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _read_labels(
    root: Path, prefix: str, files: dict[str, bytes], lengths: dict[str, int]
) -> np.ndarray | None:
    """Test labels from ``testing/frame_labels.json``, else a top-level ``.mat``; or None."""
    json_file = f"{prefix}testing/frame_labels.json"
    mats = [k for k in sorted(files) if k.startswith(prefix) and "/" not in k[len(prefix) :]]
    mats = [k for k in mats if k.endswith(".mat")]
    if json_file in files:
        rel, reader = json_file, _labels_from_json
    elif mats:
        rel, reader = mats[0], _labels_from_mat
    else:
        return None
    per_video = reader(files[rel], f"{root}:{rel}", lengths)
    bad = [v for v, n in lengths.items() if len(per_video[v]) != n]
    if bad:
        raise ImageDataError(f"{root}:{rel}: label counts differ from the frame counts of {bad}")
    return np.concatenate([per_video[v] for v in lengths])


def load_frame_folder(
    root: str | os.PathLike,
    split: str = "training",
    *,
    size: tuple[int, int] | None = None,
) -> Videos:
    """Frames of ``root/<split>/frames/<video>/*`` as grayscale uint8, plus test labels.

    Parameters
    ----------
    root : path
        The dataset directory (holding ``training/`` and ``testing/``), or a
        ``.tar`` / ``.tar.gz`` of it (one top folder such as ``ped2/`` is allowed).
    split : {"training", "testing"}
    size : (width, height), optional
        Resize every frame (bilinear, antialiased); by default all frames must
        share one size.

    Returns
    -------
    Videos
        Labels come from ``testing/frame_labels.json`` (``{"labels": {video: [0/1,
        ...]}}``, entry k for the k-th frame in file-name order) or, failing that,
        a ``.mat`` file next to ``testing/`` with a ``gt`` cell of 1-based
        ``[start; end]`` ranges (the UCSD convention). ``labels`` is None for the
        training split or when neither file exists.
    """
    if split not in ("training", "testing"):
        raise ValueError(f"split must be 'training' or 'testing', got {split!r}")
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"no video folder or archive at {root}")
    frames: dict[str, list[tuple[str, np.ndarray]]] = {}
    others: dict[str, bytes] = {}  # candidate label files, by relative path
    prefixes = set()  # the dataset folder inside root ("ped2/" in the Ped2 archive)
    for rel, blob in _folder_members(root, "", (*IMAGE_SUFFIXES, *_LABEL_FILES)):
        m = _FRAME.match(rel)
        if m is None:
            if rel.endswith(_LABEL_FILES):
                others[rel] = blob
        elif m.group(2) == split:
            prefixes.add(m.group(1))
            frame = _decode(blob, f"{root}:{rel}", "L", size)
            frames.setdefault(m.group(3), []).append((m.group(4), frame))
    if not frames:
        raise ImageDataError(f"no frames in {root} (expected {split}/frames/<video>/<image>)")
    names = tuple(sorted(frames))
    ordered = [[f for _, f in sorted(frames[v], key=lambda item: item[0])] for v in names]
    shapes = {f.shape for video in ordered for f in video}
    if len(shapes) > 1:
        raise ImageDataError(f"frames in {root} differ in size ({sorted(shapes)[:4]}); pass size=")
    lengths = {v: len(f) for v, f in zip(names, ordered, strict=True)}
    offsets = np.concatenate([[0], np.cumsum(list(lengths.values()))]).astype(np.int64)
    if len(prefixes) > 1:
        raise ImageDataError(f"{root} holds several datasets: {sorted(prefixes)}")
    labels = _read_labels(root, prefixes.pop(), others, lengths) if split == "testing" else None
    return Videos(np.stack([f for video in ordered for f in video]), names, offsets, labels)


def load_ped2(
    split: str = "training",
    path: str | os.PathLike | None = None,
    size: tuple[int, int] | None = None,
) -> Videos:
    """UCSD Ped2 (16 training, 12 test videos of 360x240 frames) from ``ped2.tar.gz``.

    ``path`` is the archive, a data folder holding ``ped2/ped2.tar.gz``, or an
    extracted copy (a directory with ``training/`` and ``testing/``). See
    :func:`load_frame_folder` for ``split``, ``size`` and the labels.
    """
    if path is not None and Path(path, "testing").is_dir():
        source = Path(path)
    else:
        source = find_file(PED2_ARCHIVE, path)
    return load_frame_folder(source, split, size=size)
