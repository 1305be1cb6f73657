"""VAE: KL and likelihood terms by hand, KL on by default, both scores, files."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import memae
from memae import VAE
from memae.nn import gaussian_kl, gaussian_nll

from .conftest import untrained_auc


def test_kl_and_nll_by_hand():
    mu = torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0], [0.0, 0.0], [math.log(2.0), 0.0]])
    np.testing.assert_allclose(
        gaussian_kl(mu, logvar).numpy(), [0.0, 2.5, 0.5 * (2 - 1 - math.log(2))], rtol=1e-6
    )
    x, x_hat = torch.ones(1, 2), torch.zeros(1, 2)
    expected = 0.5 * (2 + 2 * math.log(2 * math.pi))
    assert float(gaussian_nll(x, x_hat, torch.tensor(0.0))) == pytest.approx(expected)
    # sigma^2 = e: the squared error is divided by e and log sigma^2 = 1 per feature
    expected = 0.5 * (2 / math.e + 2 * (1 + math.log(2 * math.pi)))
    assert float(gaussian_nll(x, x_hat, torch.tensor(1.0))) == pytest.approx(expected, rel=1e-6)


def _mean_kl(det, X):
    with torch.no_grad():
        mu, logvar = det.network_.encode(det.scaler_(torch.from_numpy(X)))
    return float(gaussian_kl(mu, logvar).mean())


def test_kl_is_on_by_default_and_both_scores_separate(tmp_path, off_manifold):
    X, Xt, y = off_manifold  # anomalies with the norms of normal rows: learning must show
    params = {"hidden_dims": (32,), "latent_dim": 4, "epochs": 60, "random_state": 0}
    det = VAE(**params).fit(X)
    assert det.beta == 1.0
    no_kl = VAE(beta=0.0, **params).fit(X)
    assert _mean_kl(det, X) < 0.5 * _mean_kl(no_kl, X)  # the KL term shapes the posterior
    rec = det.decision_function(Xt)
    control = untrained_auc(det, X, Xt, y)
    assert roc_auc_score(y, rec) > 0.9 and roc_auc_score(y, rec) > control + 0.15
    det.set_params(score_method="elbo", n_samples=5)
    elbo = det.decision_function(Xt)
    assert roc_auc_score(y, elbo) > 0.9 and roc_auc_score(y, elbo) > control + 0.15
    np.testing.assert_array_equal(elbo, det.decision_function(Xt))  # seeded draws
    assert not np.allclose(elbo, rec)
    det.save(tmp_path / "vae")
    again = memae.load(tmp_path / "vae")
    assert isinstance(again, VAE) and again.score_method == "elbo"
    np.testing.assert_array_equal(elbo, again.decision_function(Xt))
    with pytest.raises(ValueError, match="'score_method' parameter of VAE must be a str among"):
        VAE(score_method="likelihood").fit(X)


def test_conv_vae_on_images_keeps_shapes():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(64, 12, 12), dtype=np.uint8)
    det = VAE(hidden_dims=(4,), latent_dim=3, epochs=1, preprocessing="image", random_state=0)
    det.fit(X)
    assert det.network_.mu.__class__ is torch.nn.Conv2d
    assert det.reconstruct(X[:2]).shape == (2, 12, 12)
    assert np.isfinite(det.decision_function(X)).all()
