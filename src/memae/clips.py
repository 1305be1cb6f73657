"""Clips of consecutive frames as a lazy, read-only view of one frame array.

A video model trains on every window of ``T`` consecutive frames. Materialising
them would hold each frame ``T`` times; :class:`ClipWindows` holds the frames once
(uint8) and gathers the clips of a batch only when it is indexed, which is all the
trainer, the scaler and scoring need (``len``, ``shape``, ``dtype`` and indexing by a
slice or an integer array).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class ClipWindows:
    """Clips ``frames[s : s + length]`` for every start ``s`` in ``starts``.

    Parameters
    ----------
    frames : ndarray of shape (F, H, W) or (F, H, W, C)
        All frames, videos back to back (usually uint8). Not copied.
    starts : array-like of int, shape (N,)
        First frame of every clip; a clip never crosses into the next video as long
        as the caller builds ``starts`` per video (see :meth:`memae.datasets.Videos.windows`).
    length : int
        ``T``, the frames per clip.

    Attributes
    ----------
    shape : tuple
        ``(N, C, T, H, W)``: one clip is a channels-first spatio-temporal sample, the
        layout of :func:`memae.nn.backbones.conv3d_backbone` (``C = 1`` for gray).

    Examples
    --------
    >>> frames = np.zeros((20, 8, 8), np.uint8)
    >>> clips = ClipWindows(frames, starts=range(5), length=16)
    >>> clips.shape, clips[[0, 4]].shape
    ((5, 1, 16, 8, 8), (2, 1, 16, 8, 8))
    """

    ndim = 5

    def __init__(self, frames: np.ndarray, starts: Any, length: int) -> None:
        frames = np.asarray(frames)
        if frames.ndim not in (3, 4):
            raise ValueError(f"frames must be (F, H, W) or (F, H, W, C), got shape {frames.shape}")
        length = int(length)
        if not 1 <= length <= len(frames):
            raise ValueError(f"clip length {length} must be between 1 and the {len(frames)} frames")
        self.starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        last = len(frames) - length
        if len(self.starts) and (self.starts.min() < 0 or self.starts.max() > last):
            raise ValueError(f"clip starts must lie in [0, {last}] for {len(frames)} frames")
        self.frames = frames
        self.length = length
        # (F - T + 1, [C,] T, H, W) view: window axis moved next to the frame axis.
        view = np.moveaxis(sliding_window_view(frames, length, axis=0), -1, 1)
        self._view = view[:, None] if frames.ndim == 3 else np.moveaxis(view, -1, 1)
        self.dtype = frames.dtype
        self.shape = (len(self.starts), *self._view.shape[1:])

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, key: Any) -> np.ndarray:
        """Clip(s) as a new C-contiguous array: an int gives ``(C, T, H, W)``."""
        return np.ascontiguousarray(self._view[self.starts[key]])

    def select(self, key: Any) -> ClipWindows:
        """The clips ``key`` (a slice or index array) as another lazy view, no frames copied."""
        return ClipWindows(self.frames, self.starts[key], self.length)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"ClipWindows(shape={self.shape}, dtype={self.dtype}, frames={len(self.frames)})"
