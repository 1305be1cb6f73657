"""Figures a user of an image detector wants to see (matplotlib, written as PNG).

All functions take fitted detectors and/or scores, write ``path`` and return it.
matplotlib is an optional dependency (``pip install memae[plot]``); the Agg backend
is used, so no display is needed.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def _pyplot():
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'memae[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _show(ax, img: np.ndarray, cmap: str | None = None, vmax: float | None = None) -> None:
    """Draw one image given on the 0-255 scale ((H, W) or (H, W, C)); an error map if cmap."""
    if cmap is not None:
        ax.imshow(img, cmap=cmap, vmin=0, vmax=vmax)
    elif img.ndim == 2 or img.shape[-1] == 1:
        ax.imshow(img.reshape(img.shape[:2]), cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(np.clip(img, 0, 255).astype(np.uint8))
    ax.set_xticks([])
    ax.set_yticks([])


def _hwc(images: np.ndarray, sample_shape: tuple[int, ...]) -> np.ndarray:
    """Images as (N, H, W) or (N, H, W, C) for display, whatever the input layout."""
    from memae.preprocessing import channels_last

    if len(sample_shape) == 3 and not channels_last(sample_shape):
        return np.moveaxis(images, 1, -1)
    return images


def _save(fig, path: str | os.PathLike) -> Path:
    from memae.io import write_atomic

    out = Path(path)
    buf = io.BytesIO()  # rendered first, then written atomically: never a half-written figure
    fig.savefig(buf, format=out.suffix[1:].lower() or "png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    write_atomic(out, buf.getvalue())
    return out


def plot_reconstructions(
    detectors: Mapping[str, Any],
    normal: np.ndarray,
    anomalous: np.ndarray,
    path: str | os.PathLike,
) -> Path:
    """Input / reconstruction / per-pixel squared error, one column per image.

    Rows: the inputs, then for each detector its reconstructions and error maps
    (squared error on the 0-255 scale, averaged over colour channels; one colour
    scale per detector so normal and anomalous columns compare directly).
    """
    plt = _pyplot()
    images = np.concatenate([normal, anomalous])
    n_norm = len(normal)
    first = next(iter(detectors.values()))
    shape = first.sample_shape_
    shown = _hwc(images, shape)
    rows = 1 + 2 * len(detectors)
    fig, axes = plt.subplots(rows, len(images), figsize=(1.3 * len(images), 1.35 * rows))
    axes = np.asarray(axes).reshape(rows, len(images))
    for j in range(len(images)):
        _show(axes[0, j], shown[j])
        axes[0, j].set_title("normal" if j < n_norm else "anomaly", fontsize=8)
    for i, (name, det) in enumerate(detectors.items()):
        recon = _hwc(det.reconstruct(images), shape)
        err = (shown.astype(np.float32) - recon) ** 2
        if err.ndim == 4:
            err = err.mean(axis=-1)
        vmax = float(np.percentile(err, 99.5)) or 1.0
        for j in range(len(images)):
            _show(axes[1 + 2 * i, j], recon[j])
            _show(axes[2 + 2 * i, j], err[j], cmap="inferno", vmax=vmax)
        axes[1 + 2 * i, 0].set_ylabel(f"{name}\nrecon.", fontsize=8)
        axes[2 + 2 * i, 0].set_ylabel(f"{name}\nerror", fontsize=8)
    axes[0, 0].set_ylabel("input", fontsize=8)
    return _save(fig, path)


def plot_memory(detector: Any, path: str | os.PathLike, n_items: int = 20) -> Path:
    """The first ``n_items`` memory items of a fitted image :class:`memae.MemAE`, decoded."""
    plt = _pyplot()
    items = _hwc(detector.decode_memory()[:n_items], detector.sample_shape_)
    cols = min(10, len(items))
    rows = -(-len(items) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.25 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, img in enumerate(items):
        ax = axes.ravel()[k]
        ax.axis("on")
        _show(ax, img)
        ax.set_title(f"item {k}", fontsize=7)
    how = (
        "each item is a whole code"
        if detector.network_.memory.flatten
        else "every code location set to the item"
    )
    fig.suptitle(f"memory items decoded ({how})", fontsize=9)
    return _save(fig, path)


def plot_roc(
    scores: Mapping[str, np.ndarray], labels: np.ndarray, path: str | os.PathLike, title: str = ""
) -> Path:
    """ROC curve of each method's scores (label 1 = anomaly), with its AUC in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(labels, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, s):.3f})", lw=1.3)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def _two_histograms(
    values: np.ndarray, labels: np.ndarray, xlabel: str, title: str, threshold: float | None
):
    """Density histograms of normals (label 0) and anomalies (1) on shared bins."""
    plt = _pyplot()
    values, labels = np.asarray(values), np.asarray(labels)
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    bins = np.histogram_bin_edges(values, bins=60)
    both = (labels == 0).any() and (labels == 1).any()
    for value, name in ((0, "normal"), (1, "anomaly")):
        if (labels == value).any():  # unlabelled data (all 0): one histogram of all rows
            name = name if both else "all rows"
            ax.hist(values[labels == value], bins=bins, alpha=0.6, density=True, label=name)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.4g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_histogram(
    scores: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    path: str | os.PathLike,
    title: str = "",
) -> Path:
    """Score histograms of normals (label 0) and anomalies (label 1), threshold marked."""
    return _save(_two_histograms(scores, labels, "anomaly score", title, threshold), path)


