"""Video support: frame-folder loader on the shared Ped2 archive, lazy clips, the conv3d
backbone, the frame-level scoring conventions, and a video detector end to end."""

import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat
from scipy.spatial.distance import cdist

import memae
from memae import AutoEncoder, MemAE
from memae.clips import ClipWindows
from memae.datasets import ImageDataError, Videos, load_frame_folder, load_ped2
from memae.datasets.video import _labels_from_mat
from memae.evaluation import evaluated_frames, frame_errors, regularity, video_aucs
from memae.nn import build_backbone
from memae.validation import check_array

from .conftest import data_root


@pytest.fixture(scope="module")
def ped2_test():
    from memae.datasets import DataNotFoundError

    try:
        return load_ped2("testing", data_root(), size=(32, 24))
    except DataNotFoundError:
        import os

        if os.environ.get("CI"):
            raise
        pytest.skip("shared Ped2 data not found (set MEMAE_DATA)")


# ---------------------------------------------------------------------------- loader
def test_ped2_test_split_from_the_shared_archive(ped2_test, tmp_path, monkeypatch):
    v = ped2_test
    assert v.frames.shape == (2010, 24, 32) and v.frames.dtype == np.uint8
    assert v.names == tuple(f"{i:02d}" for i in range(1, 13))
    assert v.lengths().tolist() == [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]
    assert v.labels.sum() == 1648  # the archive's README: 1,648 of 2,010 test frames
    # video 01: anomalous from MATLAB frame 61 (file 060.jpg) to the end (UCSDped2.m)
    first = v.labels[v.video(0)]
    assert first[:60].sum() == 0 and first[60:].all()
    # the .mat ranges give the same labels as frame_labels.json
    with tarfile.open(data_root() / "ped2" / "ped2.tar.gz") as tar:
        blob = tar.extractfile("ped2/ped2.mat").read()
    lengths = dict(zip(v.names, v.lengths().tolist(), strict=True))
    from_mat = np.concatenate(list(_labels_from_mat(blob, "ped2.mat", lengths).values()))
    np.testing.assert_array_equal(from_mat, v.labels)


def _write_frames(root, split, video, n, size=(12, 10), value=0):
    d = root / split / "frames" / video
    d.mkdir(parents=True)
    for k in range(n):
        arr = np.full((size[1], size[0], 3), (value + 10 * k) % 256, np.uint8)
        Image.fromarray(arr).save(d / f"{k:03d}.png")


def test_own_frame_folder_json_then_mat_labels_and_errors(tmp_path):
    root = tmp_path / "myvideos"
    _write_frames(root, "training", "cam1", 5)
    _write_frames(root, "testing", "a", 4)
    _write_frames(root, "testing", "b", 3, value=5)
    train = load_frame_folder(root, "training")
    assert train.frames.shape == (5, 10, 12) and train.labels is None
    assert train.frames[3, 0, 0] == 30  # RGB converted to L, file order kept
    test = load_frame_folder(root, "testing", size=(6, 5))
    assert test.frames.shape == (7, 5, 6) and test.labels is None  # no label file yet
    gt = np.empty((1, 2), dtype=object)  # the UCSD cell: 1-based [start; end] per video
    gt[0, 0], gt[0, 1] = np.array([[2], [3]]), np.array([[1], [1]])
    savemat(root / "gt.mat", {"gt": gt})
    m = load_frame_folder(root, "testing")
    assert m.labels.tolist() == [0, 1, 1, 0, 1, 0, 0]
    (root / "testing" / "frame_labels.json").write_text(
        json.dumps({"labels": {"a": [0, 0, 0, 1], "b": [1, 1, 1]}})
    )
    assert load_frame_folder(root, "testing").labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    (root / "testing" / "frame_labels.json").write_text(json.dumps({"a": [0], "b": [1, 1, 1]}))
    with pytest.raises(ImageDataError, match="label counts differ"):
        load_frame_folder(root, "testing")
    # the same layout inside a tar.gz, under a top folder
    archive = tmp_path / "videos.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="myvideos")
    assert load_frame_folder(archive, "training").frames.shape == (5, 10, 12)
    _write_frames(root, "training", "cam2", 2, size=(8, 8))
    with pytest.raises(ImageDataError, match="differ in size"):
        load_frame_folder(root, "training")
    with pytest.raises(ImageDataError, match="no frames"):
        load_frame_folder(tmp_path / "myvideos" / "testing", "training")
    with pytest.raises(ValueError, match="split"):
        load_frame_folder(root, "train")


