import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from memae import AutoEncoder, MemAE, NotFittedError
from memae.nn import attention_entropy, squared_error

from .conftest import trivial_auc, untrained_auc

FAST = dict(epochs=8, batch_size=64, hidden_dims=(16, 8), latent_dim=3, random_state=0)


@pytest.mark.parametrize("cls", [AutoEncoder, MemAE])
def test_learning_beats_an_untrained_network(cls, off_manifold):
    X, X_test, y_test = off_manifold
    det = cls(**{**FAST, "epochs": 60}).fit(X)
    auc = roc_auc_score(y_test, det.decision_function(X_test))
    control = untrained_auc(det, X, X_test, y_test)
    assert control < 0.8 and trivial_auc(X, X_test, y_test) < 0.8  # no trivial win here
    assert auc > 0.93 and auc > control + 0.15


def test_memae_specific_params():
    assert "l1_weight" not in MemAE().get_params()
    assert {"memory_size", "shrink_threshold", "entropy_weight"} <= set(MemAE().get_params())
    assert "l1_weight" in AutoEncoder().get_params()


def test_fit_leaves_global_rng_alone(planted):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    MemAE(**FAST).fit(planted[0])
    assert torch.equal(before, torch.get_rng_state())


def test_memae_loss_is_recon_plus_weighted_entropy(planted):
    det = MemAE(entropy_weight=0.5, **FAST).fit(planted[0])
    batch = torch.from_numpy(planted[0][:32])
    out = det.network_(batch)
    expected_recon = squared_error(batch, out.reconstruction).mean()
    loss = det._loss(det.network_, batch)
    torch.testing.assert_close(loss["validation"], expected_recon)
    torch.testing.assert_close(
        loss["loss"], expected_recon + 0.5 * attention_entropy(out.attention)
    )


def test_ae_l1_adds_latent_penalty(planted):
    det = AutoEncoder(l1_weight=2.0, **FAST).fit(planted[0])
    batch = torch.from_numpy(planted[0][:32])
    out = det.network_(batch)
    loss = det._loss(det.network_, batch)
    torch.testing.assert_close(loss["loss"], loss["validation"] + 2.0 * out.code.abs().mean())


def test_kdd_preset_network_matches_paper():
    det = MemAE.from_preset("kdd", epochs=1)
    net = det._build_network((118,))
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    widths = [(m.in_features, m.out_features) for m in linears]
    assert widths == [
        (118, 60),
        (60, 30),
        (30, 10),
        (10, 3),
        (3, 10),
        (10, 30),
        (30, 60),
        (60, 118),
    ]
    assert sum(isinstance(m, torch.nn.Tanh) for m in net.modules()) == 6  # all but 2 last layers
    assert tuple(net.memory.weight.shape) == (50, 3)
    assert det.entropy_weight == 0.0002 and det.epochs == 1
    ae = AutoEncoder.from_preset("kdd")
    assert ae._build_network((118,)).memory is None and ae.hidden_dims == (60, 30, 10)
    with pytest.raises(ValueError, match="unknown preset"):
        MemAE.from_preset("imagenet")


def test_real_kdd_slice_separates_anomalies(kdd_slice):
    X_train, X_test, y_test = kdd_slice
    for cls in (AutoEncoder, MemAE):
        det = cls.from_preset("kdd", epochs=5, batch_size=256, random_state=0).fit(X_train)
        assert roc_auc_score(y_test, det.decision_function(X_test)) > 0.9, cls.__name__


def test_device_handling(planted):
    det = AutoEncoder(**FAST).fit(planted[0][:200])
    assert det.device_.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            AutoEncoder(device="cuda", **FAST).fit(planted[0][:200])
    with pytest.raises(ValueError, match="device"):
        AutoEncoder(device="tpu", **FAST).fit(planted[0][:200])


def test_not_fitted_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        MemAE().decision_function(np.zeros((2, 3)))


BAD = [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "inf"),
    (np.zeros(5), r"\(n_samples, n_features\).*reshape"),
    (np.zeros((2, 1, 3, 4, 5, 6)), "stack of images"),
    (np.zeros((2, 3, 4, 5, 6)), "batch norm a single value per channel"),
    (np.zeros((2, 3, 0)), "empty"),
    (np.zeros((0, 4)), "empty"),
    ([["a", "b"], ["c", "d"]], "non-numeric"),
    # (a DataFrame's text columns are one-hot encoded: tests/test_categorical.py)
    (np.array([[1e300, 0.0]]), "inf"),
    # issue 19: the real problem is named
    (np.array([[1 + 2j, 0.0], [0.0, 1.0]]), "complex-valued"),
    (pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [0.0, 1.0]}), r"NA\) in .*'a'"),
]


@pytest.mark.parametrize(("X", "message"), BAD)
def test_bad_training_input_raises_clear_error(X, message):
    with pytest.raises(ValueError, match=message):
        AutoEncoder(**FAST).fit(X)


def test_bad_scoring_input_and_feature_count(planted):
    det = MemAE(**FAST).fit(planted[0])
    with pytest.raises(
        ValueError, match="has 5 features, but MemAE is expecting 12 features as input"
    ):
        det.decision_function(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        det.predict(np.full((2, 12), np.nan))
    with pytest.raises(ValueError, match="empty"):
        det.decision_function(np.zeros((0, 12)))


def test_dataframes_and_lists_accepted_and_names_checked(planted):
    X = planted[0][:300]
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(12)])
    det = AutoEncoder(**FAST).fit(df)
    assert det.feature_names_in_ == list(df.columns)
    np.testing.assert_allclose(det.decision_function(X.tolist()), det.decision_function(df))
    with pytest.raises(ValueError, match="column names differ"):
        det.decision_function(df.rename(columns={"f0": "other"}))


@pytest.mark.parametrize("kwargs", [{"contamination": 0.7}, {"random_state": -1}, {"epochs": 0}])
def test_bad_parameters_raise(kwargs, planted):
    with pytest.raises(ValueError):
        AutoEncoder(**{**FAST, **kwargs}).fit(planted[0][:100])


def test_sparse_input_is_named_and_nullable_columns_without_na_work():
    import scipy.sparse

    with pytest.raises(ValueError, match="sparse matrix"):
        AutoEncoder(**FAST).fit(scipy.sparse.random(50, 4, density=0.5, format="csr"))
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"a": pd.array(rng.integers(0, 9, 200), dtype="Int64"), "b": rng.normal(size=200)}
    )
    det = AutoEncoder(**FAST).fit(df)
    assert det.decision_function(df).shape == (200,)
