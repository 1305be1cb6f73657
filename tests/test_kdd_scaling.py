"""The KDD scaling diagnostic (``benchmarks/kdd_scaling.py``), checked by hand on stubs:
each min-max run is paired with the published run of the same seed, and the one-hot
statistics are those of the training rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from benchmarks.runners import kdd, kdd_scaling


def _m(f1: float, auc: float) -> dict[str, float]:
    return {"f1": f1, "roc_auc": auc, "epochs": 10, "converged": True}


def test_runs_pair_with_the_published_runs_of_the_same_seed(tmp_path, monkeypatch) -> None:
    published = tmp_path / "kdd.json"
    published.write_text(json.dumps({"per_run": {
        "AE": [_m(0.90, 0.98), _m(0.92, 0.97), _m(0.99, 0.99)],  # the third is not paired
        "MemAE": [_m(0.94, 0.98), _m(0.96, 0.99), _m(0.5, 0.5)],
    }}))  # fmt: skip
    partial = tmp_path / "work" / "runs.json"
    mine = {"AE-minmax": [_m(0.93, 0.99), _m(0.93, 0.98)],
            "MemAE-minmax": [_m(0.95, 0.98), _m(0.95, 0.97)]}  # fmt: skip
    calls = []

    def fake_run(runs, data=None, only=None, partial=None, command=None):
        calls.append((runs, only))
        partial.parent.mkdir(parents=True)
        partial.write_text(json.dumps({"per_run": mine}))
        return kdd.summarise(mine, np.array([0, 0, 1, 1]), False, command)

    monkeypatch.setattr(kdd, "run", fake_run)
    monkeypatch.setattr(kdd_scaling, "binary_column_stats", lambda data: {
        "columns": 3, "binary_columns": 2, "binary_rare": 1,
        "largest_standardised_binary": 9.0, "largest_standardised_other": 2.0})  # fmt: skip
    res = kdd_scaling.run(2, None, published, partial, ("cmd", []))
    assert calls == [(2, ["AE-minmax", "MemAE-minmax"])]
    ae, mem = res["paired"]["AE-minmax"], res["paired"]["MemAE-minmax"]
    assert ae["reference"] == "AE" and ae["runs"] == 2
    # F1 differences 0.93 - 0.90 and 0.93 - 0.92; ROC-AUC 0.99 - 0.98 and 0.98 - 0.97
    assert ae["f1_diff"]["mean"] == pytest.approx(0.02)
    assert ae["f1_diff"]["std"] == pytest.approx(np.std([0.03, 0.01], ddof=1))
    assert ae["auc_diff"]["mean"] == pytest.approx(0.01)
    assert ae["f1_reference"]["mean"] == pytest.approx(0.91)
    assert mem["f1_diff"]["mean"] == pytest.approx(0.0)  # +0.01 and -0.01
    md = kdd_scaling.markdown(res)
    assert "| AE-minmax | 2 | 0.9300 ± 0.0000 | 0.9100 ± 0.0141 | +0.0200 ± 0.0141 |" in md
    assert "| 0.9641 |" in md  # MemAE's paper F1 on its row
    assert "2 binary (one-hot) columns of 3, 1 of them set in fewer than 1%" in md


def test_binary_column_statistics_by_hand(monkeypatch) -> None:
    """Column 0 is binary and rare in training (1 of 200 rows), column 1 binary and
    common, column 2 continuous; the test rows are not used for the statistics."""
    train = np.zeros((200, 3))
    train[0, 0] = 1.0
    train[:100, 1] = 1.0
    train[:, 2] = np.arange(200) / 100.0
    test = np.array([[1.0, 0.0, 10.0]])
    X = np.vstack([train, test])
    y = np.r_[np.zeros(200, dtype=int), 1]
    monkeypatch.setattr(kdd, "load", lambda data: (X, y))
    monkeypatch.setattr(kdd, "kdd_split", lambda y, seed: (np.arange(200), np.array([200])))
    got = kdd_scaling.binary_column_stats()
    assert got["columns"] == 3 and got["binary_columns"] == 2 and got["binary_rare"] == 1
    # column 0 over the training rows: mean 0.005, std sqrt(0.005 * 0.995); a 1 lies at
    sd0 = np.sqrt(0.005 * 0.995)
    assert got["largest_standardised_binary"] == pytest.approx(0.995 / sd0, rel=1e-6)
    mean2, sd2 = train[:, 2].mean(), train[:, 2].std()
    assert got["largest_standardised_other"] == pytest.approx((10 - mean2) / sd2, rel=1e-6)


def test_the_ablations_run_only_when_named() -> None:
    assert set(kdd_scaling.PAIRS) == set(kdd.OPT_IN) <= set(kdd.methods(quick=True))
    det = kdd.methods(quick=True)["MemAE-minmax"](3)
    assert det.preprocessing == "minmax" and det.random_state == 3 and det.memory_size == 50


def test_the_default_kdd_table_leaves_the_ablations_out(monkeypatch) -> None:
    ran = []

    def fake_one_run(r, quick, data, names, loaded=None, track="unsupervised", source="npz"):
        ran.extend(names)
        return {n: {**_m(0.9, 0.9), "precision": 0.9, "recall": 0.9, "fit_seconds": 1.0}
                for n in names}  # fmt: skip

    y = np.r_[np.zeros(20, dtype=int), np.ones(5, dtype=int)]
    monkeypatch.setattr(kdd, "load", lambda data, source="npz": (np.zeros((25, 2)), y))
    monkeypatch.setattr(kdd, "_one_run", fake_one_run)
    res = kdd.run(1, quick=True, log=lambda msg: None)
    assert ran == [m for m in kdd.methods(quick=True) if m not in kdd.OPT_IN]
    assert not set(res["summary"]) & set(kdd.OPT_IN)
