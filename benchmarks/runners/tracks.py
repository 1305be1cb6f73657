"""The two benchmark tracks side by side, next to the papers (issue 24).

Reads the result files the other benchmarks wrote (nothing is re-run) and puts, for
AE, MemAE, LatentNormAE and CompactVAE, the "unsupervised" figure (epochs chosen on
the unlabelled validation loss) next to the "labelled validation" figure (epochs
chosen on a few labelled rows held out of the test set), the paper's, and the 5-NN
reference (KNN, the distance to the 5th nearest training row; from the unsupervised
run, or the shallow image tables ``mnist-shallow.json`` / ``cifar10-shallow.json``):

- KDDCUP99: F1, 20 runs (``kdd.json``, ``kdd-labelled.json``);
- ODDS: mean ROC-AUC over the 17 files, 5 seeds (``leaderboard.json``,
  ``leaderboard-labelled.json``), Toll's Arrhythmia split, and the leaderboard's KDD
  part (F1, 5 seeds: the four detectors, where the 20-run tables hold AE and MemAE);
- MNIST and CIFAR-10 one-class: mean ROC-AUC over the 10 classes, seed 0
  (``mnist-seed0.json``, ``mnist-labelled.json``; ``cifar10-seed0.json`` once that
  run is done);
- UCSD Ped2: frame ROC-AUC of the ``ped2-cpu`` preset, seed 0 (``ped2.json``,
  ``ped2-labelled.json``); the 5-NN reference is the distance of each test clip to its
  5th nearest training clip, on the same pixels (``references`` in ``ped2.json``).

A paper figure is "reached" by a track when that track's figure is at or above it.

Run ``python benchmarks/tracks.py --readme README.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.runners import images, kdd, video
from benchmarks.runners.report import environment, publish

METHODS = ("AE", "MemAE", "LatentNormAE", "CompactVAE-sphere")
#: (benchmark, unsupervised file, labelled file, metric, file with the 5-NN reference)
SOURCES = (
    ("KDDCUP99 F1 (20 runs)", "kdd", "kdd-labelled", "f1", "kdd"),
    ("ODDS mean ROC-AUC (17 files, 5 seeds)", "leaderboard", "leaderboard-labelled", "odds",
     "leaderboard"),
    ("Arrhythmia, Toll's split, ROC-AUC", "leaderboard", "leaderboard-labelled", "toll",
     "leaderboard"),
    ("KDDCUP99 F1 (leaderboard, 5 seeds)", "leaderboard", "leaderboard-labelled", "kdd",
     "leaderboard"),
    ("MNIST one-class ROC-AUC (seed 0)", "mnist-seed0", "mnist-labelled", "auc",
     "mnist-shallow"),
    ("CIFAR-10 one-class ROC-AUC (seed 0)", "cifar10-seed0", "cifar10-labelled", "auc",
     "cifar10-shallow"),
    ("UCSD Ped2 frame ROC-AUC (ped2-cpu, seed 0)", "ped2", "ped2-labelled", "frame_auc", "ped2"),
)  # fmt: skip
REFERENCE = "KNN"
_KDD_PAPER = {m: v["f1"] for m, v in kdd.PAPER.items() if m in METHODS}
PAPERS = {
    "KDDCUP99 F1 (20 runs)": _KDD_PAPER,
    "KDDCUP99 F1 (leaderboard, 5 seeds)": _KDD_PAPER,
    **{
        f"{name} one-class ROC-AUC (seed 0)": {
            m: v for m, v in images.PAPER[key].items() if m in METHODS
        }
        for name, key in (("MNIST", "mnist"), ("CIFAR-10", "cifar10"))
    },
    "UCSD Ped2 frame ROC-AUC (ped2-cpu, seed 0)": {
        m: v for m, v in video.PAPER.items() if m in METHODS
    },
}


def figure(res: dict[str, Any] | None, metric: str, method: str) -> float | None:
    """One method's headline figure in one result file (None where it was not run)."""
    if res is None:
        return None
    if metric == "frame_auc":  # the video benchmark: one row per method, references apart
        row = res.get("results", {}).get(method) or res.get("references", {}).get(method)
        return None if row is None else float(row["auc"])
    if metric in ("odds", "toll", "kdd"):  # a leaderboard part: mean over its files
        per_file = res["results"].get(metric, {})
        key = "f1" if metric == "kdd" else "auc"
        values = [row[method][key] for row in per_file.values() if method in row]
        return float(np.mean(values)) if values and len(values) == len(per_file) else None
    row = res.get("summary", {}).get(method)
    return None if row is None else float(row[metric]["mean"])


