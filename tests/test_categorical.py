"""Tables with categorical columns: the encoding learned at fit, saved and applied everywhere."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import memae
from memae import AutoEncoder, MemAE, ModelFileError
from memae.cli import main
from memae.encoding import TableEncoder, UnseenCategoryWarning
from memae.validation import NonNumericError

PROTOCOLS = np.array(["tcp", "udp", "icmp"])


def traffic(n: int, seed: int, anomalous: bool = False) -> pd.DataFrame:
    """Each protocol has its own typical duration and byte count; ``anomalous`` rows
    carry another protocol's values (each value alone is normal, the pair is not)."""
    rng = np.random.default_rng(seed)
    proto = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    shown = (proto + rng.integers(1, 3, n)) % 3 if anomalous else proto
    return pd.DataFrame(
        {
            "duration": rng.normal(3.0 * proto, 0.3),
            "bytes": np.round(np.exp(rng.normal(2.0 + 2.0 * proto, 0.2))),
            "protocol": PROTOCOLS[shown],
            "flag": pd.Categorical(rng.choice(["SF", "S0"], n, p=[0.9, 0.1])),
            "urgent": rng.random(n) < 0.5,
        }
    )


PARAMS = {"hidden_dims": (32,), "latent_dim": 3, "epochs": 60, "random_state": 0}


@pytest.fixture(scope="module")
def fitted():
    X = traffic(3000, 0)
    det = AutoEncoder(**PARAMS, log1p=["bytes"]).fit(X)
    return det, X


def test_mixed_columns_are_encoded_and_pairs_of_values_are_learned(fitted):
    det, _ = fitted
    enc = det.encoder_
    assert enc.kinds == ("numeric", "log1p", "categorical", "categorical", "categorical")
    assert enc.categories["protocol"] == ("icmp", "tcp", "udp")
    assert enc.categories["urgent"] == ("False", "True")
    assert det.feature_names_in_ == ["duration", "bytes", "protocol", "flag", "urgent"]
    assert det.n_features_in_ == 5 and det.sample_shape_ == (9,)
    normal, odd = traffic(500, 1), traffic(500, 2, anomalous=True)
    y = np.r_[np.zeros(500), np.ones(500)]
    auc = roc_auc_score(y, det.decision_function(pd.concat([normal, odd])))
    # control: the same network untrained cannot know which values go with which protocol
    untrained = AutoEncoder(**{**PARAMS, "epochs": 2, "lr": 1e-12}, log1p=["bytes"])
    untrained.fit(traffic(3000, 0))
    control = roc_auc_score(y, untrained.decision_function(pd.concat([normal, odd])))
    assert auc > 0.95 and auc > control + 0.2, (auc, control)


def test_column_order_does_not_matter(fitted):
    det, _ = fitted
    X = traffic(300, 3)
    shuffled = X[["urgent", "protocol", "bytes", "flag", "duration"]]
    np.testing.assert_array_equal(det.decision_function(shuffled), det.decision_function(X))
    with pytest.raises(ValueError, match=r"missing \['urgent'\], unexpected \['extra'\]"):
        det.decision_function(X.drop(columns="urgent").assign(extra=1.0))


def test_unseen_categories_warn_and_never_shift_columns(fitted):
    det, _ = fitted
    X = traffic(200, 4)
    X["protocol"] = X["protocol"].astype(object)
    X.loc[:4, "protocol"] = "gre"
    with pytest.warns(UnseenCategoryWarning, match=r"5 category value\(s\).*protocol: 5") as rec:
        scores = det.decision_function(X)
    assert rec[0].message.counts == {"protocol": (5, "gre")}
    assert np.isfinite(scores).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        block = det.encoder_.transform(X)
    proto = slice(*det.encoder_.groups[2][1:])
    assert (block[:5, proto] == 0).all()  # no infrequent bucket: all zeros
    assert (block[5:, proto].sum(axis=1) == 1).all()
    # with min_frequency, rare and unseen values share the infrequent bucket
    enc = TableEncoder.fit(traffic(3000, 0), min_frequency=400)
    assert enc.infrequent["protocol"] == ("icmp",)
    with pytest.warns(UnseenCategoryWarning):
        block = enc.transform(X)
    names = enc.feature_names_out
    assert (block[:5, names.index("protocol=infrequent")] == 1).all()


