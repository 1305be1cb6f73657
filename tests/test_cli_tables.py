"""The command line on real-looking tables: ids, dropped columns, labels, output formats."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from memae import load
from memae.cli import main

FEATURES = [f"x{i}" for i in range(6)]


def _table(rng: np.random.Generator, n: int, anomalies: int = 0) -> pd.DataFrame:
    X = rng.normal(size=(n, 6))
    y = np.zeros(n, dtype=int)
    if anomalies:
        X[-anomalies:] += 5.0
        y[-anomalies:] = 1
    frame = pd.DataFrame(X, columns=FEATURES)
    frame.insert(0, "host", [f"h{i % 7}" for i in range(n)])  # text id: not a feature
    frame.insert(1, "id", np.arange(n))  # numeric id: must not be a feature either
    frame["y"] = y
    return frame


@pytest.fixture()
def fitted(tmp_path):
    rng = np.random.default_rng(0)
    _table(rng, 1500).to_csv(tmp_path / "train.csv", index=False)
    args = ["fit", str(tmp_path / "train.csv"), "--model", "ae", "--epochs", "3",
            "--random-state", "0", "--id-column", "host", "--id-column", "id",
            "--label-column", "y", "--out", str(tmp_path / "m"), "--quiet"]  # fmt: skip
    assert main(args) == 0
    test = _table(rng, 300, anomalies=30)
    # another column order and an extra column the model never saw
    test["comment"] = "seen in the wild"
    test = test[["y", "comment", *FEATURES[::-1], "id", "host"]]
    test.to_csv(tmp_path / "test.csv", index=False)
    return tmp_path, test


def test_ids_and_labels_are_never_features(fitted):
    tmp, _ = fitted
    det = load(tmp / "m")
    assert det.feature_names_in_ == FEATURES


def test_score_picks_features_by_name_and_keeps_ids_and_labels(fitted, capsys):
    tmp, test = fitted
    out = tmp / "s.csv"
    args = ["score", str(tmp / "m"), str(tmp / "test.csv"), "--id-column", "host",
            "--id-column", "id", "--label-column", "y", "--out", str(out),
            "--chunksize", "70"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "ignored columns not in the model: ['comment']" in printed.err
    res = pd.read_csv(out)
    assert list(res.columns) == ["host", "id", "score", "is_anomaly", "y"]
    det = load(tmp / "m")
    want = det.decision_function(test[FEATURES])
    np.testing.assert_allclose(res["score"], want, rtol=1e-7)
    np.testing.assert_array_equal(res["is_anomaly"], (want > det.threshold_).astype(int))
    np.testing.assert_array_equal(res["id"], test["id"])
    np.testing.assert_array_equal(res["host"], test["host"])
    np.testing.assert_array_equal(res["y"], test["y"])
    auc = roc_auc_score(test["y"], want)
    assert f"ROC-AUC {auc:.4f}" in printed.out and "average precision" in printed.out


def test_parquet_output_is_parquet(fitted):
    tmp, test = fitted
    out = tmp / "s.parquet"
    args = ["score", str(tmp / "m"), str(tmp / "test.csv"), "--id-column", "id",
            "--drop-column", "host", "--out", str(out), "--chunksize", "100"]  # fmt: skip
    assert main(args) == 0
    res = pd.read_parquet(out)
    assert list(res.columns) == ["id", "score", "is_anomaly"]
    np.testing.assert_allclose(res["score"], load(tmp / "m").decision_function(test[FEATURES]))


def test_bad_output_and_missing_columns_write_nothing(fitted, capsys):
    tmp, test = fitted
    assert main(["score", str(tmp / "m"), str(tmp / "test.csv"), "--out", str(tmp / "s.txt")]) == 1
    assert "choose a .csv, .parquet or .npy" in capsys.readouterr().err
    test.drop(columns=["x3"]).to_csv(tmp / "short.csv", index=False)
    for name in ("s.csv", "s.parquet"):
        args = ["score", str(tmp / "m"), str(tmp / "short.csv"), "--out", str(tmp / name)]
        assert main(args) == 1
        assert "lacks 1 column(s) the model was fitted on: ['x3']" in capsys.readouterr().err
        assert not (tmp / name).exists()
    # a bad row in a later chunk: nothing at all is written
    bad = test.copy()
    bad.loc[250, "x1"] = np.nan
    bad.to_csv(tmp / "bad.csv", index=False)
    args = ["score", str(tmp / "m"), str(tmp / "bad.csv"), "--drop-column", "host",
            "--out", str(tmp / "b.parquet"), "--chunksize", "50"]  # fmt: skip
    assert main(args) == 1
    assert list(tmp.glob("b.parquet*")) == [] and list(tmp.glob(".b.parquet*")) == []


def test_numeric_id_column_is_noted(tmp_path, capsys):
    _table(np.random.default_rng(0), 300).drop(columns=["host"]).to_csv(
        tmp_path / "t.csv", index=False
    )
    args = ["fit", str(tmp_path / "t.csv"), "--model", "ae", "--epochs", "1",
            "--label-column", "y", "--out", str(tmp_path / "m"), "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert "['id'] look like identifiers" in capsys.readouterr().err
    assert "id" in load(tmp_path / "m").feature_names_in_  # noted, never dropped silently


def test_model_knobs_and_config_file(tmp_path):
    _table(np.random.default_rng(0), 400).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "c.json").write_text(json.dumps({"latent_dim": 5, "shrink_threshold": 0.0}))
    args = ["fit", str(tmp_path / "t.csv"), "--model", "memae", "--epochs", "1",
            "--config", str(tmp_path / "c.json"), "--hidden-dims", "16,8",
            "--memory-size", "12", "--id-column", "host", "--id-column", "id",
            "--label-column", "y", "--out", str(tmp_path / "m"), "--quiet"]  # fmt: skip
    assert main(args) == 0
    params = load(tmp_path / "m").get_params()
    assert params["hidden_dims"] == (16, 8) and params["memory_size"] == 12
    assert params["latent_dim"] == 5 and params["shrink_threshold"] == 0.0
    args[args.index("--config") + 1 : args.index("--config") + 2] = [str(tmp_path / "t.csv")]
    assert main(args) == 1  # not JSON


def test_label_column_must_be_binary(fitted, capsys):
    tmp, _ = fitted
    args = ["score", str(tmp / "m"), str(tmp / "test.csv"), "--label-column", "x0",
            "--drop-column", "host", "--drop-column", "id", "--drop-column", "y",
            "--out", str(tmp / "s.csv")]  # fmt: skip
    assert main(args) == 1
    assert "0 (normal) / 1 (anomaly)" in capsys.readouterr().err