def run(results_dir: Path, command: tuple[str, list[str] | None]) -> dict[str, Any]:
    def load(name: str) -> dict[str, Any] | None:
        path = results_dir / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    rows = []
    for bench, unsup, lab, metric, ref in SOURCES:
        u, lb = load(unsup), load(lab)
        knn = figure(load(ref), metric, REFERENCE)
        for method in METHODS:
            pair = (figure(u, metric, method), figure(lb, metric, method))
            if pair == (None, None):
                continue
            paper = PAPERS.get(bench, {}).get(method)
            rows.append(
                {
                    "benchmark": bench,
                    "method": method,
                    "unsupervised": pair[0],
                    "labelled": pair[1],
                    "paper": paper,
                    "knn": knn,
                    "sources": [f"{unsup}.json", f"{lab}.json", f"{ref}.json"],
                }
            )
    return {"benchmark": "tracks", "environment": environment(*command), "rows": rows}


def _reached(value: float | None, paper: float | None) -> str:
    if value is None or paper is None:
        return "–"
    return "yes" if value >= paper else f"no ({value - paper:+.4f})"


def _minus(value: float | None, other: float | None) -> str:
    return "–" if value is None or other is None else f"{value - other:+.4f}"


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "Both tracks next to the papers and the 5-NN reference (KNN, unsupervised; it has "
        "no epochs to choose), from the committed result files, "
        f"`{res['environment']['command']}`:",
        "",
        "| benchmark | method | unsupervised | labelled validation | labelled - unsupervised "
        "| paper | unsupervised reaches it | labelled reaches it | 5-NN | unsupervised - 5-NN |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    best: dict[str, tuple[float, str, float]] = {}  # benchmark -> best unsupervised vs KNN
    only_labelled = []
    for r in res["rows"]:
        u, lb, p = r["unsupervised"], r["labelled"], r["paper"]

        def cell(v: float | None) -> str:
            return "not run" if v is None else f"{v:.4f}"

        knn = r.get("knn")
        lines.append(
            f"| {r['benchmark']} | {r['method']} | {cell(u)} | {cell(lb)} | {_minus(lb, u)} | "
            f"{'–' if p is None else p} | {_reached(u, p)} | {_reached(lb, p)} | "
            f"{'–' if knn is None else f'{knn:.4f}'} | {_minus(u, knn)} |"
        )
        if u is not None and knn is not None and u > best.get(r["benchmark"], (-1.0,))[0]:
            best[r["benchmark"]] = (u, r["method"], knn)
        if p is not None and lb is not None and lb >= p and (u is None or u < p):
            only_labelled.append(f"{r['method']} on {r['benchmark']}")
    lines += [
        "",
        "Paper figures that the labelled track reaches and the unsupervised track does not: "
        + (", ".join(only_labelled) if only_labelled else "none")
        + ".",
        "",
        "The best of these memae detectors (unsupervised) against the 5-NN reference: "
        + "; ".join(
            f"{bench}: {m} {u:.4f}, {'at or above' if u >= knn else 'below'} 5-NN's "
            f"{knn:.4f} ({u - knn:+.4f})"
            for bench, (u, m, knn) in best.items()
        )
        + ".",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "python benchmarks/tracks.py") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--out", type=Path, default=None, help="default: --results")
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    args = parser.parse_args(argv)
    res = run(args.results, (prog, argv))
    md = markdown(res)
    publish(res, md, args.out or args.results, "tracks", args.readme)
