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
    weights = path / config["weights_file"]  # named by its checksum
    assert weights.name == f"weights-{config['weights_sha256'][:16]}.safetensors"
    header_len = int.from_bytes(weights.read_bytes()[:8], "little")
    header = json.loads(weights.read_bytes()[8 : 8 + header_len])
    assert "network.memory.weight" in header


def test_loading_never_unpickles(saved, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("unpickling during load")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    assert load(saved[1]).n_features_in_ == 12


def _weights(path):
    return path / json.loads((path / "config.json").read_text())["weights_file"]


def _edit_config(path, fn):
    config = json.loads((path / "config.json").read_text())
    fn(config)
    (path / "config.json").write_text(json.dumps(config))


def test_missing_files(saved, tmp_path):
    _, path = saved
    with pytest.raises(ModelFileError, match="no model directory"):
        load(tmp_path / "nowhere")
    _weights(path).unlink()
    with pytest.raises(ModelFileError, match=r"weights-[0-9a-f]{16}\.safetensors is missing"):
        load(path)
    (path / "config.json").unlink()
    with pytest.raises(ModelFileError, match=r"config\.json is missing"):
        load(path)


def test_truncated_or_tampered_weights(saved):
    _, path = saved
    weights = _weights(path)
    blob = weights.read_bytes()
    weights.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelFileError, match="truncated, damaged or was altered"):
        load(path)
    flipped = bytearray(blob)
    flipped[-5] ^= 0xFF
    weights.write_bytes(bytes(flipped))
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


# ------------------------------------------------ atomic, link-safe model directories
def _files(path):
    return sorted(p.name for p in path.iterdir())


STEPS = [
    "weights written",
    "weights renamed",
    "config written",
    "config renamed",
    "previous weights removed",
]


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_write_step_leaves_a_loadable_model(step, planted, tmp_path, monkeypatch):
    X, X_test, _ = planted
    old = MemAE(**FAST).fit(X)
    new = AutoEncoder(**FAST).fit(X[:600])
    path = tmp_path / "model"
    old.save(path)
    (path / "notes.txt").write_text("mine")  # an unrelated file

    def crash(name):
        if name == step:
            raise KeyboardInterrupt(f"killed at {name!r}")

    monkeypatch.setattr(memae.io, "_step", crash)
    with pytest.raises(KeyboardInterrupt):
        new.save(path)
    back = load(path)  # the old model before the config rename, the new one after it
    expected = old if STEPS.index(step) < STEPS.index("config renamed") else new
    assert type(back) is type(expected)
    np.testing.assert_array_equal(
        back.decision_function(X_test), expected.decision_function(X_test)
    )
    assert (path / "notes.txt").read_text() == "mine"
    assert not [n for n in _files(path) if n.endswith(".tmp")]  # no temporary file left
    monkeypatch.undo()
    new.save(path)  # the next save cleans up: one config, one weights file, the notes
    assert _files(path) == sorted(["config.json", _weights(path).name, "notes.txt"])


def test_load_while_another_thread_saves_sees_old_or_new(planted, tmp_path):
    import threading

    X = planted[0]
    models = [MemAE(**FAST).fit(X), AutoEncoder(**FAST).fit(X[:500])]
    path = tmp_path / "model"
    models[0].save(path)
    expected = {len(m.decision_scores_): m.decision_scores_ for m in models}
    stop, errors = threading.Event(), []

    def saver():
        i = 0
        while not stop.is_set():
            models[i % 2].save(path)
            i += 1

    thread = threading.Thread(target=saver)
    thread.start()
    try:
        for _ in range(60):
            try:
                back = load(path)
            except ModelFileError as exc:  # pragma: no cover - what this test forbids
                errors.append(exc)
                continue
            np.testing.assert_array_equal(
                back.decision_scores_, expected[len(back.decision_scores_)]
            )
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[:3]


def test_symlinks_are_refused(planted, tmp_path):
    det = AutoEncoder(**FAST).fit(planted[0][:300])
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ModelFileError, match="symbolic link"):
        det.save(tmp_path / "link")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").symlink_to(victim)
    with pytest.raises(ModelFileError, match="symbolic link"):
        det.save(model)
    assert victim.read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelFileError, match="not a directory"):
        det.save(tmp_path / "file")


def test_format_1_files_still_load(tmp_path, planted):
    # format 1 (memae before the atomic save) named the weights weights.safetensors
    det = AutoEncoder(**FAST).fit(planted[0][:300])
    det.save(tmp_path / "m")
    w = _weights(tmp_path / "m")
    w.rename(tmp_path / "m" / "weights.safetensors")
    _edit_config(tmp_path / "m", lambda c: (c.pop("weights_file"), c.update(format_version=1)))
    back = load(tmp_path / "m")
    np.testing.assert_array_equal(back.decision_scores_, det.decision_scores_)
    det.save(tmp_path / "m")  # a format-1 directory upgraded in place, old weights removed
    assert _files(tmp_path / "m") == sorted(["config.json", _weights(tmp_path / "m").name])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["fitted"].update(threshold=float("nan")), "threshold must be finite"),
        (lambda c: c["fitted"].update(threshold=float("-inf")), "threshold must be finite"),
        (lambda c: c["fitted"]["preprocessing"].update(scale=[0.0] * 12), "scale must be positive"),
        (lambda c: c["fitted"].update(sample_shape=[10**9], n_features_in=10**9), "implausible"),
        (lambda c: c["fitted"].update(sample_shape=[5]), "sample_shape"),
        (lambda c: c["fitted"].update(history={"a": 1}), "history must be a list"),
        (lambda c: c["params"].update(shrink_threshold=7.0), "invalid parameters"),
        (lambda c: c["params"].update(epochs="many"), "invalid parameters"),
        (lambda c: c.update(params=[1, 2]), "'params' must be a dict"),
        (lambda c: c.update(fitted="x"), "'fitted' must be a dict"),
        (lambda c: c.update(weights_sha256=3), "'weights_sha256' must be a str"),
        (lambda c: c["fitted"].pop("threshold"), "invalid fitted state"),
        (lambda c: c.update(weights_file="../../etc/passwd"), "invalid weights file"),
    ],
)
def test_every_config_value_is_validated(saved, edit, message):
    # NaN and infinity are written as JSON's NaN / -Infinity, which Python reads back
    _, path = saved
    _edit_config(path, edit)
    with pytest.raises(ModelFileError, match=message):
        load(path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c["params"].update(activation="tanh"),  # same shapes, other network
        lambda c: c["params"].update(shrink_threshold=0.5),
        lambda c: c["fitted"].update(threshold=c["fitted"]["threshold"] * 2),
    ],
)
def test_a_valid_but_edited_config_is_caught(saved, edit):
    _, path = saved
    _edit_config(path, edit)
    with pytest.raises(ModelFileError, match="edited after saving"):
        load(path)


def test_a_deeply_nested_config_is_a_model_file_error(saved):
    _, path = saved
    (path / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(path)
