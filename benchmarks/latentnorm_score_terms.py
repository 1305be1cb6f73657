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
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.leaderboard import _load, methods
from benchmarks.runners.report import environment, write_results
from memae.datasets import ODDS_NAMES
from memae.evaluation import normal_split


def terms(dataset: str, seed: int, data: str | None, beta: float | None) -> dict[str, float]:
    X, y = _load(dataset, data)
    train, test = normal_split(y, seed)
    det = methods(False)["LatentNormAE"](seed)
    if beta is not None:  # the ablation: beta = 0 keeps only the ||x - x_hat|| objective
        det.set_params(beta=beta)
    det.fit(X[train])
    parts, code = det.feature_scores(X[test], return_remainder=True)
    recon = parts.sum(axis=1)
    return {
        "auc": float(roc_auc_score(y[test], recon + code)),
        "auc_reconstruction": float(roc_auc_score(y[test], recon)),
        "auc_code_norm": float(roc_auc_score(y[test], code)),
        "code_share": float(np.median(code / (recon + code))),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="data folder holding odds/")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..K-1 (the leaderboard: 5)")
    parser.add_argument("--beta", type=float, default=None, help="default: the detector's (1.0)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    stem = "latentnorm-score-terms" + ("" if args.beta is None else f"-beta{args.beta:g}")
    rows = {}
    for name in ODDS_NAMES:
        runs = [terms(name, s, args.data, args.beta) for s in range(args.seeds)]
        rows[name] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        print(name, rows[name], flush=True)
    mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in next(iter(rows.values()))}
    results = {
        "environment": environment("python benchmarks/latentnorm_score_terms.py", argv),
        "seeds": args.seeds,
        "beta": 1.0 if args.beta is None else args.beta,
        "datasets": rows,
        "mean": mean,
    }
    lines = [
        f"LatentNormAE (defaults, beta = {results['beta']:g}) on ODDS, ROC-AUC of its score and "
        f"of each term of the same fit (mean over {args.seeds} seeds; "
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
