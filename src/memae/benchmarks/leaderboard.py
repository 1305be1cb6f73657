"""One table of every detector on tabular data: the 17 ODDS datasets and Toll's Arrhythmia.

Run ``python benchmarks/leaderboard.py`` (or ``memae benchmark all``). ODDS protocol
(:func:`memae.evaluation.normal_split`): per seed, train on a random 60% of the
normal rows, test on the other normals plus every outlier; ROC-AUC and average
precision, mean over 5 seeds; each method's average rank by ROC-AUC. Arrhythmia
with the Toll protocol (:func:`memae.evaluation.toll_split`): F1 with the top 14.6%
of the test scores flagged. Every detector runs with its defaults, the same on
every dataset; no choice looks at test labels. Results per (part, dataset, method,
seed) are saved in ``--workdir``, so an interrupted run resumes. The image
datasets and KDDCUP99 are not part of this table yet.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score

from memae import VAE, AutoEncoder, CompactVAE, LatentNormAE, MemAE
from memae.baselines import KNNDistance, PCAReconstruction, isolation_forest, one_class_svm
from memae.benchmarks.report import environment, update_readme, write_results
from memae.datasets import ODDS_NAMES, load_odds
from memae.evaluation import f1_at_top, normal_split, toll_split

TOLL_FLAGGED = 0.146  # Toll flags the top 14.6% on Arrhythmia (its outlier rate)
QUICK = {"datasets": ("glass", "vertebral", "wbc"), "seeds": 1, "epochs": 3}


def methods(quick: bool) -> dict[str, Callable[[int], Any]]:
    """Method name -> factory(seed); deep detectors with their defaults."""
    deep: dict[str, Any] = {"epochs": QUICK["epochs"]} if quick else {}
    return {
        "AE": lambda s: AutoEncoder(random_state=s, **deep),
        "MemAE": lambda s: MemAE(random_state=s, **deep),
        "LatentNormAE": lambda s: LatentNormAE(random_state=s, **deep),
        "VAE": lambda s: VAE(random_state=s, **deep),
        "CompactVAE-sphere": lambda s: CompactVAE(random_state=s, **deep),
        "CompactVAE-lipschitz": lambda s: CompactVAE(
            compactification="lipschitz", random_state=s, **deep
        ),
        "IsolationForest": isolation_forest,
        "KNN": lambda s: KNNDistance(),
        "PCA": lambda s: PCAReconstruction(),
        "OC-SVM": lambda s: one_class_svm(),
    }


# Every (method, seed) of a dataset uses the same file: read it once.
_load = cache(load_odds)


def run_one(part: str, dataset: str, method: str, seed: int, quick: bool, data: Any) -> dict:
    """Fit one method on one split and score its test rows."""
    X, y = _load(dataset, data)
    if part == "odds":
        train, test = normal_split(y, seed)
    else:
        train, _, test = toll_split(y, seed)  # the validation rows stay unused
    det = methods(quick)[method](seed)
    t0 = time.perf_counter()
    det.fit(X[train])
    scores = det.decision_function(X[test])
    row = {
        "auc": float(roc_auc_score(y[test], scores)),
        "ap": float(average_precision_score(y[test], scores)),
        "seconds": time.perf_counter() - t0,
    }
    if part == "toll":
        row["f1"] = f1_at_top(y[test], scores, TOLL_FLAGGED)
    return row


def run(
    quick: bool,
    data: Any,
    workdir: Path,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
    command: tuple[str, list[str] | None] = ("memae benchmark all", None),
) -> dict[str, Any]:
    names = only or list(methods(quick))
    datasets = QUICK["datasets"] if quick else ODDS_NAMES
    seeds = range(QUICK["seeds"] if quick else 5)
    parts = {"odds": datasets, "toll": ("arrhythmia",)}
    out: dict[str, Any] = {}
    for part, sets in parts.items():
        out[part] = {}
        for dataset in sets:
            out[part][dataset] = {}
            for name in names:
                runs = []
                for seed in seeds:
                    path = workdir / part / dataset / f"{name}-seed{seed}.json"
                    if not path.is_file():
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_text(json.dumps(run_one(part, dataset, name, seed, quick, data)))
                    runs.append(json.loads(path.read_text()))
                out[part][dataset][name] = {
                    k: float(np.mean([r[k] for r in runs])) for k in runs[0]
                }
            log(f"{part} {dataset}: done")
    return {
        "benchmark": "leaderboard",
        "quick": quick,
        "seeds": len(seeds),
        "methods": names,
        "protocol": {
            "odds": "train on a random 60% of the normal rows, test on the rest plus every "
            "outlier; mean ROC-AUC and average precision over seeds",
            "toll": "Arrhythmia: validation and test each 20% of normals and outliers, "
            "training the other normals; F1 with the top 14.6% of test scores flagged",
        },
        "environment": environment(*command),
        "results": out,
        "average_rank": average_rank(out["odds"], names),
    }


def average_rank(per_dataset: dict[str, dict[str, dict]], names: list[str]) -> dict[str, float]:
    """Mean over datasets of each method's rank by ROC-AUC (1 = best; ties share)."""
    ranks = [rankdata([-per_dataset[d][m]["auc"] for m in names]) for d in per_dataset]
    return dict(zip(names, np.mean(ranks, axis=0).tolist(), strict=True))


