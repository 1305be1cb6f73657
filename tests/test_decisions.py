"""Calibrated decisions: fpr thresholds, conformal p-values, PyOD's probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf
from scipy.stats import binom

import memae
from memae.detectors.decisions import conformal_p_values, fpr_threshold


@pytest.fixture(scope="module")
def fitted() -> memae.AutoEncoder:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 6)).astype(np.float32)
    return memae.AutoEncoder(hidden_dims=(16,), latent_dim=3, epochs=5, random_state=0).fit(X)


def test_p_values_by_hand() -> None:
    cal = np.array([3.0, 1.0, 2.0, 2.0])
    # s=2: #{c >= 2} = 3 -> 4/5; s=0: all 4 -> 1; s=5: none -> 1/5; s=1: 4 -> 1
    assert conformal_p_values(cal, np.array([2.0, 0.0, 5.0, 1.0])).tolist() == [0.8, 1, 0.2, 1]


def test_fpr_threshold_by_hand() -> None:
    cal = np.arange(1.0, 20.0)  # 19 scores: with n + 1 = 20, fpr 0.1 -> the 18th smallest
    assert fpr_threshold(cal, 0.1) == 18.0
    assert fpr_threshold(cal, 0.05) == 19.0
    with pytest.raises(ValueError, match="needs at least 99 calibration scores"):
        fpr_threshold(cal, 0.01)
    # consistent with the p-values: above the threshold <=> p <= fpr
    s = np.linspace(0, 21, 200)
    assert np.array_equal(s > 18.0, conformal_p_values(cal, s) <= 0.1)


def test_fit_keeps_held_out_scores(fitted: memae.AutoEncoder) -> None:
    assert len(fitted.calibration_scores_) == 200  # validation_fraction 0.1 of 2000
    assert np.all(np.diff(fitted.calibration_scores_) >= 0)
    assert np.isin(fitted.calibration_scores_, fitted.decision_scores_).all()
    assert fitted.threshold_rule_ == "contamination=0.1"


def test_fpr_and_p_values_calibrated_on_fresh_normals(fitted: memae.AutoEncoder) -> None:
    """Calibrated on 5,000 fresh normal rows, the fpr target holds on 40,000 others and
    the p-values of normal rows are uniform (binomial tolerance: 4 standard errors)."""
    det = memae.AutoEncoder(**fitted.get_params())
    det.fit(np.random.default_rng(0).normal(size=(2000, 6)).astype(np.float32))
    rng = np.random.default_rng(1)
    det.calibrate(rng.normal(size=(5000, 6)).astype(np.float32))
    fresh = rng.normal(size=(40000, 6)).astype(np.float32)
    p = det.p_values(fresh)
    for alpha in (0.01, 0.05, 0.2, 0.5):
        det.set_threshold(fpr=alpha)
        rate = det.predict(fresh).mean()
        sd = np.sqrt(alpha * (1 - alpha) / 5000) + np.sqrt(alpha * (1 - alpha) / 40000)
        assert abs(rate - alpha) < 4 * sd, (alpha, rate)
        assert np.array_equal(det.predict(fresh) == 1, p <= alpha)
    # anomalies get small p-values
    far = rng.normal(size=(200, 6)).astype(np.float32) + 6.0
    assert np.median(det.p_values(far)) < 0.01 < np.median(p)


def test_set_threshold_rules(fitted: memae.AutoEncoder) -> None:
    det = memae.AutoEncoder(**fitted.get_params()).fit(
        np.random.default_rng(0).normal(size=(2000, 6)).astype(np.float32)
    )
    det.set_threshold(contamination=0.2)
    assert det.threshold_ == np.quantile(det.decision_scores_, 0.8)
    assert det.labels_.mean() == pytest.approx(0.2, abs=0.001)
    det.set_threshold(score=1.5)
    assert det.threshold_ == 1.5 and det.threshold_rule_ == "score"
    with pytest.raises(ValueError, match="exactly one of"):
        det.set_threshold(fpr=0.1, score=1.0)
    with pytest.raises(ValueError, match="fpr must lie in"):
        det.set_threshold(fpr=1.5)
    det.__dict__.pop("calibration_scores_")
    with pytest.raises(ValueError, match="no calibration scores"):
        det.p_values(np.zeros((2, 6), np.float32))


def test_no_validation_split_means_no_calibration() -> None:
    X = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    det = memae.AutoEncoder(epochs=2, validation_fraction=0.0, random_state=0).fit(X)
    assert not hasattr(det, "calibration_scores_")
    with pytest.raises(ValueError, match="calibrate"):
        det.set_threshold(fpr=0.1)
    det.calibrate(X[:200])  # then it works
    assert det.set_threshold(fpr=0.1).threshold_rule_ == "fpr=0.1"


def test_pyod_probabilities(fitted: memae.AutoEncoder) -> None:
    """predict_proba and predict_confidence follow PyOD's formulas."""
    X = np.random.default_rng(2).normal(size=(50, 6)).astype(np.float32) * 2
    s, train = fitted.decision_function(X), fitted.decision_scores_
    lin = fitted.predict_proba(X)
    want = np.clip((s - train.min()) / (train.max() - train.min()), 0, 1)
    np.testing.assert_allclose(lin[:, 1], want)
    np.testing.assert_allclose(lin.sum(axis=1), 1.0)
    uni = fitted.predict_proba(X, method="unify")
    want = np.clip(erf((s - train.mean()) / (train.std() * np.sqrt(2))), 0, 1)
    np.testing.assert_allclose(uni[:, 1], want)
    conf = fitted.predict_confidence(X)
    n = len(train)
    post = (1 + np.array([(train <= v).sum() for v in s])) / (2 + n)
    c = 1 - binom.cdf(n - int(n * fitted.contamination), n, post)
    np.testing.assert_allclose(conf, np.where(s > fitted.threshold_, c, 1 - c))
    with pytest.raises(ValueError, match="method must be one of"):
        fitted.predict_proba(X, method="sigmoid")


def test_calibration_survives_save_load(fitted: memae.AutoEncoder, tmp_path) -> None:
    det = memae.AutoEncoder(**fitted.get_params()).fit(
        np.random.default_rng(0).normal(size=(2000, 6)).astype(np.float32)
    )
    det.set_threshold(fpr=0.05)
    det.save(tmp_path / "m")
    back = memae.load(tmp_path / "m")
    X = np.random.default_rng(3).normal(size=(100, 6)).astype(np.float32)
    assert back.threshold_ == det.threshold_ and back.threshold_rule_ == "fpr=0.05"
    np.testing.assert_array_equal(back.p_values(X), det.p_values(X))
    np.testing.assert_array_equal(back.calibration_scores_, det.calibration_scores_)
