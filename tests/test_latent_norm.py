"""LatentNormAE (Ghafourian et al. 2024): loss and score values by hand, detection, files."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import memae
from memae import LatentNormAE
from memae.nn import AutoEncoderOutput, l2_norm
from memae.plotting import plot_code_norms


class _Fixed(torch.nn.Module):
    """A 'network' returning a given reconstruction and code, to check the formulas."""

    def __init__(self, recon, code):
        super().__init__()
        self.recon, self.code = recon, code

    def forward(self, x):
        return AutoEncoderOutput(self.recon, self.code, None)


def test_loss_and_score_are_plain_l2_norms():
    x = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    recon = torch.tensor([[0.0, 0.0], [1.0, 1.0]])  # errors: ||(3,4)|| = 5 and 0
    code = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # norms 1 and 2
    det = LatentNormAE(beta=2.0)
    model = _Fixed(recon, code)
    np.testing.assert_allclose(det._score_batch(model, x).numpy(), [5 + 2 * 1, 0 + 2 * 2])
    losses = det._loss(model, x)
    assert float(losses["loss"]) == pytest.approx((7 + 4) / 2)
    # conv code maps: the norm is over the whole map
    z = torch.full((2, 3, 2, 2), 0.5)
    np.testing.assert_allclose(l2_norm(z).numpy(), [np.sqrt(12 * 0.25)] * 2)


def test_separates_off_subspace_points_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 20))
    X = (rng.normal(size=(2000, 3)) @ basis).astype(np.float32)
    normal = (rng.normal(size=(200, 3)) @ basis).astype(np.float32)
    anomalous = normal + rng.normal(scale=1.5, size=normal.shape).astype(np.float32)
    det = LatentNormAE(beta=0.1, hidden_dims=(16,), latent_dim=3, epochs=30, random_state=0)
    det.fit(X)
    scores = det.decision_function(np.concatenate([normal, anomalous]))
    y = np.r_[np.zeros(200), np.ones(200)]
    assert roc_auc_score(y, scores) > 0.95
    det.save(tmp_path / "toll")
    again = memae.load(tmp_path / "toll")
    assert isinstance(again, LatentNormAE) and again.beta == 0.1
    np.testing.assert_array_equal(
        scores, again.decision_function(np.concatenate([normal, anomalous]))
    )
    # bit-identical refit
    np.testing.assert_array_equal(
        det.decision_scores_, LatentNormAE(**det.get_params()).fit(X).decision_scores_
    )
    # the codes: anomalies sit farther from the centre; the norm figure renders
    codes = det.codes(np.concatenate([normal, anomalous]))
    assert codes.shape == (400, 3)
    norms = np.linalg.norm(codes, axis=1)
    assert norms[200:].mean() > norms[:200].mean()
    png = plot_code_norms(codes, y, tmp_path / "norms.png", "LatentNormAE")
    assert png.stat().st_size > 5000


def test_beta_pulls_codes_to_the_centre_and_is_checked():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 8)).astype(np.float32)

    def mean_code_norm(beta):
        det = LatentNormAE(beta=beta, hidden_dims=(16,), latent_dim=4, epochs=40, random_state=0)
        det.fit(X)
        x = det.scaler_(torch.from_numpy(X))
        with torch.no_grad():
            return float(l2_norm(det.network_(x).code).mean())

    assert mean_code_norm(1.0) < 0.25 * mean_code_norm(0.0)
    with pytest.raises(ValueError, match="beta"):
        LatentNormAE(beta=-1.0).fit(X)
