"""One contract for every registered detector (issue 18): memae's own and a user's.

The detectors are read from :mod:`memae.registry`, so a new detector is covered
here as soon as its class exists. ``examples/linear_ae.py`` (the README's
"a detector of your own") is imported as a user would, from its own folder.
"""

from __future__ import annotations

import ast
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

import memae
from memae import BaseDetector, NotFittedError, registry
from memae.cli import main

from .conftest import same_weights

EXAMPLES = Path(__file__).parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
import linear_ae  # noqa: E402 - a user's module, registered on import

SMALL = dict(epochs=6, batch_size=64, hidden_dims=(16, 8), latent_dim=3, random_state=0)
DETECTORS = registry.detectors()
assert {"AutoEncoder", "MemAE", "LatentNormAE", "VAE", "CompactVAE", "LinearAE"} <= set(DETECTORS)


def make(cls: type, **extra) -> BaseDetector:
    """``cls`` with small settings (those of ``SMALL`` that it takes)."""
    params = cls().get_params()
    return cls(**{k: v for k, v in {**SMALL, **extra}.items() if k in params})


@pytest.fixture(scope="module", params=sorted(DETECTORS))
def fitted(request, planted):
    cls = DETECTORS[request.param]
    return make(cls, contamination=0.05).fit(planted[0])


def test_registry_drives_cli_presets_and_loading():
    keys = registry.model_keys()
    assert {"memae", "ae", "latentnorm", "vae", "compactvae", "linear-ae"} <= set(keys)
    assert all(cls.model_key == key for key, cls in keys.items())
    from memae.presets import PRESETS

    for preset in PRESETS.values():  # every preset column is a registered detector
        assert set(preset.per_model) <= set(keys)
    assert registry.resolve("linear_ae:LinearAE") is linear_ae.LinearAE
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        registry.resolve("nope")
    with pytest.raises(ValueError, match="not a registered memae detector"):
        registry.resolve("json:JSONDecoder")


def test_abstract_methods_are_enforced_and_abstract_bases_not_registered():
    class Half(BaseDetector):  # no _loss, no _score_batch
        def _build_network(self, sample_shape):
            return None

    with pytest.raises(TypeError, match="abstract"):
        Half()
    assert "Half" not in registry.detectors()

    class Helper(linear_ae.LinearAE, register=False):  # concrete, kept out on request
        pass

    assert "Helper" not in registry.detectors() and Helper().get_params()


def test_a_second_class_cannot_take_a_registered_name():
    with pytest.raises(ValueError, match="already registered"):
        type("MemAE", (linear_ae.LinearAE,), {"__module__": "elsewhere"})


def test_api_and_planted_anomalies(fitted, planted):
    X, X_test, y_test = planted
    scores = fitted.decision_function(X_test)
    assert scores.shape == (len(X_test),) and scores.dtype == np.float64
    assert roc_auc_score(y_test, scores) > 0.9, type(fitted).__name__
    np.testing.assert_array_equal(fitted.score_samples(X_test), -scores)
    np.testing.assert_array_equal(fitted.predict(X_test), (scores > fitted.threshold_).astype(int))
    assert fitted.decision_scores_.shape == (len(X),)
    assert fitted.threshold_ == pytest.approx(np.quantile(fitted.decision_scores_, 0.95))
    assert abs(fitted.labels_.mean() - 0.05) < 0.01
    assert len(fitted.history_) >= 1 and fitted.seed_ == 0


def test_params_only_constructor_and_clone(fitted):
    cls = type(fitted)
    det = cls()
    shared = _shared_params()
    # only parameters: its own, and BaseDetector's shared ones it leaves at their defaults
    assert set(det.get_params()) <= set(vars(det)) <= set(det.get_params()) | shared
    if cls.__module__.startswith("memae."):
        assert set(vars(det)) == set(det.get_params())
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params() and not hasattr(twin, "network_")
    with pytest.raises(NotFittedError, match="not fitted"):
        twin.decision_function(np.zeros((2, 12)))
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    from sklearn.utils.validation import check_is_fitted

    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(twin)
    check_is_fitted(fitted)


