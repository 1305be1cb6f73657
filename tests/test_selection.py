"""Model selection with a few labelled anomalies: fit(validation_data=...) and select."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import memae
from memae import AutoEncoder, CompactVAE, MemAE
from memae.cli import main


def _noisy_manifold(seed=0):
    """Normal rows: a 3-d subspace of R^12 plus isotropic noise 0.3; anomalies: pushed
    off the subspace by 1.2. A 12-d code learns the noise too (lower validation loss)
    and reconstructs the anomalies as well; a 3-d code cannot."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    inside, outside = q[:, :3], q[:, 3:]

    def normal(n):
        return rng.normal(size=(n, 3)) @ inside.T * 2 + 0.3 * rng.normal(size=(n, 12))

    def anomalous(n):
        off = rng.normal(size=(n, 9)) @ outside.T
        return normal(n) + 1.2 * off / np.linalg.norm(off, axis=1, keepdims=True)

    X = normal(2000).astype(np.float32)
    X_val = np.concatenate([normal(100), anomalous(10)]).astype(np.float32)
    X_test = np.concatenate([normal(300), anomalous(300)]).astype(np.float32)
    return X, (X_val, np.r_[np.zeros(100), np.ones(10)]), X_test, np.r_[np.zeros(300), np.ones(300)]


PARAMS = {"hidden_dims": (64,), "epochs": 200, "random_state": 0}


@pytest.mark.slow
def test_labels_pick_the_checkpoint_the_unlabelled_loss_gets_wrong():
    X, val, X_test, y_test = _noisy_manifold()
    params = {**PARAMS, "latent_dim": 12}
    # unlabelled: the loss keeps falling as the 12-d code learns the noise, and with it
    # to reconstruct the anomalies; the last epoch is kept
    plain = AutoEncoder(**params).fit(X)
    labelled = AutoEncoder(**params).fit(X, validation_data=val)
    assert labelled.best_epoch_ < plain.best_epoch_ / 2
    auc_plain = roc_auc_score(y_test, plain.decision_function(X_test))
    auc_labelled = roc_auc_score(y_test, labelled.decision_function(X_test))
    assert auc_labelled > auc_plain + 0.05  # on held-out test rows, not the labelled ones
    # select: a grid of settings, each with its labelled checkpoint
    sel = memae.select(AutoEncoder(**PARAMS), X, val, param_grid={"latent_dim": [3, 12]})
    assert [r["params"]["latent_dim"] for r in sel.results_] == [3, 12]
    assert sel.unlabelled_index_ == 1  # the 12-d code reconstructs the noise: lower loss
    assert sel.results_[sel.best_index_]["metric"] == max(r["metric"] for r in sel.results_)
    best = roc_auc_score(y_test, sel.best_estimator_.decision_function(X_test))
    assert best > auc_plain + 0.05
    assert "(chosen)" in sel.table() and "(lowest loss)" in sel.table()


def test_validation_data_chooses_the_epoch_and_is_recorded(tmp_path):
    X, val, X_test, _ = _noisy_manifold()
    params = {**PARAMS, "epochs": 12, "latent_dim": 3, "patience": None}
    plain = AutoEncoder(**params).fit(X)
    assert plain.selection_ == "unlabelled validation loss"
    assert all("val_metric" not in h for h in plain.history_)
    det = AutoEncoder(**params).fit(X, validation_data=val, selection_metric="average_precision")
    assert det.selection_ == "labelled average_precision"
    metric = [h["val_metric"] for h in det.history_]
    assert len(metric) == 12 and all("val_loss" in h for h in det.history_)  # both kept
    assert metric[det.best_epoch_ - 1] == max(metric)
    # the kept weights are that epoch's: its metric is what the fitted model gives
    from sklearn.metrics import average_precision_score

    assert average_precision_score(val[1], det.decision_function(val[0])) == pytest.approx(
        max(metric)
    )
    # the same losses as without labels (training itself is unchanged), other epoch kept
    np.testing.assert_array_equal(
        [h["loss"] for h in det.history_], [h["loss"] for h in plain.history_]
    )
    det.save(tmp_path / "m")
    again = memae.load(tmp_path / "m")
    assert again.selection_ == det.selection_ and again.history_ == det.history_
    assert again.best_epoch_ == det.best_epoch_
    np.testing.assert_array_equal(again.decision_function(X_test), det.decision_function(X_test))


