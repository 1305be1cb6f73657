"""Diagnostic (issue 23): which term of LatentNormAE's score separates the ODDS outliers.

LatentNormAE scores ``||x - x_hat|| + beta ||z||``. For each ODDS dataset and seed of
the leaderboard (same split, same default detector, same fit), this reads both terms
of the same fitted model (:meth:`memae.BaseDetector.feature_scores`: the per-feature
parts sum to ``||x - x_hat||``, the remainder is ``beta ||z||``) and reports the
ROC-AUC of the full score, of the reconstruction term alone and of the code-norm term
alone. Test labels only *explain* the leaderboard's figure; nothing is chosen by them.

Run ``python benchmarks/latentnorm_score_terms.py [--beta 0]``; it writes
``benchmarks/results/latentnorm-score-terms[-beta0].{json,md}``. ``--beta 0`` is the
ablation that keeps LatentNormAE's ``||x - x_hat||`` objective without the norm term.
``--mnist-classes 2 4`` does the same for the one-class MNIST benchmark's LatentNormAE
(the ``mnist`` preset, beta = 1000, seed 0, the whole test set; writes
``latentnorm-score-terms-mnist[-beta0]``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.leaderboard import _load, methods
from benchmarks.runners.report import environment, write_results
from memae.datasets import ODDS_NAMES, load_image_dataset
from memae.evaluation import normal_split


def terms(dataset: str, seed: int, data: str | None, beta: float | None) -> dict[str, float]:
    X, y = _load(dataset, data)
    train, test = normal_split(y, seed)
    return fit_terms(methods(False)["LatentNormAE"](seed), X[train], X[test], y[test], beta)


def mnist_terms(cls: int, data: str | None, beta: float | None) -> dict[str, float]:
    """:func:`terms` for the one-class MNIST benchmark's LatentNormAE (seed 0): trained on
    class ``cls``, scored on the whole test set (the other classes are the anomalies)."""
    from benchmarks.runners import images

    X, y = load_image_dataset("mnist", "train", data)
    Xt, yt = load_image_dataset("mnist", "test", data)
    det = images.methods("mnist", False)["LatentNormAE"](0)
    return fit_terms(det, X[y == cls], Xt, (yt != cls).astype(int), beta)


def fit_terms(det, X_train, X_test, y_test, beta: float | None) -> dict[str, float]:
    """Fit ``det`` (with ``beta`` if given; the ablation beta = 0 keeps only the
    ``||x - x_hat||`` objective) and read the ROC-AUC of its score and of each term."""
    if beta is not None:
        det.set_params(beta=beta)
    det.fit(X_train)
    parts, code = det.feature_scores(X_test, return_remainder=True)
    recon = parts.reshape(len(X_test), -1).sum(axis=1)
    return {
        "auc": float(roc_auc_score(y_test, recon + code)),
        "auc_reconstruction": float(roc_auc_score(y_test, recon)),
        "auc_code_norm": float(roc_auc_score(y_test, code)),
        "code_share": float(np.median(code / (recon + code))),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="data folder holding odds/")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..K-1 (the leaderboard: 5)")
    parser.add_argument("--beta", type=float, default=None, help="default: the detector's (1.0)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--mnist-classes", type=int, nargs="+", default=None,
        help="instead of ODDS: these normal classes of one-class MNIST (seed 0)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    mnist = args.mnist_classes is not None
    stem = "latentnorm-score-terms" + ("-mnist" if mnist else "")
    stem += "" if args.beta is None else f"-beta{args.beta:g}"
    rows = {}
    if mnist:
        for c in args.mnist_classes:
            rows[f"mnist class {c}"] = mnist_terms(c, args.data, args.beta)
            print(c, rows[f"mnist class {c}"], flush=True)
    for name in () if mnist else ODDS_NAMES:
        runs = [terms(name, s, args.data, args.beta) for s in range(args.seeds)]
        rows[name] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        print(name, rows[name], flush=True)
    mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in next(iter(rows.values()))}
    results = {
        "environment": environment("python benchmarks/latentnorm_score_terms.py", argv),
        "seeds": 1 if mnist else args.seeds,
        "beta": (1000.0 if mnist else 1.0) if args.beta is None else args.beta,
        "datasets": rows,
        "mean": mean,
    }
    lines = [
        f"LatentNormAE ({'the mnist preset' if mnist else 'defaults'}, beta = "
        f"{results['beta']:g}) on {'one-class MNIST' if mnist else 'ODDS'}, ROC-AUC of its "
        f"score and of each term of the same fit (mean over {results['seeds']} seed(s); "
        f"`{results['environment']['command']}`):",
        "",
        "| dataset | full score | reconstruction term | code-norm term | median code share |",
        "|---|---|---|---|---|",
    ]
    for name, r in [*rows.items(), ("**mean**", mean)]:
        lines.append(
            f"| {name} | {r['auc']:.3f} | {r['auc_reconstruction']:.3f} | "
            f"{r['auc_code_norm']:.3f} | {r['code_share']:.2f} |"
        )
    md = "\n".join(lines)
    write_results(results, md, args.out, stem)
    print(md)


if __name__ == "__main__":
    main()
