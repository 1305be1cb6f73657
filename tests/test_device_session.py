"""The prepared GPU session (benchmarks/device_session.py): packing and the epoch budget.

The GPU run itself needs a lent GPU; ``device_session.py run --dry-run`` rehearses it on
CPU (a few minutes: not in the suite). Here: the parts respect the device tool's size
limit and never split a video, and the epoch budget is the arithmetic it claims.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from benchmarks import device_session as ds


def _fake_data(root: Path, videos: int = 5, frame_bytes: int = 3000) -> None:
    """A data folder with a ped2.tar.gz of ``videos`` training and test videos of 4
    frames each, plus members the GPU run does not read, and a KDD npz."""
    (root / "ped2").mkdir(parents=True)
    (root / "kdd").mkdir()
    np.savez(root / "kdd" / "kdd_cup.npz", kdd=np.zeros((10, 119)))
    with tarfile.open(root / "ped2" / "ped2.tar.gz", "w:gz") as tar:
        names = [f"ped2/{s}/frames/{v:02d}/{f:03d}.jpg" for s in ("training", "testing")
                 for v in range(1, videos + 1) for f in range(4)]  # fmt: skip
        names += ["ped2/testing/frame_labels.json", "ped2/testing/pixel_masks/01/000.png"]
        for i, name in enumerate(names):
            content = np.random.default_rng(i).bytes(frame_bytes)
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def test_pack_splits_by_whole_videos_within_the_limit(tmp_path, monkeypatch):
    _fake_data(tmp_path / "data")
    monkeypatch.setattr(ds, "PARTS", tmp_path / "parts")
    monkeypatch.setattr(ds, "ROOT", tmp_path)
    monkeypatch.setattr(ds, "tree_bytes", lambda: 1000)
    # room for 3 videos (12 frames of 3,000 bytes) per part, besides the tree and margin
    monkeypatch.setattr(ds, "MARGIN_BYTES", 0)
    monkeypatch.setattr(ds, "LIMIT_BYTES", 1000 + 12 * 3000 + 100)
    folders = ds.pack(tmp_path / "data", pyod=False)
    # 10 videos of 12,000 bytes, the labels (3,000) and the npz (~10,000) in parts of at
    # most 36,100 bytes: npz + labels + 1 video, then 3 + 3 + 3 videos
    assert len(folders) == 4
    files = sorted(p.relative_to(f) for f in folders for p in f.rglob("*") if p.is_file())
    assert len(files) == 2 * 5 * 4 + 2  # every frame, the labels and the npz; no pixel masks
    assert not any("pixel_masks" in str(p) for p in files)
    for folder in folders:
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        assert size <= ds.LIMIT_BYTES - 1000
        videos = {p.parent for p in folder.rglob("*.jpg")}
        for v in videos:  # a video is whole in the part that holds it
            assert len(list(v.glob("*.jpg"))) == 4
    calls = ds.plan(folders, budget=300)
    assert [c["carry"] for c in calls] == [[f"parts/p{i}"] for i in range(1, 5)]
    assert "device_session.py run --budget 300" in calls[-1]["command"]
    assert all(c["timeout_s"] <= 600 for c in calls)


def test_pack_refuses_a_video_larger_than_one_call(tmp_path, monkeypatch):
    _fake_data(tmp_path / "data", videos=1)
    monkeypatch.setattr(ds, "PARTS", tmp_path / "parts")
    monkeypatch.setattr(ds, "tree_bytes", lambda: 0)
    monkeypatch.setattr(ds, "MARGIN_BYTES", 0)
    monkeypatch.setattr(ds, "LIMIT_BYTES", 5000)
    with pytest.raises(SystemExit, match="does not fit one call"):
        ds.pack(tmp_path / "data", pyod=False)


def test_epochs_for_the_budget():
    speed = {"ped2": {"MemAE": {"epoch_seconds_extrapolated": 2.5}}}
    assert ds.epochs_for(speed, 100) == 32  # floor(0.8 * 100 / 2.5)
    assert ds.epochs_for(speed, 1) == 1  # at least one epoch
    assert ds.epochs_for(speed, 10_000) == ds.PED2_EPOCHS  # never beyond the preset's 100