# ----------------------------------------------------------------------------- clips
def _videos(lengths, h=4, w=5):
    frames = np.arange(sum(lengths) * h * w, dtype=np.float32).reshape(-1, h, w) % 251
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return Videos(frames.astype(np.uint8), tuple(map(str, range(len(lengths)))), offsets)


def test_windows_are_lazy_views_that_never_cross_videos():
    v = _videos([20, 18])
    clips = v.windows(16)
    assert clips.shape == (5 + 3, 1, 16, 4, 5) and len(clips) == 8
    assert clips.starts.tolist() == [0, 1, 2, 3, 4, 20, 21, 22]  # none spans frames 19/20
    assert np.shares_memory(clips._view, v.frames)  # no copy of the frames
    batch = clips[[0, 5]]
    np.testing.assert_array_equal(batch[1, 0], v.frames[20:36])
    np.testing.assert_array_equal(clips[3][0], v.frames[3:19])
    assert batch.flags.c_contiguous and batch.dtype == np.uint8
    sub = clips.select(slice(5, None))
    np.testing.assert_array_equal(np.asarray(sub), clips[5:])
    assert v.windows(16, stride=4).starts.tolist() == [0, 4, 20]
    with pytest.raises(ValueError, match=r"videos \['1'\] have fewer than 19"):
        v.windows(19)
    with pytest.raises(ValueError, match="clip starts"):
        ClipWindows(v.frames, [30], 16)


def test_check_array_accepts_clips_and_names_bad_ones():
    v = _videos([20])
    clips = v.windows(16)
    same, _ = check_array(clips)
    assert same is clips  # passed through, nothing gathered
    arr, _ = check_array(np.asarray(clips))
    assert arr.shape == (5, 1, 16, 4, 5) and arr.dtype == np.uint8
    with pytest.raises(ValueError, match=r"shape \(1, 8, 4, 5\), but .* \(1, 16, 4, 5\)"):
        check_array(v.windows(8), sample_shape=(1, 16, 4, 5))
    bad = v.frames.astype(np.float32)
    bad[17, 1, 1] = np.nan
    with pytest.raises(ValueError, match="frames contains NaN"):
        check_array(ClipWindows(bad, [0], 16))
    with pytest.raises(ValueError, match="video clips"):
        check_array(np.zeros((2, 1, 2, 2, 2, 2)))


# -------------------------------------------------------------------------- backbone
def test_conv3d_backbone_is_the_official_network():
    bb = build_backbone(
        "auto", (1, 16, 256, 256), hidden_dims=(96, 128, 256), latent_dim=256,
        activation="leaky_relu",
    )  # fmt: skip
    convs = [m for m in bb.encoder if isinstance(m, torch.nn.Conv3d)]
    assert [m.out_channels for m in convs] == [96, 128, 256, 256]
    assert [m.stride for m in convs] == [(1, 2, 2)] + [(2, 2, 2)] * 3
    deconvs = [m for m in bb.decoder if isinstance(m, torch.nn.ConvTranspose3d)]
    assert [m.out_channels for m in deconvs] == [256, 128, 96, 1]
    assert deconvs[-1].stride == (1, 2, 2) and deconvs[-1].output_padding == (0, 1, 1)
    assert isinstance(bb.decoder[-1], torch.nn.ConvTranspose3d)  # no norm/activation last
    assert sum(isinstance(m, torch.nn.LeakyReLU) for m in bb.decoder) == 3
    assert bb.code_shape == (256, 2, 16, 16)
    for shape in [(1, 16, 24, 36), (1, 9, 17, 23), (2, 4, 8, 8)]:
        bb = build_backbone("conv3d", shape, hidden_dims=(4,), latent_dim=6, activation="relu")
        with torch.no_grad():
            z = bb.encoder(torch.zeros(2, *shape))
            assert z.shape[1:] == bb.code_shape
            assert bb.decoder(z).shape == (2, *shape)
    with pytest.raises(ValueError, match="clips"):
        build_backbone("conv3d", (1, 8, 8), hidden_dims=(4,), latent_dim=4, activation="relu")


