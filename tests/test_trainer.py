import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from torch import nn

from memae import AutoEncoder, MemAE, TrainingError
from memae.training import TrainConfig, train

from .conftest import same_weights

FAST = dict(epochs=6, batch_size=64, hidden_dims=(16, 8), latent_dim=3, random_state=3)


class Killed(Exception):
    """Stands for a process killed after an epoch's checkpoint was written."""


def killed_after(last_epoch):
    """An epoch callback that stops training once epoch ``last_epoch`` is done."""

    def kill(epoch, losses):
        if epoch == last_epoch:
            raise Killed

    return kill


def test_nan_loss_stops_with_clear_error():
    model = nn.Linear(3, 3)

    def loss_fn(m, batch):
        loss = m(batch).sum() * float("nan")
        return {"loss": loss}

    with pytest.raises(TrainingError, match="became nan in epoch 1"):
        train(model, torch.randn(20, 3), loss_fn, TrainConfig(epochs=3, batch_size=8, lr=0.1))


def test_divergent_detector_raises_training_error(planted):
    X = planted[0] * 1e20  # finite input, but the squared error overflows float32
    with pytest.raises(TrainingError, match="lower the learning rate"):
        MemAE(preprocessing=None, **FAST).fit(X)


def test_early_stopping_restores_best_weights(planted):
    det = MemAE(validation_fraction=0.2, patience=2, lr=0.05, **{**FAST, "epochs": 40})
    det.fit(planted[0])
    val = [h["val_loss"] for h in det.history_]
    assert det.best_epoch_ == int(np.argmin(val)) + 1
    assert len(val) < 40 and len(val) - det.best_epoch_ == 2  # stopped after `patience` epochs
    # the restored weights are the best epoch's: re-evaluating gives the best loss
    from memae.training import evaluate_loss

    X = torch.from_numpy(det.scaler_.offset * 0 + planted[0])  # the same rows the split drew from
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(det.seed_))
    val_rows = det.scaler_(X[perm[: round(len(X) * 0.2)]])
    assert evaluate_loss(det.network_, val_rows, det._loss, 64) == pytest.approx(min(val), rel=1e-5)


def test_interrupted_then_resumed_equals_uninterrupted(planted, tmp_path):
    X = planted[0]
    full = MemAE(validation_fraction=0.1, **FAST).fit(X)

    with pytest.raises(Killed):
        MemAE(validation_fraction=0.1, **FAST).fit(
            X, checkpoint_dir=tmp_path, callbacks=(killed_after(3),)
        )
    assert json.loads((tmp_path / "checkpoint.json").read_text())["epoch"] == 3
    resumed = MemAE(validation_fraction=0.1, **FAST).fit(X, checkpoint_dir=tmp_path)
    assert same_weights(full.network_, resumed.network_)
    assert resumed.history_ == full.history_
    np.testing.assert_array_equal(full.decision_scores_, resumed.decision_scores_)


def test_patience_counts_epochs_of_at_least_ten_steps():
    """32 training rows in batches of 8 are 4 steps an epoch: patience 4 and the plateau
    rule's 2 wait ceil(10 / 4) = 3 times as many epochs (12 and 6), so a validation loss
    that never improves after epoch 1 drops the rate after bad epoch 6 and stops at bad
    epoch 12; with batches of 2 (16 steps) nothing is stretched."""
    calls = iter(range(10_000))

    def loss_fn(m, batch):
        return {"loss": (m(batch) - batch).pow(2).mean(),
                "validation": torch.tensor(1.0 + 0 * next(calls))}  # fmt: skip

    def run(batch_size: int):
        cfg = TrainConfig(epochs=100, batch_size=batch_size, lr=0.01, validation_fraction=0.2,
                          patience=4, lr_schedule="plateau")  # fmt: skip
        return cfg, train(
            nn.Linear(2, 2),
            torch.randn(40, 2),
            loss_fn,
            cfg,
            optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=0.01),
        )

    cfg, res = run(8)
    assert cfg.patience_epochs(4) == (12, 6) and cfg.patience_epochs(10) == (4, 2)
    assert cfg.patience_epochs(1) == (40, 20) and cfg.patience_epochs(3) == (16, 8)
    assert res.stopped_early and res.best_epoch == 1 and len(res.history) == 13
    assert [h["lr"] for h in res.history] == pytest.approx([0.01] * 7 + [1e-3] * 6)
    cfg, res = run(2)
    assert len(res.history) == 5 and res.stopped_early
    no_patience = TrainConfig(epochs=5, batch_size=8, lr=0.01)
    assert no_patience.patience_epochs(1) == (None, 50)


