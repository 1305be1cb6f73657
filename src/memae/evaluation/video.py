"""Frame-level evaluation of clip scores (the MemAE paper's UCSD-Ped2 protocol).

A video model scores clips of ``T`` consecutive frames. Each clip's error is given
to its centre frame: clip ``j`` (frames ``j .. j + T - 1`` of a video) scores frame
``j + T // 2``. Two conventions for the ``T // 2`` first and ``T - 1 - T // 2``
last frames of every video, which no clip is centred on:

- ``"all"`` (memae's): they take the score of the nearest clip (the video's first or
  last clip), so every test frame is scored and counted;
- ``"official"``: they are dropped, as in the official MemAE code (frame ``j + 8``
  of clip ``j``, so 8 + 7 frames per video are not evaluated).

Scores become the paper's regularity score per video,
``p = 1 - (e - min_video e) / (max_video e - min_video e)``, and the frame-level
ROC-AUC pools all test frames, with ``1 - p`` as the anomaly score. Because that
normalisation uses every frame of a test video (future frames included), the AUC
of the raw errors is reported as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from memae.datasets.video import Videos

CONVENTIONS = ("all", "official")


def centre_clip(frame: np.ndarray | int, n: int, length: int) -> np.ndarray | int:
    """Start, within its video of ``n`` frames, of the clip that scores ``frame``.

    ``clip(frame - length // 2, 0, n - length)``: the clip centred on the frame, or
    the video's first / last clip for the frames no clip is centred on.
    """
    return np.clip(frame - length // 2, 0, n - length)


def frame_errors(clip_scores: np.ndarray, videos: Videos, length: int) -> np.ndarray:
    """Per-frame scores ``(F,)`` from the scores of every clip (``videos.windows(length)``).

    Frame ``f`` of a video of ``n`` frames gets the score of the clip starting at
    ``clip(f - length // 2, 0, n - length)``: the clip centred on it, or the
    nearest one for the first and last frames.
    """
    starts = videos.clip_starts(length)
    n_clips = sum(len(s) for s in starts)
    clip_scores = np.asarray(clip_scores, dtype=np.float64)
    if clip_scores.shape != (n_clips,):
        raise ValueError(
            f"expected {n_clips} clip scores (clips of {length}), got {clip_scores.shape}"
        )
    out = np.empty(len(videos.frames), dtype=np.float64)
    first_clip = 0
    for i, n in enumerate(videos.lengths()):
        k = centre_clip(np.arange(n), n, length)
        out[videos.video(i)] = clip_scores[first_clip + k]
        first_clip += n - length + 1
    return out


def evaluated_frames(videos: Videos, length: int, convention: str) -> np.ndarray:
    """Boolean mask ``(F,)`` of the frames a convention evaluates."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    mask = np.ones(len(videos.frames), dtype=bool)
    if convention == "official":
        for i, n in enumerate(videos.lengths()):
            frames = np.zeros(n, dtype=bool)
            frames[length // 2 : n - (length - 1 - length // 2)] = True
            mask[videos.video(i)] = frames
    return mask


def regularity(errors: np.ndarray, videos: Videos, mask: np.ndarray | None = None) -> np.ndarray:
    """The paper's per-video regularity score ``p`` in [0, 1] (1 = regular).

    Min and max are taken over the frames in ``mask`` of each video; frames outside
    it get NaN. A video whose evaluated errors are all equal gets ``p = 1``.
    """
    mask = np.ones(len(errors), dtype=bool) if mask is None else mask
    p = np.full(len(errors), np.nan)
    for i in range(len(videos)):
        sl = videos.video(i)
        e, m = errors[sl], mask[sl]
        if not m.any():
            continue
        lo, hi = e[m].min(), e[m].max()
        vals = np.ones(m.sum()) if hi == lo else 1.0 - (e[m] - lo) / (hi - lo)
        p[np.flatnonzero(m) + sl.start] = vals
    return p


def video_aucs(clip_scores: np.ndarray, videos: Videos, length: int) -> dict[str, Any]:
    """Frame-level ROC-AUCs of clip scores under both conventions, with and without
    per-video normalisation, plus the per-frame errors and regularity scores."""
    if videos.labels is None:
        raise ValueError("the test videos have no frame labels")
    errors = frame_errors(clip_scores, videos, length)
    out: dict[str, Any] = {"frame_errors": errors}
    for conv in CONVENTIONS:
        mask = evaluated_frames(videos, length, conv)
        p = regularity(errors, videos, mask)
        y = videos.labels[mask]
        out[conv] = {
            "auc": float(roc_auc_score(y, 1.0 - p[mask])),
            "auc_raw": float(roc_auc_score(y, errors[mask])),
            "frames": int(mask.sum()),
            "anomalous_frames": int(y.sum()),
        }
        out[f"regularity_{conv}"] = p
    return out