def test_chunked_and_dask_scoring_equal_in_memory_scoring(fitted, tmp_path):
    det, _ = fitted
    X = traffic(1000, 5)
    whole = det.decision_function(X)
    chunks = np.concatenate(list(det.iter_scores(X, chunksize=77)))
    np.testing.assert_array_equal(chunks, whole)
    X.to_csv(tmp_path / "new.csv", index=False)
    from_file = np.concatenate(list(det.iter_scores(tmp_path / "new.csv", chunksize=100)))
    np.testing.assert_allclose(from_file, whole, rtol=1e-6)  # CSV text round trip
    dd = pytest.importorskip("dask.dataframe")
    memae_dask = pytest.importorskip("memae.dask")
    det.save(tmp_path / "m")
    lazy = memae_dask.score(dd.from_pandas(X, npartitions=4), tmp_path / "m")
    np.testing.assert_allclose(lazy.compute(scheduler="synchronous").to_numpy(), whole, rtol=1e-6)


def test_save_load_round_trip_keeps_the_encoding(fitted, tmp_path):
    det, _ = fitted
    det.save(tmp_path / "m")
    again = memae.load(tmp_path / "m")
    assert again.encoder_ == det.encoder_
    X = traffic(300, 6)
    np.testing.assert_array_equal(again.decision_function(X), det.decision_function(X))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["fitted"]["encoding"]["categories"]["protocol"] == ["icmp", "tcp", "udp"]


def test_a_config_with_tampered_categories_is_refused(fitted, tmp_path):
    det, _ = fitted
    det.save(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    config["fitted"]["encoding"]["categories"]["protocol"] = ["icmp", "udp", "tcp"]
    path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError):
        memae.load(tmp_path / "m")
    # and the checks of the encoding itself, whatever the digest says
    good = det.encoder_.to_config()
    bad_cases = {
        "sorted and distinct": {"protocol": ["udp", "tcp", "icmp"]},
        "list of strings": {"protocol": ["icmp", 7, "udp"]},
    }
    for message, categories in bad_cases.items():
        bad = {**good, "categories": {**good["categories"], **categories}}
        with pytest.raises(ValueError, match=message):
            TableEncoder.from_config(bad)
    fitted_state, tensors = det._get_state()
    fitted_state["encoding"] = {
        **good,
        "categories": {**good["categories"], "protocol": ["icmp", "tcp"]},
    }
    with pytest.raises(ValueError, match="the network takes"):
        AutoEncoder(**PARAMS)._set_state(fitted_state, tensors)


def test_explanations_name_the_original_columns(fitted, tmp_path):
    det, _ = fitted
    X = traffic(50, 7, anomalous=True)
    parts, rest = det.feature_scores(X, return_remainder=True)
    assert parts.shape == (50, 5)
    np.testing.assert_allclose(parts.sum(axis=1) + rest, det.decision_function(X), rtol=2e-5)
    # the planted inconsistency is a protocol that does not match its numbers
    assert set(np.argmax(parts, axis=1)) <= {0, 1, 2}  # duration, bytes or protocol
    pytest.importorskip("matplotlib")
    from memae.plotting import plot_explanation

    out = plot_explanation(det, X, tmp_path / "why.png", n_rows=2)
    assert out.stat().st_size > 5_000


def test_bad_input_is_named():
    X = traffic(300, 8)
    with pytest.raises(NonNumericError, match="non-numeric columns"):
        AutoEncoder(categorical=None, epochs=1).fit(X)
    with pytest.raises(ValueError, match="need a pandas DataFrame"):
        AutoEncoder(log1p=True, epochs=1).fit(np.ones((10, 2)))
    with pytest.raises(ValueError, match="categorical names columns that X lacks"):
        AutoEncoder(categorical=["nope"], epochs=1).fit(X)
    det = MemAE(epochs=1, random_state=0, log1p=True).fit(X)
    assert det.encoder_.kinds[:2] == ("numeric", "log1p")  # duration has negative values
    neg = X.assign(bytes=-1.0)
    with pytest.raises(ValueError, match="column 'bytes' has negative values"):
        det.decision_function(neg)
    with pytest.raises(ValueError, match="column 'duration' has missing values"):
        det.decision_function(X.assign(duration=np.nan))
    with pytest.raises(ValueError, match="cannot take as input"):
        det.export("model.onnx")