def test_a_saturated_labelled_metric_defers_to_the_unlabelled_loss():
    from torch import nn

    from memae.training.stopping import EarlyStopping

    model = nn.Linear(1, 1)
    stop = EarlyStopping(patience=3, tol=1e-4)
    for epoch, loss in enumerate([5.0, 4.0, 3.0, 3.0, 3.0, 3.0], 1):
        stop.update(-1.0, epoch, model, tiebreak=loss)  # ROC-AUC 1.0 every epoch
    assert stop.best_epoch == 3 and stop.stopped  # the lowest loss among the ties
    plain = EarlyStopping(patience=3, tol=1e-4)
    for epoch in range(1, 5):
        plain.update(-1.0, epoch, model)
    assert plain.best_epoch == 1 and plain.stopped  # no tiebreak: the first epoch
    better = EarlyStopping(patience=3, tol=1e-4)
    better.update(-0.9, 1, model, tiebreak=1.0)
    better.update(-0.95, 2, model, tiebreak=9.0)  # a higher metric wins over the loss
    assert better.best_epoch == 2


def test_easy_labelled_anomalies_do_not_keep_an_untrained_network():
    """A few labelled anomalies far off the data: ROC-AUC 1.0 from the first epoch. The
    labelled fit must still train (the unlabelled loss breaks the ties), not stop after
    ``patience`` epochs with the first epoch's weights."""
    X, (X_val, y_val), _, _ = _noisy_manifold()
    X_val = X_val.copy()
    X_val[y_val == 1] *= 20
    det = AutoEncoder(hidden_dims=(64,), latent_dim=3, epochs=60, random_state=0)
    det.fit(X, validation_data=(X_val, y_val))
    first = det.history_[0]
    assert first["val_metric"] == 1.0  # saturated from the start
    assert det.best_epoch_ > 10 and len(det.history_) > 20
    assert det.history_[det.best_epoch_ - 1]["val_loss"] < 0.5 * first["val_loss"]


def test_compactvae_and_memae_select_with_labels():
    X, val, _, _ = _noisy_manifold()
    for det in (CompactVAE(epochs=4, random_state=0), MemAE(epochs=4, random_state=0)):
        det.fit(X, validation_data=val)
        assert det.selection_ == "labelled roc_auc" and len(det.history_) == 4
        metric = max(h["val_metric"] for h in det.history_)
        assert roc_auc_score(val[1], det.decision_function(val[0])) == pytest.approx(metric)


def test_bad_validation_data_raises():
    X, (X_val, y_val), _, _ = _noisy_manifold()
    det = AutoEncoder(epochs=1)
    for bad, match in (
        ((X_val, y_val[:-1]), "one label per row"),
        ((X_val, np.zeros_like(y_val)), "both normal"),
        ((X_val, y_val * 2), "0 .normal. and 1"),
        ((X_val[:, :5], y_val), "features"),
        (X_val, "pair"),
    ):
        with pytest.raises(ValueError, match=match):
            det.fit(X, validation_data=bad)
        assert not hasattr(det, "network_")
    with pytest.raises(ValueError, match="selection_metric"):
        det.fit(X, validation_data=(X_val, y_val), selection_metric="f1")


