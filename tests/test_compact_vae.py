"""CompactVAE: the compactification by hand, unit-norm codes, the Lipschitz bound, holes."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import memae
from memae import CompactVAE
from memae.nn.compact import (
    GroupSort,
    LipschitzLinear,
    inverse_stereographic,
    lipschitz_mlp,
    spectral_norm,
    sphere_log_area,
)
from memae.plotting import plot_latent_2d

from .conftest import untrained_auc


def test_inverse_stereographic_is_a_one_point_compactification():
    assert sphere_log_area(3) == pytest.approx(math.log(4 * math.pi))
    h = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, -3.0], [1e4, 1e4]])
    s = inverse_stereographic(h)
    np.testing.assert_allclose(s.norm(dim=1).numpy(), 1.0, rtol=1e-6)  # on S^2
    np.testing.assert_allclose(s[0].numpy(), [0, 0, -1], atol=1e-7)  # origin: south pole
    np.testing.assert_allclose(s[1].numpy(), [1, 0, 0], atol=1e-7)  # unit circle: equator
    # (2u, |u|^2 - 1) / (|u|^2 + 1) by hand for u = (0, -3)
    np.testing.assert_allclose(s[2].numpy(), [0, -0.6, 0.8], rtol=1e-6)
    assert float(s[3, 2]) > 1 - 1e-7  # far out in any direction: the north pole
    # unlike h / |h|, it keeps how far out h is: the same direction, farther, moves
    # monotonically to the pole (a radial projection would give one point)
    far = inverse_stereographic(torch.tensor([[1.0, 1.0], [10.0, 10.0], [100.0, 100.0]]))
    assert bool((far[1:, 2] > far[:-1, 2]).all())
    # scale: |h| = scale lands on the equator
    assert float(inverse_stereographic(torch.tensor([[0.0, 3.0]]), 3.0)[0, 2]) == 0.0


def test_lipschitz_layers_are_bounded():
    torch.manual_seed(0)
    layer = LipschitzLinear(7, 5)
    with torch.no_grad():
        assert float(torch.linalg.matrix_norm(layer.effective_weight(), 2)) == pytest.approx(1.0)
    x = torch.randn(10, 6)
    np.testing.assert_allclose(GroupSort()(x).norm(dim=1), x.norm(dim=1), rtol=1e-6)
    with pytest.raises(ValueError, match="even"):
        lipschitz_mlp([4, 3, 2])


@pytest.mark.parametrize("shape", [(9, 6), (6, 9), (40, 70)])
def test_spectral_norm_matches_the_svd(shape):
    """The Gram route gives matrix_norm(W, 2) and its gradient, in both orientations."""
    w = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w.requires_grad_()
    ours, theirs = spectral_norm(w), torch.linalg.matrix_norm(w, 2)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    (g_ours,), (g_theirs,) = torch.autograd.grad(ours, w), torch.autograd.grad(theirs, w)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(spectral_norm, (w,))
    # under bf16 autocast the norm is still computed in float32: the bound holds
    w32 = w.detach().float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s = spectral_norm(w32)
    assert s.dtype == torch.float32
    assert s.item() == pytest.approx(theirs.item(), rel=1e-6)


def _gap_data(seed=0):
    """Rows on a 3-D subspace of R^16 whose first factor is bimodal (-2 or +2);
    the anomalies lie on the same subspace with that factor in the empty gap near 0,
    so a reconstruction hardly tells them apart but their codes land in a hole."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(3, 16))

    def rows(n, gap):
        f = rng.normal(size=(n, 3))
        f[:, 0] = (0.0 if gap else rng.choice([-2.0, 2.0], size=n)) + rng.normal(0, 0.3, n)
        return (f @ basis + rng.normal(scale=0.05, size=(n, 16))).astype(np.float32)

    return (
        rows(2000, False),
        np.concatenate([rows(200, False), rows(200, True)]),
        np.r_[np.zeros(200), np.ones(200)],
    )


PARAMS = {"hidden_dims": (32, 16), "latent_dim": 4, "epochs": 20, "random_state": 0}


@pytest.mark.parametrize("compactification", ["sphere", "lipschitz"])
def test_hole_score_finds_the_gap_and_round_trips(compactification, tmp_path):
    X, Xt, y = _gap_data()
    det = CompactVAE(
        compactification=compactification, lipschitz=2.0, score_method="hole", **PARAMS
    ).fit(X)
    scores = det.decision_function(Xt)
    auc = roc_auc_score(y, scores)
    assert auc > 0.95
    # against the same model untrained (a random encoder keeps some of the gap)
    control = untrained_auc(det, X, Xt, y)
    assert auc > control + (0.05 if compactification == "sphere" else 0.02)
    assert det.network_.reference.shape == (2000, 4)  # n_reference = 10000 > 2000 rows
    assert np.isfinite(det.decision_scores_).all()
    assert abs(det.labels_.mean() - det.contamination) < 0.01
    codes = det.codes(Xt)
    if compactification == "sphere":
        np.testing.assert_allclose(np.linalg.norm(codes, axis=1), 1.0, rtol=1e-5)
        png = plot_latent_2d(det.codes(X), codes, y, tmp_path / "latent.png", "sphere")
        assert png.stat().st_size > 5000
    else:
        assert np.abs(codes).max() < 1.0
        # mu = tanh(L f(x)) is L-Lipschitz in the preprocessed input, after training too
        x = det.scaler_(torch.from_numpy(Xt))
        i, j = torch.randint(0, len(x), (2, 5000), generator=torch.Generator().manual_seed(0))
        mu = torch.from_numpy(codes)
        ratio = (mu[i] - mu[j]).norm(dim=1) / (x[i] - x[j]).norm(dim=1).clamp_min(1e-6)
        assert 0.1 < float(ratio.max()) <= 2.0 * (1 + 1e-4)
    det.save(tmp_path / "m")
    again = memae.load(tmp_path / "m")
    np.testing.assert_array_equal(again.decision_function(Xt), scores)
    refit = CompactVAE(**det.get_params()).fit(X)
    np.testing.assert_array_equal(refit.decision_scores_, det.decision_scores_)


