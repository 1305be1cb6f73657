import numpy as np
import pandas as pd
import pytest

from memae.datasets import DataNotFoundError, load_kdd, load_kdd_raw
from memae.datasets.kdd import KDD_CATEGORICAL, KDD_COLUMNS
from memae.evaluation import kdd_metrics, kdd_split

from .conftest import data_root


def test_kdd_npz(kdd):
    X, y = kdd
    assert X.shape == (494021, 118) and X.dtype == np.float32
    assert y.sum() == 97278  # original `normal.` rows: the protocol's anomalies


def test_kdd_raw_is_the_raw_table_with_the_npz_rows(kdd):
    X_npz, y_npz = kdd
    X, y = load_kdd_raw(data_root())
    assert X.shape == (494021, 41) and list(X.columns) == KDD_COLUMNS[:-1]
    np.testing.assert_array_equal(y, y_npz)
    text = [c for c, dt in X.dtypes.items() if dt.kind == "O"]
    assert text == KDD_CATEGORICAL
    # the npz's one-hot blocks are the raw file's categories, in sorted order
    assert sum(X[c].nunique() for c in text) == 80
    assert (X_npz[:, :3].argmax(axis=1) == pd.Categorical(X["protocol_type"]).codes).all()


def test_kdd_raw_rejects_a_file_of_another_format(tmp_path):
    bad = tmp_path / "traffic.csv"
    bad.write_text("1,tcp,http\n2,udp,dns\n")
    with pytest.raises(ValueError, match="has 3 columns; a KDD'99 file has 42"):
        load_kdd_raw(bad)


def test_missing_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMAE_DATA", str(tmp_path / "nothing"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataNotFoundError, match="looked in") as err:
        load_kdd()
    assert str(tmp_path / "nothing" / "kdd" / "kdd_cup.npz") in str(err.value)
    with pytest.raises(DataNotFoundError, match="MEMAE_DATA"):
        load_kdd(tmp_path / "elsewhere.npz")


def test_memae_data_env_is_used(monkeypatch, tmp_path, kdd):
    monkeypatch.setenv("MEMAE_DATA", str(data_root()))
    monkeypatch.chdir(tmp_path)
    assert load_kdd()[0].shape == (494021, 118)


def test_kdd_split_follows_the_protocol():
    y = np.r_[np.zeros(80, int), np.ones(20, int)]
    train, test = kdd_split(y, seed=0)
    assert len(train) == 40 and (y[train] == 0).all()
    assert len(test) == 60 and y[test].sum() == 20
    assert not set(train) & set(test)
    assert not np.array_equal(kdd_split(y, seed=1)[0], train)


def test_kdd_metrics_hand_checked():
    # pooled scores 0..9; the 80th percentile is 7.2 -> test rows 8 and 9 flagged
    train = np.array([0.0, 1, 2, 3, 4])
    test = np.array([5.0, 6, 7, 8, 9])
    y_test = np.array([0, 0, 1, 1, 1])
    m = kdd_metrics(train, test, y_test)
    assert m["threshold"] == pytest.approx(7.2)
    assert m["precision"] == 1.0 and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(0.8)
    assert m["roc_auc"] == 1.0
