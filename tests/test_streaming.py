"""Out-of-core input: chunked reading, chunked scoring, training on a memory map."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest

import memae
from memae.cli import main
from memae.readers import TableReadError, iter_table, read_table

from .conftest import same_weights


@pytest.fixture(scope="module")
def model(kdd_slice):
    X_train = kdd_slice[0]
    return memae.MemAE.from_preset("kdd", epochs=2, batch_size=256, random_state=0).fit(X_train)


@pytest.fixture(scope="module")
def files(kdd_slice, tmp_path_factory):
    X = kdd_slice[1]
    tmp = tmp_path_factory.mktemp("stream")
    np.save(tmp / "x.npy", X)
    np.save(tmp / "x_fortran.npy", np.asfortranarray(X))
    np.savez_compressed(tmp / "x.npz", rows=X)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame.to_parquet(tmp / "x.parquet", row_group_size=700)
    labelled = frame.copy()
    labelled.insert(3, "label", 1)
    labelled.to_csv(tmp / "x.csv.gz", index=False)
    pd.DataFrame(X).to_csv(tmp / "noheader.csv", index=False, header=False)
    return tmp, X


@pytest.mark.parametrize(
    "name, label",
    [("x.npy", None), ("x_fortran.npy", None), ("x.npz", None), ("x.parquet", None),
     ("x.csv.gz", "label"), ("noheader.csv", None)],
)  # fmt: skip
def test_iter_table_yields_the_file_in_order(files, name, label):
    tmp, X = files
    chunks = list(iter_table(tmp / name, chunksize=333, label_column=label))
    assert [len(c) for c in chunks[:-1]] == [333] * (len(chunks) - 1)
    whole = np.concatenate([np.asarray(c, dtype=np.float32) for c in chunks])
    np.testing.assert_array_equal(whole, X)
    np.testing.assert_array_equal(np.asarray(read_table(tmp / name, label), np.float32), X)


@pytest.mark.parametrize("chunksize", [1, 333, 5000])
def test_chunked_scores_equal_in_memory_scores_exactly(model, files, chunksize):
    tmp, X = files
    full = model.decision_function(X, batch_size=250)
    for source in (tmp / "x.npy", str(tmp / "x.parquet"), X, iter([X[:7], X[7:]])):
        blocks = list(model.iter_scores(source, chunksize=chunksize, batch_size=250))
        np.testing.assert_array_equal(np.concatenate(blocks), full)
    # the default batch size too, and CSV with a label column to drop
    got = np.concatenate(list(model.iter_scores(tmp / "x.csv.gz", label_column="label")))
    np.testing.assert_array_equal(got, model.decision_function(X))


def test_npy_scoring_memory_is_bounded_by_the_chunk(model, tmp_path):
    big = np.random.default_rng(0).random((40_000, 118), dtype=np.float32)  # 18.9 MB
    np.save(tmp_path / "big.npy", big)
    del big
    tracemalloc.start()
    try:
        blocks = model.iter_scores(tmp_path / "big.npy", chunksize=1000, batch_size=500)
        n = sum(len(s) for s in blocks)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == 40_000
    # numpy buffers (traced) stay a few chunks of 1000 x 118 floats, far below the file;
    # memory is bounded by max(chunksize, batch_size) rows
    assert peak < 4e6, peak


def test_fit_on_a_memory_map_equals_fit_in_memory(kdd_slice, tmp_path):
    X_train = kdd_slice[0][:3000]
    np.save(tmp_path / "train.npy", X_train)
    mm = np.load(tmp_path / "train.npy", mmap_mode="r")
    kw = dict(epochs=2, batch_size=256, random_state=0)
    a = memae.MemAE.from_preset("kdd", **kw).fit(mm)
    b = memae.MemAE.from_preset("kdd", **kw).fit(X_train)
    assert same_weights(a.network_, b.network_)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)


def test_bad_chunks_are_named(model, files, tmp_path):
    tmp, X = files
    bad = X.copy()
    bad[1500, 4] = np.nan
    with pytest.raises(ValueError, match=r"chunk from row 1000\) contains NaN .* first at row 500"):
        list(model.iter_scores(bad, chunksize=1000))
    with pytest.raises(ValueError, match="117 features"):
        list(model.iter_scores(X[:, :117]))
    with pytest.raises(ValueError, match="empty"):
        list(model.iter_scores(iter([])))
    with pytest.raises(ValueError, match="chunksize"):
        list(model.iter_scores(X, chunksize=0))
    with pytest.raises(ValueError, match="iterator of chunks"):
        list(model.iter_scores(3.5))
    with pytest.raises(FileNotFoundError, match="no such file"):
        list(iter_table(tmp / "missing.npy"))
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(TableReadError, match=r"unsupported file type \.json"):
        list(iter_table(tmp_path / "x.json"))
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2), np.float32))
    with pytest.raises(TableReadError, match="not a 2-D table"):
        list(iter_table(tmp_path / "cube.npy"))


def test_cli_score_streams_and_matches(model, files, tmp_path):
    tmp, X = files
    model.save(tmp_path / "m")
    full = model.decision_function(X)
    assert main(["score", str(tmp_path / "m"), str(tmp / "x.npy"), "--chunksize", "123",
                 "--out", str(tmp_path / "s.npy")]) == 0  # fmt: skip
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), full)
    assert not list(tmp_path.glob("*.part"))
    assert main(["score", str(tmp_path / "m"), str(tmp / "x.parquet"), "--chunksize", "500",
                 "--out", str(tmp_path / "s.csv")]) == 0  # fmt: skip
    out = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(out[:, 0], full, rtol=1e-7)
    np.testing.assert_array_equal(out[:, 1], full > model.threshold_)