def test_hole_score_by_hand_and_leave_one_out():
    X = _gap_data()[0]
    det = CompactVAE(compactification="lipschitz", n_neighbors=1, **{**PARAMS, "epochs": 1})
    det.fit(X[:50])
    ref = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0], [0.0, 0.9, 0.0, 0.0]])
    det.network_.reference = ref
    z = torch.tensor([[0.0, 0.3, 0.0, 0.0]])
    # k = 1, n = 3, d = m = 4: log p - log q = log N(z; 0, I) + log n + log V_4 + 4 log r
    r = 0.3
    log_v4 = 2 * math.log(math.pi) - math.lgamma(3)
    expected = -0.5 * 0.09 - 2 * math.log(2 * math.pi) + math.log(3) + log_v4 + 4 * math.log(r)
    assert float(det._hole(z)) == pytest.approx(expected, rel=1e-5)
    # a reference code scored as a training row skips itself (next nearest: 0.5, n = 2)
    own = float(det._hole(ref[:1], torch.tensor([True])))
    expected = -2 * math.log(2 * math.pi) + math.log(2) + log_v4 + 4 * math.log(0.5)
    assert own == pytest.approx(expected, rel=1e-5)


def test_hole_score_beats_reconstruction_in_a_hole_and_bad_parameters():
    X, Xt, y = _gap_data()
    det = CompactVAE(score_method="hole", **PARAMS).fit(X)
    hole = roc_auc_score(y, det.decision_function(Xt))
    det.set_params(score_method="reconstruction")
    rec = det.decision_function(Xt)
    expected = ((det.scaler_(torch.from_numpy(Xt)) - det.scaler_(torch.from_numpy(
        det.reconstruct(Xt)))) ** 2).mean(1)  # fmt: skip
    np.testing.assert_allclose(rec, expected.numpy(), rtol=1e-4, atol=1e-6)
    assert hole > roc_auc_score(y, rec) + 0.3  # on-manifold anomalies: only the hole sees them
    # the joint score adds the decoder's negative log-likelihood to the hole score
    det.set_params(score_method="joint")
    joint = det.decision_function(Xt)
    det.set_params(score_method="hole")
    with torch.no_grad():
        out = det.network_(det.scaler_(torch.from_numpy(Xt)))
        nll = memae.nn.gaussian_nll(det.scaler_(torch.from_numpy(Xt)), out.reconstruction,
                                    out.log_scale)  # fmt: skip
    np.testing.assert_allclose(joint, det.decision_function(Xt) + nll.numpy(), rtol=1e-4)
    for bad in ({"compactification": "torus"}, {"score_method": "x"}, {"lipschitz": 0.0},
                {"n_neighbors": 5, "n_reference": 5}, {"latent_dim": 1}):  # fmt: skip
        with pytest.raises(ValueError):
            CompactVAE(**{**PARAMS, **bad}).fit(X)


def test_benchmarks_report_every_score_of_one_fit():
    from benchmarks.runners.report import other_scores

    X, Xt, _ = _gap_data()
    det = CompactVAE(**PARAMS).fit(X)
    joint = det.decision_function(Xt)
    others = other_scores(det, Xt)
    assert det.score_method == "joint" and set(others) == {"hole", "reconstruction"}  # restored
    np.testing.assert_array_equal(det.decision_function(Xt), joint)
    for kind, scores in others.items():
        np.testing.assert_array_equal(
            scores, det.set_params(score_method=kind).decision_function(Xt)
        )
        assert not np.allclose(scores, joint)
    assert other_scores(memae.AutoEncoder(epochs=1).fit(X), Xt) == {}
    # the VAE's default score_method is named "reconstruction" too; its other rule
    # ("elbo") is not one of CompactVAE's, so nothing may be reported under their names
    vae = memae.VAE(epochs=1, random_state=0).fit(X)
    assert vae.score_method == "reconstruction" and other_scores(vae, Xt) == {}


def test_training_scores_are_leave_one_out_only_for_reference_rows():
    """Issue 19, item 7: the difference between labels_ and predict(X_train) is the
    documented leave-one-out, nothing else; a row alone scores as inside a batch."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    det = CompactVAE(
        score_method="hole",
        n_reference=200,
        epochs=3,
        hidden_dims=(16,),
        latent_dim=3,
        random_state=0,
    ).fit(X)
    again = det.decision_function(X)
    ref = np.zeros(len(X), bool)
    ref[det.reference_rows_] = True
    assert ref.sum() == 200
    np.testing.assert_allclose(again[~ref], det.decision_scores_[~ref], rtol=1e-6)
    # own code counted: lower, but for the n / (n - 1) of the density estimate
    assert (again[ref] <= det.decision_scores_[ref] + math.log(200 / 199) + 1e-6).all()
    assert (again[ref] < det.decision_scores_[ref]).mean() > 0.9
    alone = np.array([det.decision_function(X[i : i + 1])[0] for i in range(10)])
    np.testing.assert_allclose(alone, again[:10], rtol=1e-5)
