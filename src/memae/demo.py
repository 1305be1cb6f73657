"""``memae demo``: one-class digits with AE vs MemAE, on data bundled with scikit-learn."""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from memae import AutoEncoder, MemAE


def run_demo(epochs: int = 60, seed: int = 0, digits: list[int] | None = None) -> dict:
    """For each digit: train on 70% of its images, test on the rest plus all other digits.

    Prints a table of ROC-AUC per digit for AE, MemAE and IsolationForest and returns
    ``{method: [auc per digit]}``.
    """
    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities 0..16 -> [0, 1]
    classes = digits if digits is not None else list(range(10))
    common = dict(
        hidden_dims=(32, 16), latent_dim=8, activation="tanh", preprocessing=None,
        epochs=epochs, batch_size=32, validation_fraction=0.0, random_state=seed,
    )  # fmt: skip
    models = {
        "AE": lambda: AutoEncoder(**common),
        "MemAE": lambda: MemAE(memory_size=50, **common),
        "IsolationForest": lambda: IsolationForest(random_state=seed),
    }
    aucs: dict[str, list[float]] = {name: [] for name in models}
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    print(
        f"memae demo: one-class handwritten digits (sklearn.datasets.load_digits, {len(X)} "
        "images 8x8)\nnormal = one digit (70% of its images for training), anomalies = all "
        "other digits; ROC-AUC on the held-out set\n"
    )
    print(f"{'digit':>5} " + " ".join(f"{name:>15}" for name in models))
    for c in classes:
        idx = rng.permutation(np.flatnonzero(y == c))
        n_train = int(0.7 * len(idx))
        train = idx[:n_train]
        test = np.concatenate([idx[n_train:], np.flatnonzero(y != c)])
        y_test = (y[test] != c).astype(int)
        row = []
        for name, make in models.items():
            det = make().fit(X[train])
            scores = (
                -det.score_samples(X[test])
                if name == "IsolationForest"
                else det.decision_function(X[test])
            )
            aucs[name].append(roc_auc_score(y_test, scores))
            row.append(aucs[name][-1])
        print(f"{c:>5} " + " ".join(f"{v:>15.4f}" for v in row))
    print(f"{'mean':>5} " + " ".join(f"{np.mean(v):>15.4f}" for v in aucs.values()))
    print(
        f"\n{time.perf_counter() - start:.1f} s on {_device()}. Next: 'memae fit --help', "
        "'memae benchmark kdd --quick'."
    )
    return aucs


def _device() -> str:
    import torch

    return "CUDA" if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