def markdown(results: dict[str, Any]) -> str:
    names, odds = results["methods"], results["results"]["odds"]
    env = results["environment"]
    head = "| dataset | " + " | ".join(names) + " |"
    rule = "|---" * (len(names) + 1) + "|"
    lines = [
        f"ODDS, ROC-AUC (mean over {results['seeds']} seed(s)), training on 60% of the normal "
        f"rows; `{env['command']}`:",
        "",
        head,
        rule,
    ]
    for d, per in odds.items():
        best = max(per[m]["auc"] for m in names)
        cells = [
            f"**{per[m]['auc']:.3f}**" if per[m]["auc"] == best else f"{per[m]['auc']:.3f}"
            for m in names
        ]
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    mean = [np.mean([odds[d][m]["auc"] for d in odds]) for m in names]
    lines.append("| **mean** | " + " | ".join(f"{v:.3f}" for v in mean) + " |")
    lines.append(
        "| average rank | " + " | ".join(f"{results['average_rank'][m]:.2f}" for m in names) + " |"
    )
    ap = [np.mean([odds[d][m]["ap"] for d in odds]) for m in names]
    lines.append("| mean average precision | " + " | ".join(f"{v:.3f}" for v in ap) + " |")
    toll = results["results"]["toll"]["arrhythmia"]
    lines += [
        "",
        "Arrhythmia, Toll protocol (F1 with the top 14.6% of test scores flagged; ROC-AUC):",
        "",
        head.replace("| dataset |", "| metric |", 1),
        rule,
        "| F1 | " + " | ".join(f"{toll[m]['f1']:.3f}" for m in names) + " |",
        "| ROC-AUC | " + " | ".join(f"{toll[m]['auc']:.3f}" for m in names) + " |",
        "",
        f"Measured on {env['cpu']} ({env['cpu_count']} cores), CUDA: {env['cuda']}.",
    ]
    return "\n".join(lines)


def heatmap(results: dict[str, Any], path: Path) -> Path:
    """The ODDS ROC-AUC table as a heat map (datasets x methods)."""
    from memae.plotting import _pyplot, _save

    plt = _pyplot()
    names, odds = results["methods"], results["results"]["odds"]
    grid = np.array([[odds[d][m]["auc"] for m in names] for d in odds])
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(names), 0.9 + 0.35 * len(odds)))
    im = ax.imshow(grid, cmap="viridis", vmin=max(0.0, grid.min()), vmax=1.0, aspect="auto")
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                color="white" if v < grid.mean() else "black")  # fmt: skip
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(odds)), list(odds), fontsize=7)
    fig.colorbar(im, ax=ax, label="ROC-AUC")
    ax.set_title("ODDS ROC-AUC (60% of normals for training)", fontsize=9)
    return _save(fig, path)


def main(argv: list[str] | None = None, prog: str = "memae benchmark all") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 small datasets, 1 seed, 3 epochs")
    parser.add_argument("--data", default=None, help="data folder holding odds/")
    parser.add_argument("--methods", nargs="+", default=None, help="subset of methods")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--workdir", type=Path, default=None, help="per-run results (resume)")
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    args = parser.parse_args(argv)
    stem = "leaderboard-quick" if args.quick else "leaderboard"
    workdir = args.workdir or args.out / "work" / stem
    results = run(args.quick, args.data, workdir, args.methods, command=(prog, argv))
    md = markdown(results)
    write_results(results, md, args.out, stem)
    heatmap(results, args.out / "figures" / f"{stem}-heatmap.png")
    print(md)
    if args.readme is not None and not args.quick:
        update_readme(args.readme, "leaderboard", md)


if __name__ == "__main__":
    main()