def test_cli_fits_and_scores_a_table_with_text_columns(tmp_path, capsys):
    train = traffic(2000, 9)
    train.insert(0, "id", np.arange(len(train)))
    train["port"] = np.where(train["protocol"] == "tcp", 80, 53)
    train.to_csv(tmp_path / "train.csv", index=False)
    new = traffic(100, 10)
    new.insert(0, "id", np.arange(len(new)))
    new["port"] = 443  # a value of an integer column never seen in fit
    new.loc[:2, "protocol"] = "gre"
    new[["port", "protocol", "id", "flag", "urgent", "bytes", "duration"]].to_csv(
        tmp_path / "new.csv", index=False
    )
    main([
        "fit", str(tmp_path / "train.csv"), "--model", "ae", "--out", str(tmp_path / "m"),
        "--epochs", "3", "--random-state", "0", "--quiet", "--id-column", "id",
        "--categorical", "port", "--log1p", "bytes",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert "6 columns (11 features after one-hot encoding)" in out
    det = memae.load(tmp_path / "m")
    assert det.encoder_.categories["port"] == ("53", "80")
    main(["score", str(tmp_path / "m"), str(tmp_path / "new.csv"), "--id-column", "id",
          "--out", str(tmp_path / "s.csv"), "--explain", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert "103 category value(s) not seen in fit" in err and "port: 100" in err
    assert err.count("not seen in fit") == 1  # one note for the whole file
    scores = pd.read_csv(tmp_path / "s.csv")
    assert set(scores["top1_feature"]) <= set(det.feature_names_in_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        expected = det.decision_function(new.drop(columns="id"))
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-6)


def test_kdd_transfer_benchmark_on_a_second_traffic_file(kdd_raw, tmp_path, capsys):
    from benchmarks.runners import kdd_transfer

    from .conftest import data_root

    kdd_transfer.main([])  # no file: it says where to get one, and stops
    assert "skipped: pass --test-file" in capsys.readouterr().out
    X, y = kdd_raw
    rng = np.random.default_rng(1)
    rows = np.r_[rng.choice(np.flatnonzero(y == 1), 1500), rng.choice(np.flatnonzero(y == 0), 500)]
    second = X.iloc[rows].copy()
    second.loc[second.index[:40], "service"] = "new_service"  # values the 10% file never has
    second["label"] = np.where(y[rows] == 1, "normal.", "smurf.")
    second.to_csv(tmp_path / "second.gz", header=False, index=False)
    argv = ["--test-file", str(tmp_path / "second.gz"), "--quick", "--out", str(tmp_path)]
    kdd_transfer.main([*argv, "--data", str(data_root())])
    res = json.loads((tmp_path / "kdd-transfer-quick.json").read_text())
    # by hand: the quick run trains on these 5,000 normal rows; count what they lack
    train = X[y == 1].sample(5000, random_state=0)
    unseen = {
        c: int((~second[c].isin(set(train[c]))).sum())
        for c in ("protocol_type", "service", "flag")
        if (~second[c].isin(set(train[c]))).any()
    }
    assert unseen["service"] >= 40
    for name in ("AE", "MemAE"):
        r = res["results"][name]
        assert r["unseen_values"] == unseen
        assert r["n_inputs"] == 38 + sum(
            train[c].nunique() for c in ("protocol_type", "service", "flag")
        )
        assert 0.5 < r["roc_auc"] <= 1
    assert res["n_test"] == 2000 and res["attack_share"] == 0.25


def test_kdd_benchmark_runs_from_the_raw_file(kdd_raw, tmp_path):
    argv = ["benchmark", "kdd", "--quick", "--source", "raw", "--methods", "AE"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "kdd-raw-quick.json").read_text())
    assert results["source"] == "raw" and set(results["summary"]) == {"AE"}
    assert results["summary"]["AE"]["f1"]["mean"] > 0.5
    assert "from the **raw** 10% file" in (tmp_path / "kdd-raw-quick.md").read_text()
    assert main(["benchmark", "kdd", "--quick", "--source", "raw", "--methods", "KNN"]) != 0


def test_merge_unseen_sums_per_column_over_chunks(fitted):
    """The CLI and the KDD benchmarks add up the warnings of every scored chunk."""
    from memae.encoding import merge_unseen

    det, _ = fitted
    chunks = [traffic(50, s) for s in (5, 6)]
    for chunk, n in zip(chunks, (3, 2), strict=True):
        chunk["protocol"] = chunk["protocol"].astype(object)
        chunk.loc[: n - 1, "protocol"] = "gre" if n == 3 else "igmp"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for chunk in chunks:
            det.decision_function(chunk)
        warnings.warn("unrelated", UserWarning, stacklevel=1)
    assert merge_unseen(caught) == {"protocol": (5, "gre")}  # first example kept
