"""``score_method`` of AE and MemAE: the paper's squared error or the official code's
per-location error norm, checked against the formula on reconstructions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

import memae

CONV = {
    "hidden_dims": (8,),
    "latent_dim": 8,
    "preprocessing": "image",
    "epochs": 2,
    "precision": "fp32",
    "random_state": 0,
}


@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 120, (300, 12, 12, 3), dtype=np.uint8)
    Xt = rng.integers(0, 120, (24, 12, 12, 3), dtype=np.uint8)
    Xt[:8, 3:7, 3:7, 0] = 255  # a red patch: large error in one channel of a few pixels
    return X, Xt


@pytest.fixture(scope="module")
def rgb_pair(rgb):
    """The same MemAE fitted twice, once per score (training does not depend on it)."""
    X, _ = rgb
    return {
        rule: memae.MemAE(memory_size=10, score_method=rule, **CONV).fit(X)
        for rule in ("squared", "location_l2")
    }


def _network_error(det, X: np.ndarray) -> np.ndarray:
    """``x - x_hat`` in the network's scale (``"image"``: one scale for every pixel)."""
    scale = float(np.asarray(det.scaler_.scale))
    return (X.astype(np.float64) - det.reconstruct(X).astype(np.float64)) * scale


def test_location_l2_is_the_mean_over_pixels_of_the_channel_norm(rgb, rgb_pair):
    _, Xt = rgb
    sq, l2 = rgb_pair["squared"], rgb_pair["location_l2"]
    np.testing.assert_array_equal(sq.reconstruct(Xt), l2.reconstruct(Xt))  # same training
    err = _network_error(l2, Xt)  # (N, H, W, 3)
    want = np.sqrt((err**2).sum(axis=-1)).reshape(len(Xt), -1).mean(axis=1)
    np.testing.assert_allclose(l2.decision_function(Xt), want, rtol=1e-4)
    np.testing.assert_allclose(
        sq.decision_function(Xt), (err**2).reshape(len(Xt), -1).mean(axis=1), rtol=1e-4
    )
    # a different rule, so a different ranking of the clips: the option is not a no-op
    assert not np.array_equal(
        np.argsort(sq.decision_function(Xt)), np.argsort(l2.decision_function(Xt))
    )
    # the patch's images are the most anomalous under both rules
    for det in rgb_pair.values():
        assert set(np.argsort(det.decision_function(Xt))[-8:]) == set(range(8))


def test_location_l2_parts_add_up_and_follow_the_squared_errors(rgb, rgb_pair):
    _, Xt = rgb
    det = rgb_pair["location_l2"]
    parts, rest = det.feature_scores(Xt, return_remainder=True)
    assert parts.shape == Xt.shape and np.all(rest == 0) and np.all(parts >= 0)
    np.testing.assert_allclose(
        parts.reshape(len(Xt), -1).sum(axis=1), det.decision_function(Xt), rtol=1e-4
    )
    # within a pixel, the channels share its norm in proportion to their squared errors
    err2 = _network_error(det, Xt) ** 2
    share = err2 / err2.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(parts / parts.sum(axis=-1, keepdims=True), share, atol=1e-3)
    # the red patch carries the largest part of its images
    top = np.unravel_index(parts[:8].reshape(8, -1).argmax(axis=1), Xt.shape[1:])
    assert np.all((top[0] >= 3) & (top[0] < 7) & (top[1] >= 3) & (top[1] < 7) & (top[2] == 0))


def test_grayscale_location_l2_is_the_mean_absolute_error():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 200, (200, 12, 12), dtype=np.uint8)
    Xt = rng.integers(0, 200, (16, 12, 12), dtype=np.uint8)
    det = memae.AutoEncoder(score_method="location_l2", **CONV).fit(X)
    mae = np.abs(_network_error(det, Xt)).reshape(len(Xt), -1).mean(axis=1)
    np.testing.assert_allclose(det.decision_function(Xt), mae, rtol=1e-4)


