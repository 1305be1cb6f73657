"""Multi-process training: 2 CPU processes launched by torchrun (gloo) on a real KDD slice."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import memae
from memae import distributed

from .conftest import same_weights

HERE = Path(__file__).resolve().parent
# |AUC(2 processes) - AUC(1 process)| allowed: the runs see the same rows and global batch,
# but DistributedSampler's shuffle differs from the single-process one.
AUC_TOLERANCE = 0.02


def torchrun(*args: str, cwd: Path) -> None:
    """``torchrun --standalone --nproc_per_node=2 ARGS`` (as the module, so PATH is irrelevant)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def two_process_runs(kdd_slice, tmp_path_factory):
    """Two identical 2-process fits (fixed seed) of tests/ddp_fit.py."""
    X_train = kdd_slice[0]
    root = tmp_path_factory.mktemp("ddp")
    np.save(root / "train.npy", X_train)
    runs = []
    for name in ("a", "b"):
        torchrun(str(HERE / "ddp_fit.py"), str(root / "train.npy"), str(root / name), cwd=root)
        runs.append(root / name)
    return runs


def test_two_processes_give_a_valid_model_as_good_as_one(two_process_runs, kdd_slice):
    X_train, X_test, y_test = kdd_slice
    det2 = memae.load(two_process_runs[0] / "model")
    det1 = memae.MemAE.from_preset("kdd", epochs=5, batch_size=256, random_state=0).fit(X_train)
    auc1 = roc_auc_score(y_test, det1.decision_function(X_test))
    auc2 = roc_auc_score(y_test, det2.decision_function(X_test))
    assert auc2 > 0.9
    assert abs(auc2 - auc1) <= AUC_TOLERANCE, (auc1, auc2)
    # training scores were computed in two shards and gathered back in row order
    np.testing.assert_array_equal(det2.decision_scores_, det2.decision_function(X_train))
    assert det2.threshold_ == pytest.approx(np.quantile(det2.decision_scores_, 0.8))


def test_two_process_fit_is_reproducible(two_process_runs):
    a, b = (memae.load(run / "model") for run in two_process_runs)
    assert same_weights(a.network_, b.network_)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)


def test_ranks_share_weights_and_memory_but_not_noise_seeds(two_process_runs):
    run = two_process_runs[0]
    info = [json.loads((run / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["world_size"] for i in info] == [2, 2]
    assert info[0]["seed_"] == info[1]["seed_"] == 0
    # stochastic-layer seeds differ between ranks in every epoch
    assert len(info[0]["seeds"]) == 5
    assert all(s0 != s1 for s0, s1 in zip(info[0]["seeds"], info[1]["seeds"], strict=True))
    mem0, mem1 = np.load(run / "memory0.npy"), np.load(run / "memory1.npy")
    np.testing.assert_array_equal(mem0, mem1)
    saved = memae.load(run / "model").network_.memory.weight.detach().numpy()
    np.testing.assert_array_equal(saved, mem0)


def test_cli_fit_under_torchrun(kdd_slice, tmp_path):
    """The documented entry point: torchrun ... -m memae fit, with rank-0-only checkpoints."""
    X_train, X_test, y_test = kdd_slice
    np.save(tmp_path / "train.npy", X_train)
    torchrun(
        "-m", "memae", "fit", "train.npy", "--preset", "kdd", "--epochs", "3",
        "--batch-size", "256", "--random-state", "1", "--out", "model",
        "--checkpoint-dir", "ckpt", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    det = memae.load(tmp_path / "model")
    assert len(det.history_) == 3
    assert (tmp_path / "ckpt" / "checkpoint.json").exists()
    assert not list((tmp_path / "ckpt").glob("*.tmp"))
    assert roc_auc_score(y_test, det.decision_function(X_test)) > 0.85


def test_single_process_helpers_are_identities():
    assert not distributed.is_distributed()
    assert distributed.get_rank() == 0 and distributed.get_world_size() == 1
    assert distributed.is_main_process()
    assert distributed.shard_bounds(10) == (0, 10)
    x = np.arange(5.0)
    assert distributed.gather_rows(x, 5) is x
    assert distributed.broadcast_int(7) == 7
    assert distributed.all_agree(3)
    with distributed.distributed_session() as on:
        assert on is False