# ------------------------------------------------------------------------ evaluation
def test_frame_alignment_and_both_conventions():
    v = _videos([20, 17])
    # clip score = its start frame within the video, so frame f should get clip(f - 8)
    clip_scores = np.concatenate([np.arange(5), np.arange(2)]).astype(float)
    e = frame_errors(clip_scores, v, 16)
    assert e[:20].tolist() == [0] * 9 + [1, 2, 3, 4] + [4] * 7  # frame j + 8 <- clip j
    assert e[20:].tolist() == [0] * 9 + [1] * 8
    mask = evaluated_frames(v, 16, "official")
    assert mask[:20].tolist() == [False] * 8 + [True] * 5 + [False] * 7  # drops 8 + 7
    assert mask.sum() == 5 + 2 and evaluated_frames(v, 16, "all").all()
    with pytest.raises(ValueError, match="expected 7 clip scores"):
        frame_errors(np.zeros(6), v, 16)


def test_regularity_score_and_aucs():
    v = _videos([4, 3])
    errors = np.array([1.0, 3.0, 2.0, 5.0, 7.0, 7.0, 7.0])
    p = regularity(errors, v)
    np.testing.assert_allclose(p, [1.0, 0.5, 0.75, 0.0, 1.0, 1.0, 1.0])  # constant video -> 1
    masked = regularity(errors, v, np.array([0, 1, 1, 0, 1, 1, 1], bool))
    assert np.isnan(masked[[0, 3]]).all() and masked[1] == 0.0 and masked[2] == 1.0
    # labels follow the errors within each video, not across them: normalisation matters
    v = Videos(v.frames, v.names, v.offsets, np.array([0, 1, 0, 1, 0, 1, 1]))
    clip_scores = np.array([1.0, 3.0, 2.0, 5.0, 107.0, 108.0, 108.0])
    res = video_aucs(clip_scores, v, 1)
    assert res["all"]["auc"] == 1.0 and res["all"]["auc_raw"] < 1.0
    assert res["all"]["frames"] == 7 and res["all"]["anomalous_frames"] == 4


# --------------------------------------------------------------------------- model
def _moving_bar_videos(n_videos, n_frames, rng, size=16):
    """A bright bar moving one pixel per frame to the right (normal behaviour)."""
    videos = []
    for _ in range(n_videos):
        x0 = rng.integers(0, size)
        frames = np.full((n_frames, size, size), 40, np.uint8)
        for t in range(n_frames):
            frames[t, :, (x0 + t) % size] = 220
        videos.append(frames)
    frames = np.concatenate(videos)
    offsets = np.arange(n_videos + 1) * n_frames
    return Videos(frames, tuple(map(str, range(n_videos))), offsets)


def test_video_memae_separates_a_fast_object_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    train = _moving_bar_videos(6, 24, rng)
    test = _moving_bar_videos(4, 24, rng)
    frames = test.frames.copy()
    labels = np.zeros(len(frames), np.int64)
    for i in (1, 3):  # in the second half the bar jumps around: same look, wrong motion
        sl = test.video(i)
        for t in range(sl.start + 12, sl.stop):
            frames[t] = 40
            frames[t, :, rng.integers(0, 16)] = 220
            labels[t] = 1
    test = Videos(frames, test.names, test.offsets, labels)
    det = MemAE(
        hidden_dims=(8, 16), latent_dim=16, memory_size=50, activation="leaky_relu",
        preprocessing="image", epochs=12, batch_size=16, lr=3e-3, random_state=0,
        validation_fraction=0.0,
    )  # fmt: skip
    det.fit(train.windows(8))
    assert det.sample_shape_ == (1, 8, 16, 16)
    assert isinstance(det.network_.encoder[0], torch.nn.Conv3d)  # "auto" -> conv3d
    clips = test.windows(8)
    scores = det.decision_function(clips)
    res = video_aucs(scores, test, 8)
    # every frame has the same brightness, so only learned motion tells them apart;
    # the untrained network reaches 0.84 (measured), the clip brightness 0.5
    brightness = np.asarray(clips).reshape(len(clips), -1).mean(axis=1)
    assert video_aucs(brightness, test, 8)["all"]["auc_raw"] == 0.5
    control = MemAE(**{**det.get_params(), "lr": 1e-12, "epochs": 1}).fit(train.windows(8))
    untrained = video_aucs(control.decision_function(clips), test, 8)["all"]["auc_raw"]
    assert res["all"]["auc_raw"] > 0.95 and res["all"]["auc_raw"] > untrained + 0.1, res["all"]
    # the lazy clips and a materialised copy score identically; save/load keeps scores
    np.testing.assert_array_equal(scores, det.decision_function(np.asarray(clips)))
    np.testing.assert_array_equal(scores, np.concatenate(list(det.iter_scores(clips, chunksize=7))))
    det.save(tmp_path / "video")
    np.testing.assert_array_equal(scores, memae.load(tmp_path / "video").decision_function(clips))
    assert det.reconstruct(clips[:2]).shape == (2, 1, 8, 16, 16)
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        det.decision_function(test.windows(6))
    # bit-identical refit on CPU
    again = AutoEncoder(hidden_dims=(4,), latent_dim=4, epochs=1, random_state=3)
    a = again.fit(train.windows(8)).decision_function(clips)
    np.testing.assert_array_equal(a, again.fit(train.windows(8)).decision_function(clips))