def test_auto_cap_counts_epochs_of_at_least_ten_steps(monkeypatch):
    """``epochs="auto"`` caps at AUTO_EPOCHS epochs counted as patience counts them:
    32 rows in batches of 8 (4 steps) run ceil(10 / 4) = 3 passes an epoch, in batches of
    2 (16 steps) one; an int is taken as given; anything else is refused."""
    from memae.training import config as train_config

    auto = TrainConfig(epochs="auto", batch_size=8, lr=0.01)
    assert train_config.AUTO_EPOCHS == 500
    assert [auto.max_epochs(s) for s in (1, 3, 4, 9, 10, 200)] == [5000, 2000, 1500, 1000, 500, 500]
    assert TrainConfig(epochs=7, batch_size=8, lr=0.01).max_epochs(1) == 7
    assert TrainConfig(epochs=np.int64(7), batch_size=8, lr=0.01).max_epochs(1) == 7
    for bad in (0, -1, True, 2.5, "all", None):
        with pytest.raises(ValueError, match="epochs must be an int >= 1 or 'auto'"):
            TrainConfig(epochs=bad, batch_size=8, lr=0.01)
    monkeypatch.setattr(train_config, "AUTO_EPOCHS", 2)

    def loss_fn(m, batch):
        return {"loss": (m(batch) - batch).pow(2).mean()}

    for batch_size, passes in ((8, 6), (2, 2)):
        cfg = TrainConfig(epochs="auto", batch_size=batch_size, lr=0.01)
        res = train(nn.Linear(2, 2), torch.randn(32, 2), loss_fn, cfg)
        assert len(res.history) == passes and not res.stopped_early


@pytest.mark.parametrize(
    ("n", "fraction", "val_rows", "steps"),
    [(1000, 0.1, 100, 4), (1000, 0.0, 0, 4), (100, 0.001, 1, 1), (257, 0.0, 0, 2), (10, 0.5, 5, 1)],
)
def test_steps_per_epoch_follows_the_split(n, fraction, val_rows, steps):
    """``TrainConfig.steps_per_epoch`` (what benchmarks count epochs in) is the trainer's
    own split: hand-counted, and the same rows as ``split_rows`` leaves for training."""
    from memae.training.trainer import split_rows

    cfg = TrainConfig(epochs=1, batch_size=256, lr=0.01, validation_fraction=fraction)
    assert cfg.validation_rows(n) == val_rows and cfg.steps_per_epoch(n) == steps
    train_idx, val_idx = split_rows(n, cfg)
    assert len(train_idx) == n - val_rows
    assert (val_idx is None) == (val_rows == 0)


def test_detectors_default_to_the_auto_cap(planted, monkeypatch):
    """The default cap is "auto": 200 rows are one step an epoch at the default batch
    size, so a fit that patience does not stop runs ten passes per counted epoch."""
    from memae.training import config as train_config

    det = AutoEncoder(hidden_dims=(8,), latent_dim=2, patience=None, random_state=0)
    assert det.epochs == "auto"
    with pytest.raises(ValueError, match="epochs"):
        AutoEncoder(epochs="forever").fit(planted[0])
    monkeypatch.setattr(train_config, "AUTO_EPOCHS", 60)  # 600 passes of one step, quick
    det.fit(planted[0][:200])
    assert len(det.history_) == 600 and not det.stopped_early_