def test_on_tables_location_l2_is_the_row_norm_and_ranks_as_squared():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(800, 6)).astype(np.float32)
    Xt = np.vstack([rng.normal(size=(40, 6)), rng.normal(3.0, 1.0, size=(10, 6))])
    T = {"hidden_dims": (16,), "latent_dim": 3, "epochs": 5, "random_state": 0}
    sq = memae.MemAE(memory_size=10, **T).fit(X)
    l2 = memae.MemAE(memory_size=10, score_method="location_l2", **T).fit(X)
    s_sq, s_l2 = sq.decision_function(Xt), l2.decision_function(Xt)
    np.testing.assert_allclose(s_l2, np.sqrt(6 * s_sq), rtol=1e-5)  # ||e|| = sqrt(d * mse)
    assert spearmanr(s_sq, s_l2).statistic == pytest.approx(1.0)
    # the threshold flags the same share of training rows under either rule
    assert l2.labels_.mean() == pytest.approx(sq.labels_.mean(), abs=0.01)


def test_score_method_round_trips_and_exports(rgb, rgb_pair, tmp_path):
    _, Xt = rgb
    det = rgb_pair["location_l2"]
    det.save(tmp_path / "m")
    back = memae.load(tmp_path / "m")
    assert back.score_method == "location_l2"
    np.testing.assert_array_equal(back.decision_function(Xt), det.decision_function(Xt))
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    det.export(tmp_path / "m.onnx")
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": Xt.astype(np.float32)})
    np.testing.assert_allclose(got[0], det.decision_function(Xt), rtol=1e-5)


@pytest.mark.parametrize("cls", [memae.AutoEncoder, memae.MemAE])
def test_unknown_score_method_is_refused(cls):
    X = np.random.default_rng(0).normal(size=(50, 4))
    with pytest.raises(ValueError, match="score_method"):
        cls(score_method="absolute", epochs=1).fit(X)


def test_changing_the_score_after_fit_changes_scores_and_refuses_fitted_decisions(tmp_path):
    """set_params(score_method=...) after fit re-scores (decision_function follows it), but
    the threshold, training scores and calibration are fit's: predictions, thresholds,
    calibration and saving refuse the mix until the value is set back."""
    rng = np.random.default_rng(3)
    X = rng.integers(0, 200, (200, 12, 12), dtype=np.uint8)
    det = memae.AutoEncoder(**CONV).fit(X)
    squared = det.decision_function(X[:20])
    threshold = det.threshold_
    det.set_params(score_method="location_l2")
    mae = np.abs(_network_error(det, X[:20])).reshape(20, -1).mean(axis=1)
    np.testing.assert_allclose(det.decision_function(X[:20]), mae, rtol=1e-4)
    refused = [
        lambda: det.predict(X[:5]),
        lambda: det.predict_proba(X[:5]),
        lambda: det.predict_confidence(X[:5]),
        lambda: det.p_values(X[:5]),
        lambda: det.set_threshold(contamination=0.2),
        lambda: det.calibrate(X[:50]),
        lambda: det.save(tmp_path / "m"),
    ]
    for call in refused:
        with pytest.raises(ValueError, match="score_method 'squared' -> 'location_l2' since fit"):
            call()
    assert not (tmp_path / "m").exists() and det.threshold_ == threshold
    det.set_params(score_method="squared")
    np.testing.assert_array_equal(det.decision_function(X[:20]), squared)
    np.testing.assert_array_equal(det.predict(X[:20]), (squared > threshold).astype(np.int64))
    det.save(tmp_path / "m")
    assert memae.load(tmp_path / "m").score_method == "squared"


def test_squared_error_matches_the_two_pass_formula_bit_for_bit():
    """``squared_error`` (one fused ``mse_loss`` pass) gives the values and the gradients
    of ``(x - x_hat).pow(2).mean`` exactly, so seeded fits and scores are unchanged."""
    import torch

    from memae.nn import squared_error

    g = torch.Generator().manual_seed(0)
    x0, y0 = torch.randn(64, 3, 5, 7, generator=g), torch.randn(64, 3, 5, 7, generator=g) * 3
    got, ref = [], []
    for fn, out in ((squared_error, got), (lambda a, b: (a - b).pow(2).flatten(1).mean(1), ref)):
        x, y = x0.clone().requires_grad_(), y0.clone().requires_grad_()
        value = fn(x, y)
        (value * torch.arange(64.0)).sum().backward()  # unequal weights per sample
        out += [value.detach(), x.grad, y.grad]
    for a, b in zip(got, ref, strict=True):
        assert torch.equal(a, b)