def plot_code_norms(
    codes: np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike,
    title: str = "",
    log: bool = False,
) -> Path:
    """Histograms of the code norms ``||z||_2`` of normals (label 0) and anomalies (1).

    For :class:`memae.LatentNormAE` (``det.codes(X)``): its loss pulls normal codes
    towards the origin, so anomalies should sit farther out. ``log=True`` shows
    ``log10 ||z||``, for codes that collapse close to the origin.
    """
    norms = np.linalg.norm(np.asarray(codes).reshape(len(codes), -1), axis=1)
    if log:
        norms = np.log10(np.maximum(norms, 1e-12))
    label = "log10 code norm" if log else "code norm ||z||"
    return _save(_two_histograms(norms, labels, label, title, None), path)


def plot_latent_2d(
    train_codes: np.ndarray,
    test_codes: np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike,
    title: str = "",
) -> Path:
    """Codes projected on the first two principal axes of the training codes.

    Training codes in grey, test normals (label 0) in blue, test anomalies (1) in red:
    for :class:`memae.CompactVAE` (``det.codes(X)``), anomalies in the empty regions
    ("holes") between the training codes are what the hole score detects. On the
    sphere (``latent_dim=3``) the projection is the sphere seen from outside.
    """
    from sklearn.decomposition import PCA

    plt = _pyplot()
    pca = PCA(n_components=2).fit(train_codes)
    tr, te = pca.transform(train_codes), pca.transform(test_codes)
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    ax.scatter(*tr.T, s=3, c="lightgrey", label="training codes")
    ax.scatter(*te[labels == 0].T, s=6, c="tab:blue", alpha=0.6, label="test normal")
    ax.scatter(*te[labels == 1].T, s=6, c="tab:red", alpha=0.6, label="test anomaly")
    ax.set_xlabel("principal axis 1")
    ax.set_ylabel("principal axis 2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, markerscale=2)
    return _save(fig, path)


def plot_regularity(
    curves: Mapping[str, np.ndarray],
    videos: Any,
    path: str | os.PathLike,
    title: str = "",
    cols: int = 4,
) -> Path:
    """Regularity score over time per test video, ground-truth anomalous frames shaded.

    ``curves`` maps a method name to per-frame scores ``(F,)`` aligned with
    ``videos.frames`` (:class:`memae.datasets.Videos` with labels), for example the
    regularity ``p`` of :func:`memae.evaluation.regularity`; NaN frames are gaps.
    """
    plt = _pyplot()
    n = len(videos)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for i in range(n):
        ax, sl = axes.ravel()[i], videos.video(i)
        t = np.arange(sl.stop - sl.start)
        if videos.labels is not None:
            ax.fill_between(
                t, 0, 1, where=videos.labels[sl] == 1, color="tab:red", alpha=0.15, lw=0, step="mid"
            )
        for name, p in curves.items():
            ax.plot(t, p[sl], lw=1, label=name)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"video {videos.names[i]}", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    axes[0, 0].set_ylabel("regularity", fontsize=8)
    fig.suptitle(title or "regularity score (shaded: anomalous frames)", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_clip_frame(
    detectors: Mapping[str, Any],
    clip: np.ndarray,
    frame: int,
    path: str | os.PathLike,
    title: str = "",
) -> Path:
    """Input / reconstruction / squared error of one frame of a clip, one row per detector.

    ``clip`` is one sample ``(C, T, H, W)`` as the video detectors were fitted on (0-255
    scale); ``frame`` indexes its ``T`` axis.
    """
    plt = _pyplot()
    shown = clip[0, frame].astype(np.float32)
    recons = {name: det.reconstruct(clip[None])[0, 0, frame] for name, det in detectors.items()}
    errors = {name: (shown - r) ** 2 for name, r in recons.items()}
    vmax = float(np.percentile(np.concatenate([e.ravel() for e in errors.values()]), 99.5)) or 1.0
    rows = len(detectors)
    fig, axes = plt.subplots(rows, 3, figsize=(7.5, 2.6 * rows), squeeze=False)
    for i, name in enumerate(detectors):
        _show(axes[i, 0], shown)
        _show(axes[i, 1], recons[name])
        _show(axes[i, 2], errors[name], cmap="inferno", vmax=vmax)
        axes[i, 0].set_ylabel(name, fontsize=9)
        err = float(errors[name].mean())
        titles = ("input", "reconstruction", f"squared error (mean {err:.0f})")
        for ax, label in zip(axes[i], titles, strict=True):
            ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_explanation(
    detector: Any,
    X: np.ndarray,
    path: str | os.PathLike,
    n_rows: int = 4,
    top_k: int = 10,
    row_index: np.ndarray | None = None,
) -> Path:
    """Why the ``n_rows`` highest-scoring rows of ``X`` score high.

    Tables: one bar chart per row of its ``top_k`` largest feature contributions
    (:meth:`memae.BaseDetector.feature_scores`; they sum to the score, minus the
    remainder named in the title). Images: each image above its per-pixel
    contribution map (summed over colour channels). ``row_index`` names the rows of
    ``X`` in the titles (default: their positions).
    """
    plt = _pyplot()
    scores = detector.decision_function(X)
    rows = np.argsort(-scores, kind="stable")[: min(n_rows, len(X))]
    label = np.arange(len(X)) if row_index is None else np.asarray(row_index)
    picked = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    contrib, rest = detector.feature_scores(picked, return_remainder=True)
    shape = detector.sample_shape_
    if len(shape) == 1:  # one value per input column (one-hot parts summed back)
        width = contrib.shape[1]
        names = np.asarray(getattr(detector, "feature_names_in_", None) or range(width))
        k = min(top_k, width)
        fig, axes = plt.subplots(len(rows), 1, figsize=(6, 0.35 * k * len(rows) + 0.6))
        for ax, r, c, extra in zip(np.atleast_1d(axes), rows, contrib, rest, strict=True):
            top = np.argsort(-c, kind="stable")[:k][::-1]
            ax.barh([str(n) for n in names[top]], c[top], color="tab:red")
            ax.set_title(
                f"row {label[r]}: score {scores[r]:.4g}"
                + (f" (code term {extra:.3g})" if extra else ""),
                fontsize=9,
            )
            ax.tick_params(labelsize=8)
        np.atleast_1d(axes)[-1].set_xlabel("contribution to the score")
        fig.tight_layout()
        return _save(fig, path)
    if len(shape) not in (2, 3):
        raise ValueError("explanation figures are drawn for tables and images, not clips")
    shown = _hwc(X[rows], shape).astype(np.float32)
    maps = _hwc(contrib, shape)
    if maps.ndim == 4:
        maps = maps.sum(axis=-1)
    fig, axes = plt.subplots(2, len(rows), figsize=(1.6 * len(rows), 3.4))
    axes = np.asarray(axes).reshape(2, len(rows))
    vmax = float(np.percentile(maps, 99.5)) or 1.0
    for j, r in enumerate(rows):
        _show(axes[0, j], shown[j])
        axes[0, j].set_title(f"row {label[r]}\n{scores[r]:.3g}", fontsize=8)
        _show(axes[1, j], maps[j], cmap="inferno", vmax=vmax)
    axes[0, 0].set_ylabel("input", fontsize=8)
    axes[1, 0].set_ylabel("contribution", fontsize=8)
    return _save(fig, path)