def test_plateau_schedule_drops_the_rate_after_half_the_patience():
    """A validation loss that never improves after epoch 1, patience 4: the rate drops
    by 10x after bad epochs 2 and 4 would, but epoch 5 (bad epoch 4) stops instead."""
    model = nn.Linear(2, 2)
    calls = iter(range(1000))

    def loss_fn(m, batch):
        loss = (m(batch) - batch).pow(2).mean()
        # training steps see the real loss; validation sees 1.0 from the first epoch on
        return {"loss": loss, "validation": torch.tensor(1.0 + 0 * next(calls))}

    cfg = TrainConfig(
        epochs=50,
        batch_size=2,
        lr=0.01,
        validation_fraction=0.2,
        patience=4,
        lr_schedule="plateau",
    )  # fmt: skip  (16 steps an epoch: the patience is not stretched)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    res = train(model, torch.randn(40, 2), loss_fn, cfg, optimizer=lambda m: opt)
    assert cfg.plateau_patience == 2 and res.stopped_early and res.best_epoch == 1
    assert [h["lr"] for h in res.history] == pytest.approx([0.01, 0.01, 0.01, 1e-3, 1e-3])
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)  # not dropped at the stop
    # the constant schedule keeps the rate and records none
    res = train(nn.Linear(2, 2), torch.randn(40, 2), loss_fn, TrainConfig(**{
        **{k: getattr(cfg, k) for k in ("epochs", "batch_size", "lr", "validation_fraction")},
        "patience": 4,
    }))  # fmt: skip
    assert len(res.history) == 5 and all("lr" not in h for h in res.history)


def test_plateau_schedule_improves_after_a_drop_and_resumes_exactly(planted, tmp_path):
    """On a detector: the rate drops, a later epoch improves on the best (so the drop
    did not end training), and a run killed after a drop resumes with the lower rate."""
    X = planted[0]
    args = dict(validation_fraction=0.2, patience=4, lr=0.05, lr_schedule="plateau")
    args.update({**FAST, "epochs": 60})
    full = AutoEncoder(**args).fit(X)
    lrs = [h["lr"] for h in full.history_]
    drop = next(i for i, lr in enumerate(lrs) if lr < 0.05) + 1  # first epoch at a lower rate
    assert lrs[0] == 0.05 and lrs[drop - 1] == pytest.approx(0.005)
    assert full.best_epoch_ >= drop  # the lower rate found a better epoch

    with pytest.raises(Killed):
        AutoEncoder(**args).fit(X, checkpoint_dir=tmp_path, callbacks=(killed_after(drop),))
    resumed = AutoEncoder(**args).fit(X, checkpoint_dir=tmp_path)
    assert resumed.history_ == full.history_
    assert same_weights(full.network_, resumed.network_)


def test_plateau_schedule_needs_something_to_watch(planted):
    with pytest.raises(ValueError, match="needs a validation split"):
        AutoEncoder(validation_fraction=0.0, lr_schedule="plateau", **FAST).fit(planted[0])
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainConfig(epochs=1, batch_size=1, lr=1.0, lr_schedule="cosine")


def test_checkpoint_of_another_run_is_refused(planted, tmp_path):
    MemAE(**{**FAST, "epochs": 2}).fit(planted[0], checkpoint_dir=tmp_path)
    with pytest.raises(TrainingError, match="another run"):
        MemAE(**{**FAST, "epochs": 2}).fit(planted[0][:500], checkpoint_dir=tmp_path)


@pytest.mark.parametrize(
    "other",
    [
        lambda: AutoEncoder(**{**FAST, "epochs": 2}),  # another detector class
        lambda: MemAE(**{**FAST, "epochs": 2, "entropy_weight": 0.5}),
        lambda: MemAE(**{**FAST, "epochs": 2, "shrink_threshold": 0.0}),
        lambda: MemAE(**{**FAST, "epochs": 2, "activation": "tanh"}),
        lambda: MemAE(**{**FAST, "epochs": 2, "preprocessing": "minmax"}),
    ],
)
def test_checkpoint_of_another_detector_or_setting_is_refused(other, planted, tmp_path):
    MemAE(**{**FAST, "epochs": 2}).fit(planted[0], checkpoint_dir=tmp_path)
    with pytest.raises(TrainingError, match="another run"):
        other().fit(planted[0], checkpoint_dir=tmp_path)
    # contamination and verbose do not change training: the checkpoint is this run's
    MemAE(**{**FAST, "epochs": 2, "contamination": 0.3}).fit(planted[0], checkpoint_dir=tmp_path)


