"""scikit-learn's estimator checks, for every registered detector with tiny settings.

Three checks are expected to fail, each for a stated reason (they run as xfail, so a
check that starts passing is reported):

- ``check_outliers_train`` and ``check_outliers_fit_predict`` demand scikit-learn's
  outlier conventions: ``predict`` in {-1, +1} and a ``decision_function`` that is
  positive for inliers. memae keeps PyOD's: ``predict`` / ``labels_`` in {0, 1} and
  ``decision_function`` higher = more anomalous (``score_samples`` has scikit-learn's
  sign). Users of both libraries compare those directly.
- ``check_methods_subset_invariance`` (CompactVAE, DAGMM, MemAE): float32 kernels give
  a row's code a value that differs in the last bits with the batch it is in (the
  first ``Linear`` already differs by 1e-7 between a batch of 20 rows and one of 2),
  and the k-NN log-radius (CompactVAE's hole score) and the mixture energy (DAGMM)
  amplify that to about 1e-6 relative, above the check's 1e-7. MemAE's tiny model
  lands at 2e-7 since the fused memory path (issue 20) changed its trained weights in
  the last bits; the AE's stays below 1e-7 by chance. Scores of the same rows in the
  same batches are bit-identical (tests/test_pinned.py).
"""

from __future__ import annotations

import inspect
import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from memae import registry

_TINY = {
    "epochs": 2,
    "hidden_dims": (8,),
    "latent_dim": 2,
    "batch_size": 64,
    "random_state": 0,
    "n_reference": 50,
    "n_neighbors": 3,
}
_CONVENTION = "memae follows PyOD: predict in {0, 1} and decision_function higher = more anomalous"
_BATCHING = "float32 codes vary in the last bits with the batch; the score amplifies it"


def _tiny(cls: type):
    sig = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in _TINY.items() if k in sig})


def _expected(estimator) -> dict[str, str]:
    out = {"check_outliers_train": _CONVENTION, "check_outliers_fit_predict": _CONVENTION}
    if type(estimator).__name__ in ("CompactVAE", "DAGMM", "MemAE"):
        out["check_methods_subset_invariance"] = _BATCHING
    return out


_DETECTORS = [
    _tiny(cls) for cls in registry.detectors().values() if cls.__module__.startswith("memae.")
]


@parametrize_with_checks(_DETECTORS, expected_failed_checks=_expected)
def test_sklearn_compatible(estimator, check) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def test_every_detector_is_checked() -> None:
    names = {type(d).__name__ for d in _DETECTORS}
    assert {"AutoEncoder", "MemAE", "LatentNormAE", "VAE", "CompactVAE", "DAGMM"} <= names
