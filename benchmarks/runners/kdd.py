"""KDDCUP99 reproduction of the MemAE paper's Table 4 (protocol: :mod:`memae.evaluation.kdd`).

Run ``python benchmarks/kdd.py`` (or ``memae benchmark kdd``); ``--quick`` is a
minutes-long smoke run that writes ``kdd-quick.*`` instead of the full results.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

from benchmarks.runners import BENCH_PRECISION
from benchmarks.runners.baselines import KNNDistance, SklearnOutlier, Subsampled
from benchmarks.runners.report import (
    ended_at_lower_cap,
    environment,
    mean_std,
    publish,
    stopping_rule,
    update_readme,
    write_text_atomic,
)
from memae import DAGMM, AutoEncoder, BaseDetector, MemAE
from memae.datasets import load_kdd, load_kdd_raw
from memae.encoding import UnseenCategoryWarning, merge_unseen
from memae.evaluation import kdd_metrics, kdd_split, labelled_validation

#: figures of the MemAE paper (Table 4) and DAGMM paper, for the table
PAPER = {
    "MemAE": {"precision": 0.9627, "recall": 0.9655, "f1": 0.9641},
    "AE": {"f1": 0.9342},
    "DAGMM": {"precision": 0.9297, "recall": 0.9442, "f1": 0.9369},
}
OCSVM_ROWS = 5000  # OneClassSVM is fitted on a random subsample of the training half
KNN_ROWS = 20000  # and the 5-NN reference on a larger one (as in the leaderboard)
TRACKS = ("unsupervised", "labelled")
#: "npz": the DAGMM-preprocessed array; "raw": the raw 10% file, encoded by each
#: detector from its own training rows (memae.encoding)
SOURCES = ("npz", "raw")
#: the methods that take the raw table (the references run on the npz only)
RAW_METHODS = ("AE", "MemAE-nonSpar", "MemAE", "DAGMM")


def load(data: str | None, source: str = "npz") -> tuple[Any, np.ndarray]:
    """``(X, y)``: the npz's array, or the raw file's DataFrame (41 columns, 3 of text)."""
    return load_kdd_raw(data) if source == "raw" else load_kdd(data)


def _rows(X: Any, idx: np.ndarray) -> Any:
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def methods(quick: bool) -> dict[str, Callable[[int], Any]]:
    """Method name -> factory(seed) of an unfitted detector."""
    deep: dict[str, Any] = {**BENCH_PRECISION, **({"epochs": 2} if quick else {})}
    return {
        "AE": lambda s: AutoEncoder.from_preset("kdd", random_state=s, **deep),
        # The paper's MemAE-nonSpar: no shrinkage and no entropy loss.
        "MemAE-nonSpar": lambda s: MemAE.from_preset(
            "kdd", shrink_threshold=0.0, entropy_weight=0.0, random_state=s, **deep
        ),
        "MemAE": lambda s: MemAE.from_preset("kdd", random_state=s, **deep),
        # an ablation: the official code's dot-product addressing instead of the paper's cosine
        "MemAE-dot": lambda s: MemAE.from_preset("kdd", addressing="dot", random_state=s, **deep),
        # raw (already DAGMM-preprocessed) features, scored by -score_samples
        "OC-SVM": lambda s: Subsampled(
            SklearnOutlier(OneClassSVM(kernel="rbf", nu=0.1, gamma="scale"), standardise=False),
            1000 if quick else OCSVM_ROWS,
            s,
        ),
        "IsolationForest": lambda s: SklearnOutlier(
            IsolationForest(random_state=s), standardise=False
        ),
        # the 5-NN distance reference (standardised on the training rows)
        "KNN": lambda s: Subsampled(KNNDistance(), 1000 if quick else KNN_ROWS, s),
        # the MemAE paper's KDDCUP99 reference (its Table 4 quotes DAGMM's F1 0.9369)
        "DAGMM": lambda s: DAGMM.from_preset("kdd", random_state=s, **deep),
        # opt-in ablations (OPT_IN): min-max scaling fitted on the training rows instead of
        # the preset's standardisation (benchmarks/kdd_scaling.py)
        "AE-minmax": lambda s: AutoEncoder.from_preset(
            "kdd", preprocessing="minmax", random_state=s, **deep
        ),
        "MemAE-minmax": lambda s: MemAE.from_preset(
            "kdd", preprocessing="minmax", random_state=s, **deep
        ),
    }


#: methods that run only when named (``--methods``), never in the default table
OPT_IN = ("AE-minmax", "MemAE-minmax")


def _one_run(
    r: int,
    quick: bool,
    data: str | None,
    names: list[str],
    loaded: tuple | None = None,
    track: str = "unsupervised",
    source: str = "npz",
) -> dict[str, dict[str, float]]:
    """Run ``r`` of the protocol (seed ``r`` for the split and the models), every method.

    ``track="labelled"``: a few labelled rows (:func:`memae.evaluation.labelled_validation`:
    10% of the training rows and 1% as many anomalies, taken out of the test set)
    choose the deep detectors' epochs; the shallow references train on the same rows.
    """
    X, y = loaded if loaded is not None else load(data, source)
    factories = methods(quick)
    train, test = kdd_split(y, seed=r)
    fit_args: dict[str, Any] = {}
    if track == "labelled":
        train, val, test = labelled_validation(y, train, test, seed=r)
        fit_args["validation_data"] = (_rows(X, val), y[val])
    out = {}
    for name in names:
        det = factories[name](r)
        t0 = time.perf_counter()
        det.fit(_rows(X, train), **(fit_args if isinstance(det, BaseDetector) else {}))
        fit_s = time.perf_counter() - t0
        train_scores = getattr(det, "decision_scores_", None)
        if train_scores is None:
            train_scores = det.decision_function(_rows(X, train))
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:  # raw: services unseen in fit
            warnings.simplefilter("always", UnseenCategoryWarning)
            test_scores = det.decision_function(_rows(X, test))
        score_s = time.perf_counter() - t0
        unseen = sum(k for k, _ in merge_unseen(caught).values())
        m = kdd_metrics(train_scores, test_scores, y[test])
        m.update(fit_seconds=fit_s, score_seconds=score_s)
        if source == "raw":
            m["unseen_test_values"] = unseen
        if hasattr(det, "history_"):  # deep detectors: how training ended
            m.update(epochs=len(det.history_), converged=bool(det.stopped_early_))
        out[name] = m
    return out


def run(
    runs: int = 20,
    quick: bool = False,
    data: str | None = None,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
    command: tuple[str, list[str] | None] = ("memae benchmark kdd", None),
    partial: Path | None = None,
    jobs: int = 1,
    track: str = "unsupervised",
    source: str = "npz",
    published: Path | None = None,
    refit_capped: bool = False,
    refresh: bool = False,
) -> dict[str, Any]:
    """Run the protocol ``runs`` times; with ``partial``, save after every run and resume.

    Without a ``partial`` file the runs start from those of the ``published`` results (a
    finished benchmark), so a method added later joins its table instead of replacing it.

    Run ``r`` uses seed ``r`` for the split and the models, so a resumed benchmark gives
    the same figures as an uninterrupted one. ``jobs > 1`` runs that many runs at once
    in worker processes (one torch thread each). ``refit_capped``: also train again the
    saved runs of deep detectors that ended at an epoch cap lower than their preset's
    now, without patience stopping them (:func:`ended_at_lower_cap`); the runs that
    stopped by patience are kept, since a larger cap leaves their seeded path unchanged
    (with the same code and thread count; see ``refresh`` otherwise).
    ``refresh``: the methods run (``only``) start from run 0 with the current code instead
    of the ``published`` runs (the other methods' runs are kept); an interrupted refresh
    resumes from its ``partial`` file.
    """
    X, y = load(data, source)
    names = only or [m for m in (RAW_METHODS if source == "raw" else methods(quick))
                     if m not in OPT_IN]  # fmt: skip
    if source == "raw" and set(names) - set(RAW_METHODS):
        raise ValueError(
            f"--source raw runs the deep detectors {list(RAW_METHODS)}; the references "
            "run on the npz"
        )
    per_run = _resume(partial, names, quick, log, published, refresh)
    factories = methods(quick)
    caps = {n: getattr(factories[n](0), "epochs", None) for n in names}

    def due(name: str, r: int) -> bool:
        """Run ``r`` of ``name`` is missing, or (``refit_capped``) ended at a lower cap."""
        rows = per_run[name]
        return len(rows) <= r or (refit_capped and ended_at_lower_cap(rows[r], caps[name]))

    # Each method resumes after its own last run (a method added later starts at run 0).
    todo = [(r, ns) for r in range(runs) if (ns := [n for n in names if due(n, r)])]

    def record(r: int, rows: dict[str, dict[str, float]]) -> None:
        for name, m in rows.items():
            if r < len(per_run[name]):  # a refitted run replaces its record
                per_run[name][r] = m
            else:
                per_run[name].append(m)
            log(
                f"run {r + 1}/{runs} {name:16s} P {m['precision']:.4f} R {m['recall']:.4f} "
                f"F1 {m['f1']:.4f} AUC {m['roc_auc']:.4f} fit {m['fit_seconds']:.1f}s"
            )
        if partial is not None:  # each method's runs are recorded in order, 0..r
            partial.parent.mkdir(parents=True, exist_ok=True)
            state = {"methods": list(per_run), "quick": quick, "per_run": per_run}
            write_text_atomic(partial, json.dumps(state))

    if jobs > 1:  # whole runs in parallel, one torch thread each
        with ProcessPoolExecutor(jobs, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            futures = [
                pool.submit(_one_run, r, quick, data, ns, None, track, source) for r, ns in todo
            ]
            for (r, _), fut in zip(todo, futures, strict=True):
                record(r, fut.result())
    else:
        for r, ns in todo:
            record(r, _one_run(r, quick, data, ns, (X, y), track, source))
    per_run = {name: rows[:runs] for name, rows in per_run.items()}
    return summarise(per_run, y, quick, command, track, source=source)


def _resume(
    partial: Path | None,
    names: list[str],
    quick: bool,
    log: Callable[[str], None],
    published: Path | None = None,
    refresh: bool = False,
) -> dict[str, list[dict[str, float]]]:
    """The runs saved in ``partial``, else in the ``published`` results (every method's,
    kept, but those of ``names`` with ``refresh``), with an empty list for each method of
    ``names`` not run yet."""
    per_run: dict[str, list[dict[str, float]]] = {}
    resuming = partial is not None and partial.is_file()
    source = partial if resuming else published
    if source is not None and source.is_file():
        saved = json.loads(source.read_text())
        if saved.get("quick") == quick:
            per_run = saved["per_run"]
            if refresh and not resuming:
                per_run = {n: [] if n in names else rows for n, rows in per_run.items()}
            done = {n: len(rows) for n, rows in per_run.items() if n in names}
            log(f"resuming from {source}: runs done per method {done}")
    for name in names:
        per_run.setdefault(name, [])
    return per_run


def summarise(
    per_run: dict[str, list[dict[str, float]]],
    y: np.ndarray,
    quick: bool,
    command: tuple[str, list[str] | None],
    track: str = "unsupervised",
    planned: int | None = None,
    source: str = "npz",
) -> dict[str, Any]:
    """The results record of the runs in ``per_run`` (``planned``: of a run in progress).

    A method with no run yet is left out; one with fewer runs than the others (added
    later to a run in progress) is summarised over its own runs, counted in the table.
    """
    per_run = {name: rows for name, rows in per_run.items() if rows}
    runs = max(len(rows) for rows in per_run.values())
    train, test = kdd_split(y, seed=0)
    summary = {
        name: {
            k: mean_std([m[k] for m in rows])
            for k in rows[0]
            if k not in ("threshold", "converged")
        }
        for name, rows in per_run.items()
    }
    for name, rows in per_run.items():
        summary[name]["runs"] = len(rows)
        if "converged" in rows[0]:
            summary[name]["converged"] = sum(bool(m["converged"]) for m in rows)
    return {
        "benchmark": "kdd",
        "track": track,
        "source": source,
        "protocol": "DAGMM/MemAE: train on a random half of the attack (label 0) rows; test on "
        "the other half plus all label-1 rows; threshold = 80th percentile of pooled train+test "
        "scores; anomaly (label 1) is the positive class"
        + (
            ". Labelled track: 10% of the training rows and 1% as many label-1 rows (taken out "
            "of the test set) are labelled validation rows that choose the deep detectors' "
            "epochs"
            if track == "labelled"
            else ""
        ),
        "runs": runs,
        "runs_planned": planned or runs,
        "quick": quick,
        "n_train": len(train),
        "n_test": len(test),
        "ocsvm_training_rows": 1000 if quick else OCSVM_ROWS,
        "knn_training_rows": 1000 if quick else KNN_ROWS,
        "environment": environment(*command),
        "paper": PAPER,
        "summary": summary,
        "per_run": per_run,
    }


def markdown(results: dict[str, Any]) -> str:
    def fmt(stat: dict[str, float]) -> str:
        return f"{stat['mean']:.4f} ± {stat['std']:.4f}"

    track = results.get("track", "unsupervised")
    planned = results.get("runs_planned", results["runs"])
    progress = f" of {planned} (the run is in progress)" if planned > results["runs"] else ""
    lines = [
        f"KDDCUP99, {results['runs']} runs{progress} (mean ± std)"
        + (", **labelled validation** track" if track == "labelled" else "")
        + (
            ", from the **raw** 10% file (each detector one-hot encodes protocol_type, "
            "service and flag with its training rows' categories)"
            if results.get("source") == "raw"
            else ""
        )
        + f", `{results['environment']['command']}`:",
        "",
        "| method | precision | recall | F1 | ROC-AUC | fit time (s) | paper F1 | F1 - paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in results["summary"].items():
        paper = results["paper"].get(name, {}).get("f1")
        gap = f"{s['f1']['mean'] - paper:+.4f}" if paper is not None else "–"
        own = s.get("runs", results["runs"])
        label = name if own == results["runs"] else f"{name} ({own} runs)"
        lines.append(
            f"| {label} | {fmt(s['precision'])} | {fmt(s['recall'])} | {fmt(s['f1'])} | "
            f"{fmt(s['roc_auc'])} | {s['fit_seconds']['mean']:.1f} | "
            f"{paper if paper is not None else '–'} | {gap} |"
        )
    if "DAGMM" not in results["summary"]:
        dagmm = results["paper"]["DAGMM"]["f1"]
        lines.append(f"| DAGMM (paper) | – | – | – | – | – | {dagmm} | |")
    summary = results["summary"]
    deep = [(n, s) for n, s in summary.items() if "converged" in s]
    if deep:
        counts = ", ".join(
            f"{n} {s['converged']} of {s.get('runs', results['runs'])} "
            f"({s['epochs']['mean']:.0f} epochs on average)"
            for n, s in deep
        )
        lines += [
            "",
            f"Fits that stopped by patience (converged on {stopping_rule(track)}) "
            f"rather than at the epoch cap: {counts}.",
        ]
    if "MemAE" in summary and "AE" in summary:
        diff = summary["MemAE"]["f1"]["mean"] - summary["AE"]["f1"]["mean"]
        order = "holds" if diff > 0 else "does not hold"
        lines += ["", f"MemAE - AE F1: {diff:+.4f} (the paper's ordering AE < MemAE {order})."]
    return "\n".join(lines)


def paired_with_npz(results: dict[str, Any], npz: dict[str, Any]) -> str:
    """The raw-file runs next to the npz runs of the same seeds (``--source raw``)."""
    lines = [
        "",
        "Paired with the npz runs of the same seeds (the same splits and seeds; the input width "
        "differs: the raw runs one-hot encode only the categories of their training rows; "
        "`benchmarks/results/kdd.json`):",
        "",
        "| method | runs | F1 npz | F1 raw | raw - npz (mean ± std over runs) | ROC-AUC npz | "
        "ROC-AUC raw |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, raw in results["per_run"].items():
        base = npz.get("per_run", {}).get(name, [])[: len(raw)]
        if len(base) < len(raw):
            continue
        diff = [r["f1"] - b["f1"] for r, b in zip(raw, base, strict=True)]
        d = mean_std(diff)
        lines.append(
            f"| {name} | {len(raw)} | {np.mean([b['f1'] for b in base]):.4f} | "
            f"{np.mean([r['f1'] for r in raw]):.4f} | {d['mean']:+.4f} ± {d['std']:.4f} | "
            f"{np.mean([b['roc_auc'] for b in base]):.4f} | "
            f"{np.mean([r['roc_auc'] for r in raw]):.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "memae benchmark kdd") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--runs", type=int, default=None, help="runs (default 20, quick 1)")
    parser.add_argument("--quick", action="store_true", help="1 run, 2 epochs: a smoke test")
    parser.add_argument(
        "--data",
        default=None,
        help="kdd_cup.npz (or the raw file, --source raw) or the data folder",
    )
    parser.add_argument("--methods", nargs="+", default=None, help="subset of methods")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (processes)")
    parser.add_argument(
        "--track",
        choices=TRACKS,
        default="unsupervised",
        help="'labelled': a few labelled rows, disjoint from the test set, choose the epochs",
    )
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="npz",
        help="'raw': the raw kddcup.data_10_percent.gz, encoded by each detector from its "
        "training rows (deep detectors only); 'npz': DAGMM's preprocessed array",
    )
    parser.add_argument(
        "--refit-capped",
        action="store_true",
        help="also train again the saved deep fits that ended at an epoch cap lower than "
        "their preset's now, without patience stopping them (after a cap was raised)",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="train the --methods again from run 0 with the current code instead of "
        "keeping their published runs (the other methods' runs are kept)",
    )
    parser.add_argument(
        "--report-partial",
        action="store_true",
        help="train nothing: summarise the runs saved so far by an unfinished run",
    )
    args = parser.parse_args(argv)
    runs = args.runs or (1 if args.quick else 20)
    stem = (
        "kdd"
        + ("-raw" if args.source == "raw" else "")
        + ("-labelled" if args.track == "labelled" else "")
        + ("-quick" if args.quick else "")
    )
    partial = args.out / f"{stem}.partial.json"
    if args.report_partial:
        saved = json.loads(partial.read_text())
        y = load(args.data, args.source)[1]
        results = summarise(
            saved["per_run"], y, args.quick, (prog, argv), args.track, runs, args.source
        )
        md = markdown(results)
        print(md)
        if args.readme is not None and not args.quick:
            update_readme(args.readme, stem, md)
        return
    results = run(
        runs=runs,
        quick=args.quick,
        data=args.data,
        only=args.methods,
        command=(prog, argv),
        partial=partial,
        jobs=args.jobs,
        track=args.track,
        source=args.source,
        published=args.out / f"{stem}.json",
        refit_capped=args.refit_capped,
        refresh=args.refresh,
    )
    md = markdown(results)
    npz_file = args.out / "kdd.json"
    if args.source == "raw" and npz_file.is_file():
        md += "\n" + paired_with_npz(results, json.loads(npz_file.read_text()))
    publish(results, md, args.out, stem, None if args.quick else args.readme)
    partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