def test_a_scoring_only_parameter_does_not_change_the_run(planted, tmp_path):
    """score_method changes the scores, not training: a checkpoint resumes under the other
    rule (and checkpoints written before the parameter existed still resume)."""
    X = planted[0]
    full = MemAE(**{**FAST, "epochs": 4}).fit(X)

    with pytest.raises(Killed):
        MemAE(**{**FAST, "epochs": 4}).fit(X, checkpoint_dir=tmp_path, callbacks=(killed_after(2),))
    assert json.loads((tmp_path / "checkpoint.json").read_text())["epoch"] == 2
    other = MemAE(**{**FAST, "epochs": 4, "score_method": "location_l2"})
    resumed = other.fit(X, checkpoint_dir=tmp_path)
    assert resumed.history_ == full.history_ and same_weights(full.network_, resumed.network_)
    # the same network, scored by its row's L2 error: sqrt(d x the squared error)
    d = X.shape[1]
    np.testing.assert_allclose(
        resumed.decision_function(X[:50]), np.sqrt(d * full.decision_function(X[:50])), rtol=1e-5
    )
    assert MemAE(**FAST)._identity() == MemAE(**FAST, score_method="location_l2")._identity()
    assert MemAE(**FAST)._identity() != MemAE(**FAST, entropy_weight=0.5)._identity()


def test_with_labelled_validation_the_score_method_is_part_of_the_run(planted, tmp_path):
    """With validation_data the kept epoch is chosen by the labelled metric of the scores,
    so a checkpoint written under one score_method is not resumed under the other."""
    X, val = planted[0], planted[1:]
    MemAE(**{**FAST, "epochs": 2}).fit(X, validation_data=val, checkpoint_dir=tmp_path)
    with pytest.raises(TrainingError, match="another run"):
        MemAE(**{**FAST, "epochs": 2, "score_method": "location_l2"}).fit(
            X, validation_data=val, checkpoint_dir=tmp_path
        )
    MemAE(**{**FAST, "epochs": 2}).fit(X, validation_data=val, checkpoint_dir=tmp_path)


def test_damaged_torn_or_edited_checkpoint_is_refused(planted, tmp_path):
    X = planted[0]
    det = MemAE(**{**FAST, "epochs": 4})

    with pytest.raises(Killed):
        det.fit(X, checkpoint_dir=tmp_path, callbacks=(killed_after(2),))
    weights, state = tmp_path / "checkpoint.safetensors", tmp_path / "checkpoint.json"
    blob, text = weights.read_bytes(), state.read_text()
    flipped = bytearray(blob)
    flipped[-3] ^= 0xFF
    weights.write_bytes(bytes(flipped))
    with pytest.raises(TrainingError, match="damaged or torn"):
        det.fit(X, checkpoint_dir=tmp_path)
    weights.write_bytes(blob)
    edits = [("epoch", 999), ("epoch", -3), ("epoch", "2"), ("lr", [-1.0]), ("lr", "0.1")]
    for key, value in edits:
        meta = json.loads(text)
        meta[key] = value
        state.write_text(json.dumps(meta))
        with pytest.raises(TrainingError, match="invalid"):
            det.fit(X, checkpoint_dir=tmp_path)
    state.write_text(text)
    fresh = MemAE(**{**FAST, "epochs": 4}).fit(X, checkpoint_dir=tmp_path, resume=False)
    assert len(fresh.history_) == 4  # resume=False ignores the checkpoint, starts afresh


def test_sigkilled_process_resumes_to_identical_weights(planted, tmp_path):
    """A real `kill -9` in the middle of a fit, then resume in a new process."""
    X = planted[0]
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(f"""
        import sys, time, numpy as np
        from memae import MemAE
        X = np.load(r"{tmp_path / "X.npy"}")
        slow = (lambda e, l: time.sleep(0.4)) if sys.argv[1] == "slow" else (lambda e, l: None)
        det = MemAE(epochs=12, batch_size=64, hidden_dims=(16, 8), latent_dim=3, random_state=5)
        det.fit(X, checkpoint_dir=sys.argv[2], callbacks=(slow,))
        det.save(sys.argv[3])
    """)
    (tmp_path / "fit.py").write_text(script)
    ckpt, env = tmp_path / "ckpt", {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(
        [sys.executable, tmp_path / "fit.py", "slow", ckpt, tmp_path / "m1"], env=env
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        state = ckpt / "checkpoint.json"
        if state.exists() and json.loads(state.read_text())["epoch"] >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads((ckpt / "checkpoint.json").read_text())["epoch"]
    assert 3 <= killed_at < 12
    subprocess.run(
        [sys.executable, tmp_path / "fit.py", "fast", ckpt, tmp_path / "m1"], env=env, check=True
    )
    subprocess.run(
        [sys.executable, tmp_path / "fit.py", "fast", tmp_path / "ckpt2", tmp_path / "m2"],
        env=env,
        check=True,
    )
    from memae import load

    a, b = load(tmp_path / "m1"), load(tmp_path / "m2")
    assert same_weights(a.network_, b.network_)


def test_progress_bar_only_when_verbose(planted, capsys):
    MemAE(verbose=0, **{**FAST, "epochs": 2}).fit(planted[0][:200])
    assert capsys.readouterr().err == ""
    MemAE(verbose=1, **{**FAST, "epochs": 2}).fit(planted[0][:200])
    assert "epoch" in capsys.readouterr().err


def _bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))


