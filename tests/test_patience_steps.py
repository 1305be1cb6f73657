"""The small-table patience diagnostic (``benchmarks/patience_steps.py``) on a stub table:
the old rule is the trainer with one step an epoch counted as a whole epoch, the
constant is restored after each fit, and the table reads only validation losses."""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.runners import patience_steps

from memae.training import config as train_config


def test_old_and_new_rule_on_a_one_step_table(monkeypatch) -> None:
    X = np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32)  # one step an epoch
    monkeypatch.setattr(patience_steps, "METHODS", ("AutoEncoder",))
    monkeypatch.setattr(patience_steps, "small_tables", lambda data: [("odds", "stub", X)])
    res = patience_steps.run(None, ("cmd", []))
    assert train_config.MIN_STEPS_PER_EPOCH == 10  # restored after the old-rule fit
    (row,) = res["rows"]
    old, new, auto = row["old"], row["new"], row["auto"]
    assert old["steps_per_epoch"] == new["steps_per_epoch"] == auto["steps_per_epoch"] == 1
    # the old rule stops 10 epochs after its kept epoch, the new one 100 after (or at the cap)
    assert old["epochs"] == old["best_epoch"] + 10 or not old["stopped_by_patience"]
    assert new["epochs"] == min(new["best_epoch"] + 100, 500)
    assert new["epochs"] > old["epochs"] and new["val_loss_best"] <= old["val_loss_best"]
    assert old["val_loss_first"] == new["val_loss_first"]  # the same seed, the same epoch 1
    # this stub still improves at pass 500: the "auto" cap (5,000 passes of one step) lets
    # it go on, along the same seeded path, until patience stops it
    assert not new["stopped_by_patience"] and auto["stopped_by_patience"]
    assert 500 < auto["epochs"] == auto["best_epoch"] + 100 < 5000
    assert auto["val_loss_best"] < new["val_loss_best"]
    assert auto["val_loss_first"] == new["val_loss_first"]
    md = patience_steps.markdown(res)
    assert f"| stub | 120 | 1 | AutoEncoder | {old['epochs']} ({old['best_epoch']}" in md
    assert f"| {auto['epochs']} ({auto['best_epoch']}) | {auto['val_loss_best']:.4g} |" in md
    assert "AutoEncoder 1 of 1 tables" in md
    assert "Fits ended by the cap: 1 of 1 at 500 passes, 0 of 1 under" in md
    assert 'the 500-pass cap ended, the "auto" cap kept a lower validation loss in 1;' in md


def test_small_tables_are_those_under_ten_steps() -> None:
    from .conftest import data_root

    if not (data_root() / "odds" / "arrhythmia.mat").is_file():
        pytest.skip("ODDS files not available")
    tables = {(part, name): len(X) for part, name, X in patience_steps.small_tables(data_root())}
    assert ("odds", "glass") in tables and ("toll", "arrhythmia") in tables
    assert ("odds", "shuttle") not in tables and ("odds", "mnist") not in tables
    assert all(n - round(0.1 * n) <= 9 * 256 for n in tables.values())
