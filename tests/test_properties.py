"""Property-based tests (issue 19, item 8): the input validator, the model-config
schema and the CSV reader, over generated inputs, with a bounded example count."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import memae
from memae.readers import read_table
from memae.validation import check_array

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@SETTINGS
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), elements=floats)
)
def test_validator_accepts_exactly_finite_float32_tables(arr):
    """Either a C-contiguous finite float32 copy of the same shape, or a ValueError."""
    with np.errstate(over="ignore"):
        finite32 = bool(np.isfinite(arr.astype(np.float32)).all())
    try:
        out, names = check_array(arr)
    except ValueError:
        assert not (arr.ndim == 2 and arr.size > 0 and finite32)  # a valid table passes
        return
    assert arr.ndim in (2, 3) and out.dtype == np.float32 and out.flags.c_contiguous
    assert out.shape == arr.shape and np.isfinite(out).all() and names is None
    np.testing.assert_array_equal(out, arr.astype(np.float32))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    det = memae.AutoEncoder(epochs=2, hidden_dims=(8,), latent_dim=2, random_state=0).fit(X)
    path = tmp_path_factory.mktemp("m")
    det.save(path)
    return path, json.loads((path / "config.json").read_text())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | floats | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@SETTINGS
@given(
    section=st.sampled_from(["params", "fitted", "top"]),
    key=st.sampled_from(
        [
            "threshold",
            "seed",
            "sample_shape",
            "n_features_in",
            "preprocessing",
            "history",
            "latent_dim",
            "epochs",
            "hidden_dims",
            "contamination",
            "detector",
            "weights_sha256",
            "weights_file",
            "format_version",
        ]
    ),
    value=json_values,
)
def test_an_edited_config_loads_or_raises_model_file_error(saved, section, key, value):
    """Whatever one value is changed to, load returns a working model or raises
    ModelFileError: never another exception."""
    path, config = saved
    edited = json.loads(json.dumps(config))
    (edited if section == "top" else edited[section])[key] = value
    (path / "config.json").write_text(json.dumps(edited))
    try:
        det = memae.load(path)
    except memae.ModelFileError:
        return
    finally:
        (path / "config.json").write_text(json.dumps(config))
    assert np.isfinite(det.threshold_)
    X = np.zeros((2, det.n_features_in_), np.float32)
    with contextlib.suppress(ValueError, FloatingPointError):  # a clear error, not a crash
        det.decision_function(X)


@SETTINGS
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(1, 5)),
        elements=st.floats(-1e6, 1e6, allow_nan=False, width=32),
    ),
    st.booleans(),
)
def test_csv_round_trip_with_or_without_a_header(tmp_path_factory, arr, header):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    pd.DataFrame(arr).to_csv(path, index=False, header=header)
    back = np.asarray(read_table(path), dtype=np.float64)
    np.testing.assert_allclose(back, arr, rtol=1e-6)