@pytest.mark.parametrize(("n", "used"), [(50, 50), (49, 48), (100, 64)])
def test_precise_bn_hand_checked(n, used):
    """Running statistics = plain averages of the batch statistics of the first
    ``batches`` batches (a last batch of one row left out); momentum and mode restored."""
    from memae.training.trainer import _Rows, precise_bn

    model = _bn_model().eval()
    data = torch.randn(n, 3, generator=torch.Generator().manual_seed(1)) * 5 + 3
    precise_bn(model, _Rows(data, None, torch.device("cpu")), torch.arange(n), 16, 4)
    with torch.no_grad():
        h = model[0](data[:used])
    chunks = h.split(16)
    mean = torch.stack([c.mean(0) for c in chunks]).mean(0)
    var = torch.stack([c.var(0) for c in chunks]).mean(0)  # unbiased per batch, as BN keeps
    bn = model[1]
    torch.testing.assert_close(bn.running_mean, mean)
    torch.testing.assert_close(bn.running_var, var)
    assert bn.momentum == 0.1 and not model.training


def test_training_ends_each_epoch_with_precise_bn_statistics():
    """After every epoch the kept weights carry the PreciseBN statistics of their own
    training rows (the validation loss and the scores use them); with
    ``precise_bn_batches=0`` they are PyTorch's lagging running averages instead."""
    from memae.training.trainer import _Rows, precise_bn, split_rows

    X = torch.randn(200, 3, generator=torch.Generator().manual_seed(2)) * 4 + 10

    def loss_fn(m, batch):
        return {"loss": (m(batch) - batch).pow(2).mean()}

    cfg = dict(epochs=4, batch_size=32, lr=0.05, validation_fraction=0.2, seed=0)
    model = _bn_model()
    train(model, X, loss_fn, TrainConfig(**cfg, precise_bn_batches=3))
    expected = _bn_model()
    expected.load_state_dict(model.state_dict())
    train_idx, _ = split_rows(len(X), TrainConfig(**cfg))
    precise_bn(expected, _Rows(X, None, torch.device("cpu")), train_idx, 32, 3)
    for a, b in zip(model.state_dict().values(), expected.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    lagging = _bn_model()
    train(lagging, X, loss_fn, TrainConfig(**cfg, precise_bn_batches=0))
    assert not torch.allclose(lagging[1].running_mean, model[1].running_mean)
    with pytest.raises(ValueError, match="precise_bn_batches"):
        TrainConfig(**cfg, precise_bn_batches=-1)


def test_precise_bn_samples_rows_at_random_without_a_validation_split():
    """Without a validation split the rows are in file order (video frames, sorted
    tables): PreciseBN must draw its batches at random, not read the first rows."""
    X = torch.cat([torch.zeros(160, 3), torch.full((160, 3), 10.0)])  # sorted halves
    X += 0.1 * torch.randn(320, 3, generator=torch.Generator().manual_seed(0))

    model = nn.Sequential(nn.BatchNorm1d(3))  # the running mean is the inputs' mean
    train(model, X, lambda m, b: {"loss": m(b).pow(2).mean() * 0}, TrainConfig(
        epochs=1, batch_size=16, lr=1e-3, precise_bn_batches=4, seed=0))  # fmt: skip
    mean = model[0].running_mean  # 64 rows drawn from both halves: near 5, not near 0
    assert torch.all((mean > 2.5) & (mean < 7.5)), mean