def test_cli_fit_with_a_labelled_validation_file(tmp_path):
    pd = pytest.importorskip("pandas")
    X, (X_val, y_val), _, _ = _noisy_manifold()
    cols = [f"f{i}" for i in range(12)]
    pd.DataFrame(X, columns=cols).assign(y=0).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(X_val, columns=cols).assign(y=y_val.astype(int)).to_csv(
        tmp_path / "val.csv", index=False
    )
    args = ["fit", str(tmp_path / "train.csv"), "--model", "ae", "--epochs", "3",
            "--random-state", "0", "--label-column", "y", "--validation",
            str(tmp_path / "val.csv"), "--out", str(tmp_path / "m"), "--quiet"]  # fmt: skip
    assert main(args) == 0
    fitted = json.loads((tmp_path / "m" / "config.json").read_text())["fitted"]
    assert fitted["selection"] == "labelled roc_auc"
    assert all("val_metric" in h for h in fitted["history"])


# ------------------------------------------------- the labelled track's splits
def test_labelled_validation_splits_are_disjoint_from_the_test_rows(kdd):
    from memae.datasets import load_odds
    from memae.evaluation import kdd_split, labelled_validation, normal_split

    from .conftest import data_root

    _, y = kdd
    splits = [(y, *kdd_split(y, seed=0))]
    for name in ("cardio", "lympho"):
        yo = load_odds(name, data_root())[1]
        splits.append((yo, *normal_split(yo, 0)))
    for labels, train, test in splits:
        tr, val, te = labelled_validation(labels, train, test, seed=0)
        assert not set(val) & set(te) and not set(val) & set(tr) and not set(tr) & set(te)
        assert set(tr) | set(val) | set(te) == set(train) | set(test)  # nothing lost
        assert (labels[tr] == 0).all() and 0 < labels[val].sum() <= labels[test].sum() // 2
        n_val_normal = (labels[val] == 0).sum()
        assert n_val_normal == round(0.1 * len(train))
        assert labels[val].sum() == min(
            int(np.ceil(0.01 * (len(train) - n_val_normal))), labels[test].sum() // 2
        )
        again = labelled_validation(labels, train, test, seed=0)
        assert all(np.array_equal(a, b) for a, b in zip(again, (tr, val, te), strict=True))


def test_one_class_validation_uses_the_training_split_only():
    from memae.evaluation import one_class_validation

    y_train = np.repeat(np.arange(10), 600)
    train, val, y_val = one_class_validation(y_train, 3, seed=1)
    assert (y_train[train] == 3).all() and len(train) == 540
    assert not set(train) & set(val)
    assert ((y_train[val] != 3) == (y_val == 1)).all()
    assert (y_val == 0).sum() == 60 and (y_val == 1).sum() == 6  # 1% of 540, rounded up
    with pytest.raises(ValueError, match="normal_fraction"):
        one_class_validation(y_train, 3, seed=1, normal_fraction=1.5)


def test_ped2_labelled_track_holds_out_whole_test_videos():
    from benchmarks.runners.video import VALIDATION_VIDEOS, labelled_split

    from memae.datasets.video import Videos

    names = ("01", "02", "03", "12")
    lengths = np.array([20, 24, 18, 22])
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (lengths.sum(), 4, 4), dtype=np.uint8)
    labels = rng.integers(0, 2, lengths.sum())
    videos = Videos(frames, names, np.r_[0, np.cumsum(lengths)], labels)
    test, (clips, y_clips) = labelled_split(videos, 16)
    assert test.names == ("01", "03") and set(VALIDATION_VIDEOS) == {"02", "12"}
    assert np.array_equal(test.frames, np.concatenate([frames[:20], frames[44:62]]))
    assert np.array_equal(test.labels, np.r_[labels[:20], labels[44:62]])
    # every clip of 02 and 12, each labelled by its centre frame (start + 8)
    assert len(clips) == (24 - 15) + (22 - 15)
    centres = np.r_[20 + np.arange(9) + 8, 62 + np.arange(7) + 8]
    assert np.array_equal(y_clips, labels[centres])
    assert np.array_equal(clips[0][0, 0], frames[20])  # validation frames, not test frames
    with pytest.raises(ValueError, match="in and out of"):
        labelled_split(Videos(frames[:20], ("01",), np.array([0, 20]), labels[:20]), 16)
