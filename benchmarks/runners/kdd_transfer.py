"""Train on one traffic file, score another: the categorical encoding across files.

Intrusion-detection framing (not the DAGMM/MemAE protocol): the detectors train on
the ``normal.`` traffic of the KDD'99 10% file (``kddcup.data_10_percent.gz``), with
their defaults, and score every row of a second, differently distributed traffic file
in the same format that the user supplies: for example the KDD'99 labelled test file
``corrected.gz`` (311,029 rows, with attack types absent from the 10% file), from
http://kdd.ics.uci.edu/databases/kddcup99/corrected.gz. The attacks are the
anomalies. Each detector one-hot encodes ``protocol_type``, ``service`` and ``flag``
with the categories of its training rows (:mod:`memae.encoding`); values of the second
file that training never saw are counted. No label of the second file chooses
anything; without ``--test-file`` the benchmark says where to get one and stops.

Run ``python benchmarks/kdd_transfer.py --test-file corrected.gz``; it writes
``benchmarks/results/kdd-transfer.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from sklearn.metrics import average_precision_score, roc_auc_score

from benchmarks.runners.report import environment, publish
from memae import AutoEncoder, MemAE
from memae.datasets import load_kdd_raw
from memae.encoding import UnseenCategoryWarning, merge_unseen

WHERE = (
    "the KDD'99 labelled test file corrected.gz "
    "(http://kdd.ics.uci.edu/databases/kddcup99/corrected.gz), or any traffic file in the "
    "KDD'99 format (41 features + a label such as normal. or smurf., no header)"
)


def methods(quick: bool) -> dict[str, Any]:
    """Detectors with their defaults; numeric byte counts through log1p (label-free)."""
    common = {"log1p": ["src_bytes", "dst_bytes"], "random_state": 0}
    if quick:
        common["epochs"] = 2
    return {"AE": AutoEncoder(**common), "MemAE": MemAE(**common)}


def run(test_file: str, data: str | None, quick: bool, command: tuple) -> dict[str, Any]:
    X, y = load_kdd_raw(data)
    train = X[y == 1]  # y == 1: normal. traffic
    if quick:
        train = train.sample(5000, random_state=0)
    X_test, y_test = load_kdd_raw(test_file)
    attacks = 1 - y_test
    rows: dict[str, dict[str, Any]] = {}
    for name, det in methods(quick).items():
        t0 = time.perf_counter()
        det.fit(train)
        fit_s = time.perf_counter() - t0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnseenCategoryWarning)
            scores = det.decision_function(X_test)
        unseen = {col: k for col, (k, _) in merge_unseen(caught).items()}
        rows[name] = {
            "roc_auc": float(roc_auc_score(attacks, scores)),
            "average_precision": float(average_precision_score(attacks, scores)),
            "fit_seconds": fit_s,
            "epochs": len(det.history_),
            "converged": bool(det.stopped_early_),
            "unseen_values": unseen,
            "n_inputs": det.sample_shape_[0],
        }
    return {
        "benchmark": "kdd-transfer",
        "train_file": "kddcup.data_10_percent.gz (normal. rows)",
        "test_file": Path(test_file).name,
        "n_train": len(train),
        "n_test": len(X_test),
        "attack_share": float(attacks.mean()),
        "quick": quick,
        "environment": environment(*command),
        "results": rows,
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Train on the {results['n_train']:,} normal rows of the KDD'99 10% file, score "
        f"`{results['test_file']}` ({results['n_test']:,} rows, "
        f"{results['attack_share']:.1%} attacks; the attacks are the anomalies), "
        f"`{results['environment']['command']}`:",
        "",
        "| method | ROC-AUC | average precision | epochs (converged) | inputs after one-hot "
        "| unseen values in the test file |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["results"].items():
        unseen = ", ".join(f"{c} {k:,}" for c, k in r["unseen_values"].items()) or "none"
        lines.append(
            f"| {name} | {r['roc_auc']:.4f} | {r['average_precision']:.4f} | {r['epochs']} "
            f"({'yes' if r['converged'] else 'no'}) | {r['n_inputs']} | {unseen} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "python benchmarks/kdd_transfer.py") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--test-file", default=None, help=f"the second traffic file: {WHERE}")
    parser.add_argument("--data", default=None, help="the 10%% file or the data folder")
    parser.add_argument("--quick", action="store_true", help="5,000 training rows, 2 epochs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    args = parser.parse_args(argv)
    if args.test_file is None:
        print(f"skipped: pass --test-file with {WHERE}. It is not in shared/data.")
        return
    if not Path(args.test_file).is_file():
        sys.exit(f"--test-file {args.test_file}: no such file ({WHERE})")
    results = run(args.test_file, args.data, args.quick, (prog, argv))
    md = markdown(results)
    stem = "kdd-transfer" + ("-quick" if args.quick else "")
    publish(results, md, args.out, stem, None if args.quick else args.readme, "kdd-transfer")
