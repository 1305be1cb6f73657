"""Per-feature explanations: they add up to the score and point at the planted feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import memae
from memae.cli import main

TINY = {"epochs": 8, "hidden_dims": (16,), "latent_dim": 3, "random_state": 0}
CASES = {
    "AE": lambda: memae.AutoEncoder(**TINY),
    "MemAE": lambda: memae.MemAE(memory_size=20, **TINY),
    "LatentNormAE": lambda: memae.LatentNormAE(beta=0.1, **TINY),
    "VAE": lambda: memae.VAE(**TINY),
    "VAE-elbo": lambda: memae.VAE(score_method="elbo", n_samples=3, **TINY),
    "CompactVAE": lambda: memae.CompactVAE(n_reference=300, **TINY),
    "CompactVAE-reconstruction": lambda: memae.CompactVAE(
        score_method="reconstruction", n_reference=300, **TINY
    ),
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 8)).astype(np.float32)
    Xt = rng.normal(size=(60, 8)).astype(np.float32)
    Xt[:20, 5] += 8.0  # anomalous in feature 5 only
    return X, Xt


@pytest.mark.parametrize("name", list(CASES))
def test_contributions_add_up_to_the_score(name, data):
    X, Xt = data
    det = CASES[name]().fit(X)
    parts, rest = det.feature_scores(Xt, return_remainder=True)
    scores = det.decision_function(Xt)
    assert parts.shape == Xt.shape
    np.testing.assert_allclose(parts.sum(axis=1) + rest, scores, rtol=2e-5, atol=1e-6)
    # the planted feature carries the largest contribution of its rows
    assert (parts[:20].argmax(axis=1) == 5).mean() >= 0.95
    if name in ("AE", "MemAE", "VAE", "CompactVAE-reconstruction"):
        assert np.all(rest == 0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: memae.DAGMM(epochs=2, random_state=0),
        lambda: memae.CompactVAE(score_method="hole", n_reference=300, **TINY),
    ],
)
def test_scores_of_the_code_say_they_have_no_features(make, data):
    det = make().fit(data[0])
    with pytest.raises(ValueError, match="no per-feature decomposition"):
        det.feature_scores(data[1])


def test_image_maps_point_at_the_planted_patch():
    rng = np.random.default_rng(0)
    X = (rng.random((600, 12, 12)) * 60).astype(np.uint8)
    Xt = (rng.random((20, 12, 12)) * 60).astype(np.uint8)
    Xt[:10, 2:5, 7:10] = 255  # a bright patch
    det = memae.MemAE(hidden_dims=(8,), latent_dim=8, memory_size=10, epochs=3, random_state=0)
    det.fit(X)
    maps = det.feature_scores(Xt)
    assert maps.shape == Xt.shape
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), det.decision_function(Xt), rtol=2e-5)
    top = maps[:10].reshape(10, -1).argmax(axis=1)
    rows, cols = np.unravel_index(top, (12, 12))
    assert np.all((rows >= 2) & (rows < 5) & (cols >= 7) & (cols < 10))


def test_cli_explain_and_plot(data, tmp_path, capsys):
    X, Xt = data
    cols = [f"c{i}" for i in range(8)]
    pd.DataFrame(X, columns=cols).to_csv(tmp_path / "train.csv", index=False)
    test = pd.DataFrame(Xt, columns=cols)
    test.insert(0, "id", np.arange(100, 160))
    test.to_csv(tmp_path / "test.csv", index=False)
    model = str(tmp_path / "m")
    args = ["fit", str(tmp_path / "train.csv"), "--model", "ae", "--epochs", "8",
            "--random-state", "0", "--out", model, "--quiet"]  # fmt: skip
    assert main(args) == 0
    out = tmp_path / "s.csv"
    args = ["score", model, str(tmp_path / "test.csv"), "--id-column", "id", "--explain", "2",
            "--out", str(out), "--chunksize", "25"]  # fmt: skip
    assert main(args) == 0
    res = pd.read_csv(out)
    tops = ["top1_feature", "top1_contribution", "top2_feature", "top2_contribution"]
    assert list(res.columns) == ["id", "score", "is_anomaly", *tops]
    assert (res["top1_feature"][:20] == "c5").mean() >= 0.95
    det = memae.load(model)
    want = det.feature_scores(test[cols])
    np.testing.assert_allclose(res["top1_contribution"], want.max(axis=1), rtol=1e-6)
    png = tmp_path / "e.png"
    assert (
        main(["plot", "explain", model, "--data", str(tmp_path / "test.csv"), "--out", str(png)])
        == 0
    )
    assert png.stat().st_size > 5000
    capsys.readouterr()
    bad = [
        "plot",
        "reconstructions",
        model,
        "--data",
        str(tmp_path / "test.csv"),
        "--out",
        str(png),
    ]
    assert main(bad) == 1
    assert "tabular model" in capsys.readouterr().err


def test_clip_maps_have_the_clip_layout():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 80, (40, 1, 8, 16, 16), dtype=np.uint8)
    Xt = rng.integers(0, 80, (4, 1, 8, 16, 16), dtype=np.uint8)
    Xt[:2, :, 2:5, 4:8, 4:8] = 255  # a bright moving-box stand-in in two clips
    det = memae.MemAE(hidden_dims=(4,), latent_dim=4, memory_size=5, epochs=1, random_state=0)
    det.fit(X)
    maps = det.feature_scores(Xt)
    assert maps.shape == Xt.shape
    np.testing.assert_allclose(
        maps.reshape(4, -1).sum(axis=1), det.decision_function(Xt), rtol=2e-5
    )
    top = np.unravel_index(maps[:2].reshape(2, -1).argmax(axis=1), Xt.shape[1:])
    assert np.all((top[1] >= 2) & (top[1] < 5) & (top[2] >= 4) & (top[2] < 8))