def _shared_params() -> set[str]:
    import inspect

    return set(inspect.signature(BaseDetector.__init__).parameters) - {"self"}


def test_random_state_gives_bit_identical_fits(fitted, planted):
    again = clone(fitted).fit(planted[0])
    assert same_weights(again.network_, fitted.network_)
    np.testing.assert_array_equal(again.decision_scores_, fitted.decision_scores_)
    other = clone(fitted).set_params(random_state=1).fit(planted[0])
    assert not np.array_equal(other.decision_scores_, fitted.decision_scores_)


def test_save_load_round_trip(fitted, planted, tmp_path):
    X_test = planted[1]
    fitted.save(tmp_path / "m")
    back = memae.load(tmp_path / "m")
    assert type(back) is type(fitted) and back.get_params() == fitted.get_params()
    np.testing.assert_array_equal(back.decision_function(X_test), fitted.decision_function(X_test))
    for name in ("decision_scores_", "labels_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(fitted, name))
    assert back.threshold_ == fitted.threshold_ and back.history_ == fitted.history_
    assert back.best_epoch_ == fitted.best_epoch_ and back.selection_ == fitted.selection_


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.full((3, 12), np.nan), "NaN"),
        (np.zeros((3, 5)), "has 5 features, but .* is expecting 12 features as input"),
        (np.zeros((0, 12)), "empty"),
        (np.zeros(12), "reshape"),
        ([["a"] * 12] * 2, "non-numeric"),
    ],
)
def test_bad_input_raises_a_clear_error(fitted, X, message):
    with pytest.raises(ValueError, match=message):
        fitted.decision_function(X)


def test_user_detector_from_the_cli(tmp_path, monkeypatch, planted, capsys):
    X, X_test, _ = planted
    names = [f"f{i}" for i in range(12)]
    pd.DataFrame(X, columns=names).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(X_test, columns=names).to_csv(tmp_path / "test.csv", index=False)
    monkeypatch.chdir(EXAMPLES)  # as a user in their project folder
    args = ["fit", str(tmp_path / "train.csv"), "--model", "linear_ae:LinearAE"]
    assert main([*args, "--out", str(tmp_path / "m"), "--random-state", "0", "--quiet"]) == 0
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["detector"] == "LinearAE" and config["detector_module"] == "linear_ae"
    out = tmp_path / "s.csv"
    assert main(["score", str(tmp_path / "m"), str(tmp_path / "test.csv"), "--out", str(out)]) == 0
    scores = pd.read_csv(out)["score"].to_numpy()
    np.testing.assert_allclose(scores, memae.load(tmp_path / "m").decision_function(X_test))
    assert main(["fit", str(tmp_path / "train.csv"), "--model", "nope", "--out", "x"]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_loading_an_unregistered_class_names_its_module(tmp_path, planted):
    det = make(linear_ae.LinearAE).fit(planted[0][:200])
    det.save(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    config = json.loads(path.read_text())
    config["detector"], config["detector_module"] = "Unseen", "their_module"
    path.write_text(json.dumps(config))
    with pytest.raises(memae.ModelFileError, match="import that module first"):
        memae.load(tmp_path / "m")


def test_no_import_cycle():
    """Walk the module-level imports of every module in ``memae``: no cycle."""
    root = Path(memae.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps = set()
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                base = node.module
                deps |= {f"{base}.{a.name}" for a in node.names} | {base}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        # A module's own parent packages are imported before it anyway: not a cycle.
        parents = {".".join(parts[:i]) for i in range(1, len(parts))}
        graph[name] = {d for d in deps if d.startswith("memae") and d not in parents}
    known = set(graph)

    def visit(node: str, stack: list[str]) -> None:
        for dep in graph.get(node, ()):
            if dep not in known or dep == node:
                continue
            assert dep not in stack, f"import cycle: {' -> '.join([*stack, dep])}"
            visit(dep, [*stack, dep])

    for module in sorted(known):
        visit(module, [module])


def test_import_memae_loads_no_benchmark_code_nor_pyod():
    import subprocess

    code = (
        "import sys, memae, memae.cli; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('benchmarks', 'pyod')]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_benchmark_from_a_plain_install_says_where_the_runners_are(monkeypatch, capsys):
    import memae.cli

    monkeypatch.setattr(memae.cli, "__file__", "/site-packages/memae/cli.py")  # no clone
    assert main(["benchmark", "kdd", "--quick"]) == 1
    err = capsys.readouterr().err
    assert "not part of the installed package" in err and "pip install -e ." in err


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"epochs": 2.5}, r"'epochs' parameter of .* must be an int in the range \[1, inf\)"),
        ({"epochs": "2"}, "'epochs' parameter"),
        ({"contamination": None}, r"'contamination' parameter .* \(0.0, 0.5\]. Got None"),
        ({"weight_decay": -1}, "'weight_decay' parameter"),
        ({"lr": float("inf")}, "'lr' parameter"),
        ({"random_state": -1}, "'random_state' parameter"),
        ({"verbose": 5}, "'verbose' parameter"),
    ],
)
def test_parameters_are_checked_up_front_by_declared_constraints(fitted, params, message):
    from memae.constraints import InvalidParameterError

    if not set(params) <= set(fitted.get_params()):
        pytest.skip(f"{type(fitted).__name__} does not take {sorted(params)}")
    det = clone(fitted).set_params(**params)
    with pytest.raises(InvalidParameterError, match=message):
        det.fit(np.full((3, 12), np.nan))  # the data would fail too: parameters come first


