import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

import memae
from memae import AutoEncoder, MemAE, ModelFileError, load

FAST = dict(epochs=3, batch_size=64, hidden_dims=(16, 8), latent_dim=3, random_state=0)


@pytest.fixture()
def saved(planted, tmp_path):
    det = MemAE(contamination=0.07, **FAST).fit(planted[0])
    det.save(tmp_path / "model")
    return det, tmp_path / "model"


@pytest.mark.parametrize("cls", [AutoEncoder, MemAE])
def test_round_trip_gives_identical_scores(cls, planted, tmp_path):
    X, X_test, _ = planted
    det = cls(**FAST).fit(pd.DataFrame(X, columns=[f"c{i}" for i in range(12)]))
    det.save(tmp_path / "m")
    back = load(tmp_path / "m")
    assert type(back) is cls and back.get_params() == det.get_params()
    np.testing.assert_array_equal(back.decision_function(X_test), det.decision_function(X_test))
    np.testing.assert_array_equal(back.decision_scores_, det.decision_scores_)
    np.testing.assert_array_equal(back.labels_, det.labels_)
    assert back.threshold_ == det.threshold_ and back.feature_names_in_ == det.feature_names_in_
    assert back.history_ == det.history_


def test_files_are_json_and_safetensors(saved):
    _, path = saved
    config = json.loads((path / "config.json").read_text())
    assert config["detector"] == "MemAE" and config["memae_version"] == memae.__version__
    assert config["fitted"]["n_features_in"] == 12
    assert config["params"]["hidden_dims"] == [16, 8]
    assert len(config["fitted"]["preprocessing"]["offset"]) == 12
    header_len = int.from_bytes((path / "weights.safetensors").read_bytes()[:8], "little")
    header = json.loads((path / "weights.safetensors").read_bytes()[8 : 8 + header_len])
    assert "network.memory.weight" in header


def test_loading_never_unpickles(saved, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("unpickling during load")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    assert load(saved[1]).n_features_in_ == 12


def _edit_config(path, fn):
    config = json.loads((path / "config.json").read_text())
    fn(config)
    (path / "config.json").write_text(json.dumps(config))


def test_missing_files(saved, tmp_path):
    _, path = saved
    with pytest.raises(ModelFileError, match="no model directory"):
        load(tmp_path / "nowhere")
    (path / "weights.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"weights\.safetensors is missing"):
        load(path)
    (path / "config.json").unlink()
    with pytest.raises(ModelFileError, match=r"config\.json is missing"):
        load(path)


def test_truncated_or_tampered_weights(saved):
    _, path = saved
    blob = (path / "weights.safetensors").read_bytes()
    (path / "weights.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelFileError, match="truncated, damaged or was altered"):
        load(path)
    flipped = bytearray(blob)
    flipped[-5] ^= 0xFF
    (path / "weights.safetensors").write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError, match="checksum"):
        load(path)


def test_truncated_or_tampered_config(saved):
    _, path = saved
    text = (path / "config.json").read_text()
    (path / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(path)
    (path / "config.json").write_text(text)
    _edit_config(path, lambda c: c["params"].update(latent_dim=5))
    with pytest.raises(ModelFileError, match="does not fit the MemAE network"):
        load(path)
    (path / "config.json").write_text(text)
    _edit_config(path, lambda c: c["params"].update(evil=1))
    with pytest.raises(ModelFileError, match="invalid parameters"):
        load(path)
    (path / "config.json").write_text(text)
    _edit_config(path, lambda c: c.update(detector="os.system"))
    with pytest.raises(ModelFileError, match="unknown detector class"):
        load(path)
    (path / "config.json").write_text(text)
    _edit_config(path, lambda c: c["fitted"]["preprocessing"].update(scale=[1.0]))
    with pytest.raises(ModelFileError, match="invalid fitted state"):
        load(path)


def test_unknown_format_version(saved):
    _, path = saved
    _edit_config(path, lambda c: c.update(format_version=99))
    with pytest.raises(ModelFileError, match="format version 99"):
        load(path)


def test_unfitted_cannot_be_saved(tmp_path):
    with pytest.raises(memae.NotFittedError):
        MemAE().save(tmp_path / "x")
