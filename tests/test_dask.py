"""memae.dask on a real LocalCluster of 2 worker processes."""

import numpy as np
import pandas as pd
import pytest

import memae

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
memae_dask = pytest.importorskip("memae.dask")

# Blocks go through the BLAS with other batch sizes than one in-process call, which may
# round the last float32 bit differently; scores agree to this relative tolerance.
RTOL = 1e-6


@pytest.fixture(scope="module")
def fitted(kdd_slice, tmp_path_factory):
    X_train, X_test, _ = kdd_slice
    det = memae.MemAE.from_preset("kdd", epochs=2, batch_size=256, random_state=0).fit(X_train)
    path = tmp_path_factory.mktemp("dask") / "model"
    det.save(path)
    return det, path, X_test


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


def test_array_scores_equal_in_process_scores_in_order(fitted, client):
    det, path, X = fitted
    scores = memae_dask.score(da.from_array(X, chunks=(300, 59)), path)  # split columns too
    assert scores.shape == (len(X),)
    got = scores.compute()
    np.testing.assert_allclose(got, det.decision_function(X), rtol=RTOL)
    # a worker loads the model from its directory once, however many blocks it scores
    loads = client.run(lambda: memae_dask._load.cache_info().misses)
    assert len(loads) == 2 and all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1


def test_dataframe_scores_keep_index_and_order(fitted, client):
    det, path, X = fitted
    frame = pd.DataFrame(X, index=pd.Index(np.arange(len(X))[::-1] * 3, name="row"))
    ddf = dd.from_pandas(frame, npartitions=4, sort=False)
    series = memae_dask.score(ddf, path).compute()
    assert series.name == "score"
    assert series.index.equals(frame.index)
    np.testing.assert_allclose(series.to_numpy(), det.decision_function(X), rtol=RTOL)


def test_bad_input_and_bad_model_are_named(fitted, tmp_path):
    _, path, X = fitted
    with pytest.raises(ValueError, match=r"117 features.*fitted with 118"):
        memae_dask.score(da.from_array(X[:, :117]), path)
    with pytest.raises(ValueError, match="2-dimensional"):
        memae_dask.score(da.from_array(X[:, 0]), path)
    with pytest.raises(ValueError, match=r"dask\.array\.Array or dask\.dataframe"):
        memae_dask.score(X, path)
    with pytest.raises(memae.ModelFileError, match=r"config\.json"):
        memae_dask.score(da.from_array(X), tmp_path / "nothing-here")