@pytest.mark.parametrize(
    ("cls", "params", "name"),
    [
        ("MemAE", {"memory_size": 2.5}, "memory_size"),
        ("MemAE", {"temperature": float("nan")}, "temperature"),
        ("MemAE", {"entropy_weight": -1.0}, "entropy_weight"),
        ("MemAE", {"shrink_threshold": 2.0}, "shrink_threshold"),
        ("AutoEncoder", {"l1_weight": -1.0}, "l1_weight"),
        ("VAE", {"beta": float("nan")}, "beta"),
        ("CompactVAE", {"compactification": "cube"}, "compactification"),
        ("DAGMM", {"dropout": 1.0}, "dropout"),
        ("LatentNormAE", {"beta": -2.0}, "beta"),
    ],
)
def test_model_specific_constraints(cls, params, name):
    from memae.constraints import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of {cls}"):
        DETECTORS[cls](**params).fit(np.zeros((20, 3)))


def test_finite_check_per_block(monkeypatch):
    """check_array clears a block by its sum: a sum that overflows float32 on finite
    values is no error, while NaN and +/-inf (whose sum is NaN) are found in every
    block, counted by row and located at the first bad row."""
    import memae.validation as validation

    monkeypatch.setattr(validation, "_CHECK_ELEMENTS", 8)  # blocks of 2 rows of 4 values
    big = np.full((6, 4), 3e38, dtype=np.float32)  # finite; a block's sum is inf
    with np.errstate(over="ignore"):
        assert np.isinf(big[:2].sum())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the overflowing sum is no user-visible warning
        np.testing.assert_array_equal(validation.check_array(big)[0], big)
    bad = np.zeros((6, 4), dtype=np.float32)
    bad[3, 0], bad[3, 1], bad[5, 2] = np.inf, -np.inf, np.nan
    with (
        warnings.catch_warnings(),
        pytest.raises(ValueError, match=r"contains NaN and inf .* in 2 row\(s\), first at row 3"),
    ):
        warnings.simplefilter("error")
        validation.check_array(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_input_raises_as_check_array_does(fitted, planted, value, monkeypatch):
    """Every detector refuses NaN/inf input with check_array's message, whether it checks
    the input first or (AE, MemAE, VAE, LatentNormAE, CompactVAE: :meth:`_nan_propagates`) only once
    a score is not finite; the bad cells sit in a later batch, so a lazy check must find
    them there."""
    import memae.detectors.base as base
    import memae.validation as validation

    X = planted[1].copy()
    X[250, 3] = X[390, 0] = value
    with pytest.raises(ValueError) as expected:
        validation.check_array(X)
    calls = []
    monkeypatch.setattr(
        base, "check_finite", lambda *a: calls.append(1) or validation.check_finite(*a)
    )
    with pytest.raises(ValueError) as got:
        fitted.decision_function(X, batch_size=64)
    assert str(got.value) == str(expected.value) and "in 2 row(s), first at row 250" in str(
        got.value
    )
    # a lazy detector checks the input once, when the batch of row 250 scores non-finite
    assert len(calls) == (1 if fitted._nan_propagates() else 0)
    calls.clear()
    fitted.decision_function(planted[1], batch_size=64)  # finite input: no second pass
    assert calls == []


def test_nan_propagates_is_true_of_the_scores(fitted, planted):
    """A detector that skips the up-front NaN/inf check must score every row holding
    NaN or +/-inf in any one value as non-finite (and leave the other rows finite)."""
    if not fitted._nan_propagates():
        pytest.skip(f"{type(fitted).__name__} checks its input before scoring")
    _assert_nan_propagates(fitted, planted[1])


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        ("VAE", {"score_method": "reconstruction"}),
        ("LatentNormAE", {"beta": 0.0}),  # 0 * an infinite code norm is NaN: still caught
        ("MemAE", {"score_method": "location_l2"}),
        ("CompactVAE", {"score_method": "reconstruction"}),
    ],
)
def test_nan_propagates_under_other_score_settings(planted, cls, params):
    det = make(DETECTORS[cls], epochs=2, **params).fit(planted[0])
    assert det._nan_propagates()
    _assert_nan_propagates(det, planted[1])


