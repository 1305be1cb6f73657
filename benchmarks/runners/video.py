"""UCSD Ped2 frame-level AUC: the MemAE paper's video result (Sec. 4.3).

Run ``python benchmarks/video.py`` (or ``memae benchmark ped2``): AE, MemAE-nonSpar
and MemAE of a preset (``--preset ped2-cpu`` by default, ``ped2`` for the official
network on a GPU) are trained on every 16-frame window of the 16 training videos
and score every window of the 12 test videos; the protocol is
:mod:`memae.evaluation.video`. Each method writes its own result under
``--workdir``, so an interrupted run resumes. ``--speed-presets`` also times training
steps and scoring on a few clips of other presets (for presets too slow to train
here), and ``--quick`` (2 videos each, 32x32 frames, 1 epoch) is a CI-sized smoke run.
The 5-NN reference (:data:`REFERENCES`: each test clip's distance to its 5th nearest
training clip, on the same pixels) is scored under the same protocol beside them.
``--frame-size H W`` trains and scores at another frame size (a resolution study, under
a stem of its own); with ``--speed-only`` it times the ``--speed-presets`` at that size
without a training run (how issue 23's 128x128 question was first answered).

``--track labelled`` is the "labelled validation" track (issue 24): test videos
``VALIDATION_VIDEOS`` are held out of the test set, and their clips, labelled by their
centre frame, choose each model's checkpoint by ROC-AUC; the frame AUC is then taken
over the other test videos only (stated in the table).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.runners import BENCH_PRECISION
from benchmarks.runners.baselines import KNNDistance
from benchmarks.runners.report import cpu_name, environment, publish, save_npy_atomic, task_record
from memae import AutoEncoder, MemAE
from memae.datasets.video import Videos, load_ped2
from memae.evaluation.video import video_aucs
from memae.presets import PRESETS

#: frame-level AUC of the MemAE paper (Table 3) and its reported test time per frame
PAPER = {"AE": 0.917, "MemAE-nonSpar": 0.929, "MemAE": 0.941}
PAPER_SECONDS_PER_FRAME = 0.0262
QUICK = {"frame_size": (32, 32), "videos": 2, "epochs": 1}
# Clips per speed measurement: one official batch at 256x256; at 64x64 enough that an
# epoch lasts ~15 s, so that timer noise stays well under the memory module's cost.
SPEED_CLIPS = {"ped2": 14, "ped2-cpu": 896}
SPEED_BATCH = 7  # clips per step: a batch of 14 official-size clips needs > 20 GB on CPU
FIGURE_VIDEO, FIGURE_FRAME = 0, 120  # test video 01, frame 120 (labelled anomalous)
# Labelled track: the two test videos with the most normal frames (02: 94 of 180, 12: 87
# of 180), so their clips hold both labels; four other test videos are anomalous in
# every (or all but a few) frames. Excluded from that track's test AUC.
VALIDATION_VIDEOS = ("02", "12")
#: the shallow reference set against every paper figure (issue 23): the distance of a
#: test clip to its 5th nearest training clip, on the pixels the deep models read
REFERENCES = ("KNN",)
TRACKS = ("unsupervised", "labelled")


def methods(preset: str, quick: bool, epochs: int | None = None) -> dict[str, Callable[[int], Any]]:
    """Method name -> factory(seed) of an unfitted detector (``epochs`` overrides the preset)."""
    epochs = QUICK["epochs"] if quick else epochs
    over: dict[str, Any] = {**BENCH_PRECISION, **({} if epochs is None else {"epochs": epochs})}
    return {
        "AE": lambda s: AutoEncoder.from_preset(preset, random_state=s, **over),
        # the paper's MemAE-nonSpar: neither hard shrinkage nor the entropy loss
        "MemAE-nonSpar": lambda s: MemAE.from_preset(
            preset, shrink_threshold=0.0, entropy_weight=0.0, random_state=s, **over
        ),
        "MemAE": lambda s: MemAE.from_preset(preset, random_state=s, **over),
    }


def result_stem(
    preset: str,
    quick: bool = False,
    epochs: int | None = None,
    track: str = "unsupervised",
    size: tuple[int, int] | None = None,
) -> str:
    """``ped2`` for the default run; ``-labelled`` / ``-<H>x<W>`` (frames of another size
    than the preset's) / ``-quick`` / ``-epochs<N>`` mark the others."""
    extra = "-quick" if quick else ("" if epochs is None else f"-epochs{epochs}")
    other = _other_size(preset, quick, size)
    frames = f"-{other[0]}x{other[1]}" if other else ""
    return STEMS[preset] + ("-labelled" if track == "labelled" else "") + frames + extra


def _frame_size(preset: str, quick: bool) -> tuple[int, int]:
    return QUICK["frame_size"] if quick else tuple(PRESETS[preset].data["frame_size"])


def _other_size(preset: str, quick: bool, size: tuple[int, int] | None) -> tuple[int, int] | None:
    """``size`` as a tuple where it differs from the run's own frame size, else None."""
    if size is None or tuple(size) == _frame_size(preset, quick):
        return None
    return (int(size[0]), int(size[1]))


@cache
def load_data(
    preset: str, data: str | None, quick: bool, size: tuple[int, int] | None = None
) -> tuple[Videos, Videos]:
    """Training and test videos at the preset's frame size, or ``size`` (quick: the first
    2 videos of each split)."""
    size = size or _frame_size(preset, quick)
    train, test = (load_ped2(split, data, size=size) for split in ("training", "testing"))
    if quick:
        train, test = (_first_videos(v, QUICK["videos"]) for v in (train, test))
    return train, test


def _first_videos(videos: Videos, n: int) -> Videos:
    return select_videos(videos, videos.names[:n])


def select_videos(videos: Videos, names: Any) -> Videos:
    """The videos called ``names`` (in their original order), frames and labels with them."""
    keep = [i for i, name in enumerate(videos.names) if name in set(names)]
    if not keep:
        raise ValueError(f"none of the videos {sorted(names)} is in {list(videos.names)}")
    parts = [videos.video(i) for i in keep]
    frames = np.concatenate([videos.frames[sl] for sl in parts])
    lengths = [sl.stop - sl.start for sl in parts]
    labels = None
    if videos.labels is not None:
        labels = np.concatenate([videos.labels[sl] for sl in parts])
    names_kept = tuple(videos.names[i] for i in keep)
    return Videos(frames, names_kept, np.r_[0, np.cumsum(lengths)].astype(np.int64), labels)


def labelled_split(test: Videos, length: int) -> tuple[Videos, tuple[Any, np.ndarray]]:
    """``(test videos kept, (validation clips, clip labels))`` for the labelled track.

    The test videos in :data:`VALIDATION_VIDEOS` become the validation set: every clip
    of them, labelled 1 when its centre frame (the frame it scores) is anomalous.
    Raises when that would leave no test video or no validation video.
    """
    val_names = [n for n in test.names if n in VALIDATION_VIDEOS]
    test_names = [n for n in test.names if n not in VALIDATION_VIDEOS]
    if not val_names or not test_names:
        raise ValueError(
            f"the labelled track needs test videos in and out of {VALIDATION_VIDEOS}, "
            f"got {list(test.names)}"
        )
    val = select_videos(test, val_names)
    centres = np.concatenate(val.clip_starts(length)) + length // 2  # global frame indices
    return select_videos(test, test_names), (val.windows(length), val.labels[centres])


def run_method(
    name: str,
    preset: str,
    seed: int,
    quick: bool,
    data: str | None,
    work: Path,
    epochs: int | None = None,
    track: str = "unsupervised",
    size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Train one method, score every test clip, evaluate; keep the model for the figures.

    ``size`` trains and scores the preset's network on frames of another size (its
    strides take any multiple of 16).
    """
    train, test = load_data(preset, data, quick, size)
    length = PRESETS[preset].data["clip_length"]
    clips = train.windows(length)
    fit_kw: dict[str, Any] = {}
    if track == "labelled":
        test, fit_kw["validation_data"] = labelled_split(test, length)
    det = methods(preset, quick, epochs)[name](seed)
    marks: list[float] = []
    t0 = time.perf_counter()
    # A converged fit outlasts a CPU session: it checkpoints every epoch and, rerun,
    # resumes bit-exactly from its checkpoint (kept until the task record is written).
    det.fit(
        clips,
        callbacks=(lambda epoch, losses: marks.append(time.perf_counter()),),
        checkpoint_dir=checkpoint_dir(work, name, seed),
        **fit_kw,
    )
    fit_s = time.perf_counter() - t0
    epoch_s = np.diff([t0, *marks])
    test_clips = test.windows(length)
    scores, score_s = _timed(det.decision_function, test_clips)
    ev = video_aucs(scores, test, length)
    # The official code scores MemAE by the per-pixel error norm (README, "The official
    # code's score rule"): the same model under that rule, an extra figure, not a choice.
    rule = video_aucs(scores_under(det, "location_l2", test_clips), test, length)
    det.save(work / name)
    save_npy_atomic(work / f"{name}-frame-errors.npy", ev["frame_errors"])
    return {
        "method": name,
        "seed": seed,
        **_auc_fields(ev),
        "location_l2": {
            "auc": rule["all"]["auc"],
            "auc_raw": rule["all"]["auc_raw"],
            "official_auc": rule["official"]["auc"],
        },
        # this process's time: a resumed fit ran its first epochs in an earlier one
        "fit_seconds": fit_s,
        "epoch_seconds": float(np.mean(epoch_s)),
        "epochs_timed": len(epoch_s),
        "resumed_at_epoch": len(det.history_) - len(epoch_s),
        "epochs_run": len(det.history_),
        "best_epoch": det.best_epoch_,
        "selection": det.selection_,
        "converged": bool(det.stopped_early_),
        "test_video_names": list(test.names),
        "frame_size": list(train.frames.shape[1:3]),
        "final_val_loss": det.history_[-1].get("val_loss"),
        "history": det.history_,
        "train_clips": len(clips),
        "test_clips": len(test_clips),
        "score_seconds": score_s,
        # a frame per clip: each test clip yields the score of its centre frame
        "score_frames_per_second": len(test_clips) / score_s,
        "device": str(det.device_),
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu_name(),  # a table may gather records fitted on different machines
    }


def scores_under(det: Any, score_method: str, clips: Any) -> np.ndarray:
    """``det``'s scores of ``clips`` with another ``score_method``; ``det`` keeps its own
    (its threshold and training scores belong to it, so it is saved with it)."""
    own = det.score_method
    try:
        return det.set_params(score_method=score_method).decision_function(clips)
    finally:
        det.set_params(score_method=own)


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``(fn(*args), seconds it took)``."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _auc_fields(ev: dict[str, Any]) -> dict[str, Any]:
    """A record's AUC fields from :func:`video_aucs`: every frame (headline) and official."""
    return {
        "auc": ev["all"]["auc"],
        "auc_raw": ev["all"]["auc_raw"],
        "official": ev["official"],
        "all": ev["all"],
    }


def run_reference(
    name: str,
    preset: str,
    quick: bool,
    data: str | None,
    track: str = "unsupervised",
    size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A shallow reference on the same clips and protocol as the deep methods.

    ``"KNN"``: each test clip's Euclidean distance to its 5th nearest training clip (every
    16-frame window of the training videos), on the clip's pixels at the run's frame size,
    mapped to [-1, 1] by ``x / 127.5 - 1`` (one affine map for every pixel, so the
    neighbours are those of the raw pixels). Deterministic: no seed, no epochs.
    """
    if name not in REFERENCES:
        raise ValueError(f"unknown reference {name!r}, expected one of {REFERENCES}")
    train, test = load_data(preset, data, quick, size)
    length = PRESETS[preset].data["clip_length"]
    if track == "labelled":
        test, _ = labelled_split(test, length)

    def pixels(videos: Videos) -> np.ndarray:
        clips = np.asarray(videos.windows(length))
        return clips.reshape(len(clips), -1).astype(np.float32) / 127.5 - 1.0

    train_pixels = pixels(train)
    knn, fit_s = _timed(KNNDistance(k=5, standardise=False).fit, train_pixels)
    scores, score_s = _timed(knn.decision_function, pixels(test))
    ev = video_aucs(scores, test, length)
    return {
        "method": name,
        **_auc_fields(ev),
        "fit_seconds": fit_s,
        "score_seconds": score_s,
        "train_clips": len(train_pixels),
        "test_clips": len(scores),
        "frame_size": list(train.frames.shape[1:3]),
    }


def checkpoint_dir(work: Path, name: str, seed: int) -> Path:
    """Where a fit checkpoints (removed once its task record is written)."""
    return work / f"{name}-seed{seed}-checkpoint"


def speed_only(
    preset: str, data: str | None, size: tuple[int, int] | None = None, clips: int | None = None
) -> dict[str, Any]:
    """Per method: the time of a training epoch and of scoring, measured on a few real clips.

    Three epochs are run and the faster of the second and third is timed (the first
    pays one-off costs); the time per clip is extrapolated to an epoch of the preset's
    training clips. ``size`` times the preset's network on frames of another size
    (the strides make any multiple of 16 work). Steps take ``SPEED_BATCH`` clips (at
    most the preset's batch) to bound CPU memory; ``clips`` (default ``SPEED_CLIPS``)
    sets how many clips. Scoring is timed three times; the fastest counts.
    """
    train, _ = load_data(preset, data, False, size)
    length = PRESETS[preset].data["clip_length"]
    every = train.windows(length)
    clips = every.select(slice(0, clips or SPEED_CLIPS.get(preset, 14)))
    preset_batch = PRESETS[preset].common["batch_size"]
    val = PRESETS[preset].common["validation_fraction"]
    batch = min(SPEED_BATCH, preset_batch)
    out: dict[str, Any] = {}
    for name, make in methods(preset, False).items():
        det = make(0).set_params(epochs=3, validation_fraction=0.0, batch_size=batch)
        marks: list[float] = []
        det.fit(clips, callbacks=(lambda *_, marks=marks: marks.append(time.perf_counter()),))
        step_s = min(np.diff(marks)) / len(clips)
        det.decision_function(clips)  # warm-up
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            det.decision_function(clips)
            runs.append(time.perf_counter() - t0)
        score_s = min(runs) / len(clips)
        out[name] = {
            "train_seconds_per_clip": step_s,
            # an epoch trains on the clips outside the preset's validation split
            "epoch_seconds_extrapolated": step_s * round(len(every) * (1 - val)),
            "score_frames_per_second": 1.0 / score_s,
            "clips_timed": len(clips),
            "frame_size": list(size or PRESETS[preset].data["frame_size"]),
            "batch_size": batch,
            "preset_batch_size": preset_batch,
            "device": str(det.device_),
            "torch_threads": torch.get_num_threads(),
            "cpu": cpu_name(),
        }
    return out


STEMS = {"ped2-cpu": "ped2", "ped2": "ped2-full"}


def run(
    preset: str = "ped2-cpu",
    seed: int = 0,
    quick: bool = False,
    data: str | None = None,
    only: list[str] | None = None,
    epochs: int | None = None,
    workdir: Path = Path("benchmarks/results/work"),
    speed_presets: list[str] | None = None,
    log: Callable[[str], None] = print,
    command: tuple[str, list[str] | None] = ("memae benchmark ped2", None),
    track: str = "unsupervised",
    size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Run every method not yet in ``workdir``, then summarise (``size``: frames of
    another size than the preset's, a resolution study)."""
    if track not in TRACKS:
        raise ValueError(f"track must be one of {TRACKS}, got {track!r}")
    size = _other_size(preset, quick, size)  # the preset's own size is no study
    names = only or list(methods(preset, quick))
    work = workdir / result_stem(preset, quick, epochs, track, size)
    work.mkdir(parents=True, exist_ok=True)

    def fit_method(name: str) -> dict[str, Any]:
        log(f"{preset}: training {name} ...")
        return run_method(name, preset, seed, quick, data, work, epochs, track, size)

    def time_preset(other: str) -> dict[str, Any]:
        log(f"timing preset {other} ...")
        return speed_only(other, data)

    rows = {}
    for name in names:
        rows[name] = task_record(work / f"{name}-seed{seed}.json", fit_method, name)
        shutil.rmtree(checkpoint_dir(work, name, seed), ignore_errors=True)  # the record has it all
        saved = work / name / "config.json"  # runs saved before "history" was recorded
        if "history" not in rows[name] and saved.is_file():
            rows[name]["history"] = json.loads(saved.read_text())["fitted"]["history"]
        r = rows[name]
        log(
            f"{name:14s} frame AUC {r['auc']:.4f} (raw {r['auc_raw']:.4f}; official "
            f"{r['official']['auc']:.4f}) epoch {r['epoch_seconds']:.0f}s, "
            f"{r['score_frames_per_second']:.1f} frames/s"
        )
    references = {
        name: task_record(
            work / f"reference-{name}.json", run_reference, name, preset, quick, data, track, size
        )
        for name in REFERENCES
    }
    for name, r in references.items():
        log(f"{name:14s} frame AUC {r['auc']:.4f} (raw {r['auc_raw']:.4f})")
    speed = {}
    for other in speed_presets or []:
        speed[other] = task_record(work / f"speed-{other}.json", time_preset, other)
    train, test = load_data(preset, data, quick, size)
    length = PRESETS[preset].data["clip_length"]
    validation_videos: list[str] = []
    if track == "labelled":
        validation_videos = [n for n in test.names if n in VALIDATION_VIDEOS]
        test, _ = labelled_split(test, length)
    p = PRESETS[preset]
    return {
        "benchmark": "ped2",
        "track": track,
        "validation_videos": validation_videos,
        "preset": preset,
        "preset_values": {**p.common, **p.data, "memae": p.per_model["memae"]},
        "protocol": "train on every 16-frame window of the training videos; score every "
        "window of the test videos; a clip's squared reconstruction error goes to its centre "
        "frame (clip j -> frame j + 8). 'all': every test frame scored, the first 8 and last "
        "7 frames of a video take its first / last clip's score; 'official': those frames are "
        "dropped, as in the official code. auc: regularity score normalised per video (the "
        "paper's), pooled frame-level ROC-AUC; auc_raw: the same without the per-video "
        "normalisation; location_l2: the same model scored by the per-pixel error norm "
        "(score_method='location_l2', the official code's MemAE score)",
        "seed": seed,
        "quick": quick,
        "epochs_override": epochs,
        "frame_size": list(size or _frame_size(preset, quick)),
        "size_override": size is not None,
        "train_videos": len(train),
        "test_videos": len(test),
        "test_frames": len(test.frames),
        "anomalous_test_frames": int(test.labels.sum()),
        "environment": environment(*command),
        "paper": PAPER,
        "paper_seconds_per_frame": PAPER_SECONDS_PER_FRAME,
        "results": rows,
        "references": references,
        "speed": speed,
    }


def markdown(results: dict[str, Any]) -> str:
    rows = results["results"]
    env = results["environment"]
    held_out = results.get("validation_videos") or []
    track = (
        f" Labelled-validation track: test videos {', '.join(held_out)} held out; their "
        "clips (labelled by their centre frame) choose each checkpoint by ROC-AUC, and the "
        "AUC below is over the other test videos only."
        if held_out
        else ""
    )
    lines = [
        f"UCSD Ped2, preset `{results['preset']}`"
        + (
            f" at {'x'.join(map(str, results['frame_size']))} frames"
            if results.get("size_override")
            else ""
        )
        + (f" with epochs={results['epochs_override']}" if results.get("epochs_override") else "")
        + ", frame-level ROC-AUC over "
        f"{results['test_frames']} test frames of {results['test_videos']} videos "
        f"(seed {results['seed']}), `{env['command']}`:{track}",
        "",
        "| method | AUC (all frames) | paper | AUC - paper | without per-video normalisation | "
        "official convention (drops 8 + 7 frames per video) | official, without normalisation "
        "| AUC, per-pixel error norm (the official code's MemAE score) |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def auc_row(label: str, r: dict[str, Any], paper: Any, gap: str) -> str:
        rule = r.get("location_l2")  # deep methods recorded since the rule was added
        return (
            f"| {label} | {r['auc']:.4f} | {paper} | {gap} | {r['auc_raw']:.4f} | "
            f"{r['official']['auc']:.4f} | {r['official']['auc_raw']:.4f} | "
            f"{'–' if rule is None else format(rule['auc'], '.4f')} |"
        )

    for name, r in rows.items():
        paper = PAPER.get(name)
        gap = f"{r['auc'] - paper:+.3f}" if paper is not None else "–"
        lines.append(auc_row(name, r, paper, gap))
    for name, r in results.get("references", {}).items():
        label = f"{name} (5th nearest training clip, pixels; no training)"
        lines.append(auc_row(label, r, "–", "–"))
    if any("location_l2" not in r for r in rows.values()):
        lines += [
            "",
            "Last column, –: a deep method's record from before the runner scored the "
            "official code's rule too (`benchmarks/ped2_score_rule.py` rescores saved models); "
            "the 5-NN reference has no reconstruction.",
        ]
    if all(m in rows for m in PAPER):
        a, n, m = (rows[k]["auc"] for k in ("AE", "MemAE-nonSpar", "MemAE"))
        holds = "holds" if a < n < m else "does not hold"
        lines += ["", f"The paper's ordering AE < MemAE-nonSpar < MemAE {holds} here."]
    if all("history" in r for r in rows.values()):
        last = ", ".join(
            f"{name} {r['history'][-1]['loss']:.4f} (best validation epoch {r['best_epoch']} "
            f"of {r['epochs_run']})"
            for name, r in rows.items()
        )
        lines += ["", f"Training loss at the last epoch: {last}."]
    if results.get("epochs_override"):  # a budget study: its timings are not reported
        return "\n".join(lines)
    lines += [
        "",
        "| method | training s/epoch | epochs | scoring frames/s | s/frame (paper: "
        f"{PAPER_SECONDS_PER_FRAME}, GPU) | device |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        fps = r["score_frames_per_second"]
        lines.append(
            f"| {name} | {r['epoch_seconds']:.0f} | {r['epochs_run']} | {fps:.1f} | "
            f"{1 / fps:.4f} | {_device(r)} |"
        )
    if "AE" in rows and "MemAE" in rows and results["preset"] not in results["speed"]:
        lines += ["", _overhead(rows, "epoch_seconds")]
    for other, per in results["speed"].items():
        lines += ["", *speed_table(other, per)]
    lines += [
        "",
        f"Rendered on {env['cpu']} ({env['cpu_count']} cores), CUDA: {env['cuda']}; each "
        "timing is from the machine that ran that fit (device column).",
    ]
    return "\n".join(lines)


def _device(r: dict[str, Any]) -> str:
    """The device column: where a record's timings were measured."""
    cpu = r.get("cpu") or "CPU model not recorded"
    return f"{r['device']}, {r['torch_threads']} threads, {cpu}"


def speed_table(preset: str, per: dict[str, Any]) -> list[str]:
    """The timing table of one preset (:func:`speed_only`'s result)."""
    first = next(iter(per.values()))
    size = first.get("frame_size", PRESETS[preset].data["frame_size"])
    lines = [
        f"Preset `{preset}` ({'x'.join(map(str, size))} frames) timed on "
        f"{first['clips_timed']} training clips in batches of {first['batch_size']} (the faster "
        "of epochs 2 and 3; the time per clip extrapolated to a full epoch; scoring: the "
        "fastest of three passes):",
        "",
        "| method | training s/clip | training s/epoch (extrapolated) | scoring frames/s "
        "| device |",
        "|---|---|---|---|---|",
    ]
    for name, r in per.items():
        lines.append(
            f"| {name} | {r['train_seconds_per_clip']:.3f} | "
            f"{r['epoch_seconds_extrapolated']:,.0f} | {r['score_frames_per_second']:.2f} | "
            f"{_device(r)} |"
        )
    if "AE" in per and "MemAE" in per:
        lines += ["", _overhead(per, "train_seconds_per_clip")]
    return lines


def _overhead(rows: dict[str, Any], train_key: str) -> str:
    """The memory module's extra time over the AE (MemAE vs AE rows)."""
    fit = rows["MemAE"][train_key] / rows["AE"][train_key] - 1
    score = rows["AE"]["score_frames_per_second"] / rows["MemAE"]["score_frames_per_second"] - 1
    return (
        f"Memory module's extra cost over the AE: {fit:+.1%} training time, {score:+.1%} "
        "scoring time per frame (paper: about 1.5%)."
    )


def figures(results: dict[str, Any], work: Path, out: Path, data: str | None) -> list[Path]:
    """Regularity curves of every test video and one anomalous frame, AE next to MemAE."""
    from memae import load as load_model
    from memae.evaluation.video import centre_clip, evaluated_frames, regularity
    from memae.plotting import plot_clip_frame, plot_regularity

    preset, quick = results["preset"], results["quick"]
    size = tuple(results["frame_size"]) if results.get("size_override") else None
    _, test = load_data(preset, data, quick, size)
    stem = result_stem(preset, quick, results.get("epochs_override"), size=size)
    length = PRESETS[preset].data["clip_length"]
    mask = evaluated_frames(test, length, "all")
    curves = {
        name: regularity(np.load(work / f"{name}-frame-errors.npy"), test, mask)
        for name in results["results"]
    }
    paths = [
        plot_regularity(
            curves,
            test,
            out / f"{stem}-regularity.png",
            f"Ped2 ({preset}): regularity score per test video (shaded: anomalous frames)",
        )
    ]
    deep = {m: load_model(work / m) for m in ("AE", "MemAE") if (work / m).is_dir()}
    if deep:
        sl = test.video(FIGURE_VIDEO)
        n = sl.stop - sl.start
        frame = min(FIGURE_FRAME, n - 1)
        start = int(centre_clip(frame, n, length))
        clip = test.frames[sl.start + start : sl.start + start + length][None]
        state = "anomalous" if test.labels[sl.start + frame] else "normal"
        title = f"Ped2 ({preset}) test video {test.names[FIGURE_VIDEO]}, frame {frame} ({state})"
        paths.append(plot_clip_frame(deep, clip, frame - start, out / f"{stem}-frame.png", title))
    return paths


def main(argv: list[str] | None = None, prog: str = "memae benchmark ped2") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--preset", choices=sorted(STEMS), default="ped2-cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 videos, 32x32, 1 epoch")
    parser.add_argument("--methods", nargs="+", default=None, help="subset of methods")
    parser.add_argument(
        "--epochs", type=int, default=None, help="override the preset's epochs (a budget study)"
    )
    parser.add_argument(
        "--speed-presets",
        nargs="*",
        default=None,
        help="presets to time on a few clips as well (default: ped2-cpu and ped2 unless --quick)",
    )
    parser.add_argument("--data", default=None, help="ped2.tar.gz or a folder holding it")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--workdir", type=Path, default=None, help="default OUT/work")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    parser.add_argument(
        "--track",
        choices=TRACKS,
        default="unsupervised",
        help=f"'labelled': test videos {', '.join(VALIDATION_VIDEOS)} choose the checkpoints "
        "and leave the test set",
    )
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="only time the --speed-presets (no training run); with --frame-size, at that size",
    )
    parser.add_argument(
        "--frame-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="frames of this size instead of the preset's (a resolution study; with "
        "--speed-only, the size to time at)",
    )
    parser.add_argument("--speed-clips", type=int, default=None, help="clips to time")
    args = parser.parse_args(argv)
    if args.speed_only:
        _speed_main(args, prog, argv)
        return
    labelled = args.track == "labelled"
    speed = args.speed_presets
    if speed is None:
        study = args.quick or args.epochs or labelled or args.frame_size
        speed = [] if study else ["ped2-cpu", "ped2"]
    workdir = args.workdir or args.out / "work"
    results = run(
        args.preset,
        seed=args.seed,
        quick=args.quick,
        data=args.data,
        only=args.methods,
        epochs=args.epochs,
        workdir=workdir,
        speed_presets=speed,
        command=(prog, argv),
        track=args.track,
        size=tuple(args.frame_size) if args.frame_size else None,
    )
    stem = result_stem(args.preset, args.quick, args.epochs, args.track, results["frame_size"])
    md = markdown(results)
    publish(results, md, args.out, stem, None if args.quick else args.readme)
    if not args.no_figures and not labelled:  # the figures show every test video
        figures(results, workdir / stem, args.out / "figures", args.data)


def _speed_main(args: argparse.Namespace, prog: str, argv: list[str] | None) -> None:
    """``--speed-only``: time presets on a few clips, at their frame size or another."""
    size = tuple(args.frame_size) if args.frame_size else None
    presets = args.speed_presets or ["ped2-cpu"]
    speed = {p: speed_only(p, args.data, size, args.speed_clips) for p in presets}
    env = environment(prog, argv)
    stem = "ped2-speed" + (f"-{size[0]}x{size[1]}" if size else "")
    lines = []
    for other, per in speed.items():
        lines += [*speed_table(other, per), ""]
    lines += [f"`{env['command']}` on {env['cpu']} ({env['cpu_count']} cores)."]
    md = "\n".join(lines)
    res = {"benchmark": stem, "environment": env, "speed": speed}
    publish(res, md, args.out, stem, args.readme)


if __name__ == "__main__":
    main()