def test_speed_only_times_a_preset_at_another_frame_size(tmp_path):
    """`benchmarks/video.py --speed-only --frame-size H W`: the preset's network on real
    clips of that size, no training run; the table names the size actually timed."""
    import json

    from memae.datasets import DataNotFoundError

    try:
        load_ped2("training", data_root(), size=(32, 32))
    except DataNotFoundError:
        pytest.skip("shared Ped2 data not found (set MEMAE_DATA)")

    from benchmarks.runners import video

    video.main(
        ["--speed-only", "--speed-presets", "ped2-cpu", "--frame-size", "32", "32",
         "--speed-clips", "7", "--data", str(data_root()), "--out", str(tmp_path)]
    )  # fmt: skip
    res = json.loads((tmp_path / "ped2-speed-32x32.json").read_text())
    rows = res["speed"]["ped2-cpu"]
    assert set(rows) == {"AE", "MemAE-nonSpar", "MemAE"}
    for r in rows.values():
        assert r["frame_size"] == [32, 32] and r["clips_timed"] == 7
        assert r["train_seconds_per_clip"] > 0 and r["score_frames_per_second"] > 0
    assert (
        "(32x32 frames) timed on 7 training clips" in (tmp_path / "ped2-speed-32x32.md").read_text()
    )


def test_ped2_runner_trains_at_another_frame_size(tmp_path, monkeypatch):
    """`benchmarks/video.py --frame-size H W` (issue 23's resolution study) trains and
    scores the preset's network on frames of that size, under a stem of its own, so it
    never overwrites the preset's records; the table names the size. The 5-NN reference
    and `benchmarks/ped2_score_rule.py` are checked against hand computations."""
    import json

    from memae.datasets import DataNotFoundError

    try:
        load_ped2("training", data_root(), size=(32, 32))
    except DataNotFoundError:
        pytest.skip("shared Ped2 data not found (set MEMAE_DATA)")

    from benchmarks.runners import video

    assert video.result_stem("ped2-cpu", size=(64, 64)) == "ped2"  # the preset's own size
    assert video.result_stem("ped2-cpu", epochs=20, size=(128, 128)) == "ped2-128x128-epochs20"
    video.main(
        ["--quick", "--frame-size", "48", "48", "--methods", "MemAE", "--no-figures",
         "--data", str(data_root()), "--out", str(tmp_path)]
    )  # fmt: skip
    res = json.loads((tmp_path / "ped2-48x48-quick.json").read_text())
    assert res["frame_size"] == [48, 48] and res["size_override"]
    assert res["results"]["MemAE"]["frame_size"] == [48, 48]
    assert res["speed"] == {}  # a study: no speed presets unless asked
    assert (tmp_path / "work" / "ped2-48x48-quick" / "MemAE-seed0.json").is_file()
    md = (tmp_path / "ped2-48x48-quick.md").read_text()
    assert "preset `ped2-cpu` at 48x48 frames" in md
    # the 5-NN reference, recomputed by brute force on the same clips and protocol
    train, test = video.load_data("ped2-cpu", str(data_root()), True, (48, 48))
    flat = [np.asarray(v.windows(16), dtype=np.float64).reshape(-1, 16 * 48 * 48) / 127.5 - 1
            for v in (train, test)]  # fmt: skip
    d = cdist(flat[1], flat[0])
    knn = video_aucs(np.sort(d, axis=1)[:, 4], test, 16)
    ref = res["references"]["KNN"]
    assert ref["auc"] == pytest.approx(knn["all"]["auc"], abs=1e-6)
    assert ref["official"]["auc_raw"] == pytest.approx(knn["official"]["auc_raw"], abs=1e-6)
    assert (tmp_path / "work" / "ped2-48x48-quick" / "reference-KNN.json").is_file()
    assert f"| KNN (5th nearest training clip, pixels; no training) | {ref['auc']:.4f} |" in md

    # the score-rule diagnostic on the saved model: its squared-error column is the run's
    # own figure, its absolute-error column the official code's MemAE rule, recomputed
    # here from the reconstructions
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import ped2_score_rule as sr

    sr.main(["--quick", "--runs", "ped2-48x48-quick", "--workdir", str(tmp_path / "work"),
             "--data", str(data_root()), "--out", str(tmp_path)])  # fmt: skip
    row = json.loads((tmp_path / "ped2-score-rule.json").read_text())["rows"][0]
    assert row["mse"]["auc"] == pytest.approx(res["results"]["MemAE"]["auc"], abs=1e-6)
    det = memae.load(tmp_path / "work" / "ped2-48x48-quick" / "MemAE")
    clips = test.windows(16)
    x = np.asarray(clips, dtype=np.float64)
    mae = np.abs(x - det.reconstruct(clips)).reshape(len(x), -1).mean(axis=1)
    official = video_aucs(mae, test, 16)
    assert row["mae"]["auc"] == pytest.approx(official["all"]["auc"], abs=1e-4)
    assert row["mae"]["auc_raw"] == pytest.approx(official["all"]["auc_raw"], abs=1e-4)
    # the runner records the same rule beside its own figure, and saves the default score
    rec = res["results"]["MemAE"]["location_l2"]
    assert rec["auc"] == pytest.approx(official["all"]["auc"], abs=1e-4)
    assert rec["official_auc"] == pytest.approx(official["official"]["auc"], abs=1e-4)
    memae_row = next(line for line in md.splitlines() if line.startswith("| MemAE |"))
    assert memae_row.endswith(f" | {rec['auc']:.4f} |") and det.score_method == "squared"