def test_compact_vae_hole_score_checks_its_input_first(planted):
    det = make(DETECTORS["CompactVAE"], epochs=2, score_method="hole").fit(planted[0])
    assert not det._nan_propagates()
    with pytest.raises(ValueError, match="NaN"):
        det.decision_function(np.full((3, 12), np.nan))


def _assert_nan_propagates(det: BaseDetector, X_test: np.ndarray) -> None:
    X = np.repeat(X_test[:4], 3 * 12, axis=0)
    for i, (value, col) in enumerate((v, c) for v in (np.nan, np.inf, -np.inf) for c in range(12)):
        X[4 * i + (i % 4), col] = value  # one bad value in each group of 4 rows
    bad = ~np.isfinite(X).all(axis=1)
    with pytest.raises(FloatingPointError):
        det._scores(X)  # the unchecked path's scores, before any input check
    with torch.inference_mode():
        scores = np.concatenate([det._score_batch(det.network_, b).numpy()
                                 for _, b in det._batches(X, 64)])  # fmt: skip
    np.testing.assert_array_equal(~np.isfinite(scores), bad)


def test_finite_input_beyond_float32_still_names_the_range():
    """Finite input whose scores overflow passes the lazy input check and is reported
    as out of range (FloatingPointError), as before the check became lazy."""
    rng = np.random.default_rng(0)
    det = memae.AutoEncoder(**SMALL, preprocessing=None).fit(rng.normal(size=(300, 12)))
    X = rng.normal(size=(10, 12)).astype(np.float32)
    X[7] = 3e38
    with pytest.raises(FloatingPointError, match=r"for 1 row\(s\) \(first: \[7\]\).*range"):
        det.decision_function(X)