def test_ped2_runner_resumes_an_interrupted_fit_bit_exactly(tmp_path, monkeypatch):
    """A converged `ped2-cpu` fit outlasts a CPU session: `benchmarks/video.py` checkpoints
    each epoch, a rerun after a kill resumes from the checkpoint with the same scores as
    an uninterrupted run, and the checkpoint goes once the task record is written."""
    from memae.datasets import DataNotFoundError

    try:
        load_ped2("training", data_root(), size=(32, 32))
    except DataNotFoundError:
        pytest.skip("shared Ped2 data not found (set MEMAE_DATA)")

    from benchmarks.runners import video

    from memae.training import checkpoint

    monkeypatch.setitem(video.QUICK, "epochs", 2)
    kw = {"quick": True, "data": str(data_root()), "only": ["AE"], "log": lambda _: None}
    whole = video.run(workdir=tmp_path / "whole", **kw)["results"]["AE"]

    write = checkpoint.write

    def killed_after_first_checkpoint(*args, **kwargs):
        write(*args, **kwargs)
        raise KeyboardInterrupt  # as if the session ended right after epoch 1's checkpoint

    monkeypatch.setattr(checkpoint, "write", killed_after_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        video.run(workdir=tmp_path / "cut", **kw)
    stem = tmp_path / "cut" / video.result_stem("ped2-cpu", quick=True)
    assert (video.checkpoint_dir(stem, "AE", 0) / checkpoint.CHECKPOINT_STATE).is_file()
    assert not (stem / "AE-seed0.json").exists()

    monkeypatch.setattr(checkpoint, "write", write)
    resumed = video.run(workdir=tmp_path / "cut", **kw)["results"]["AE"]
    assert (whole["resumed_at_epoch"], resumed["resumed_at_epoch"]) == (0, 1)
    assert resumed["epochs_run"] == whole["epochs_run"] == 2
    assert resumed["all"]["auc"] == whole["all"]["auc"]
    np.testing.assert_array_equal(
        np.load(stem / "AE-frame-errors.npy"),
        np.load(tmp_path / "whole" / stem.name / "AE-frame-errors.npy"),
    )
    assert not video.checkpoint_dir(stem, "AE", 0).exists()
