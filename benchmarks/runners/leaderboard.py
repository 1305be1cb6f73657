"""One table of every detector: the 17 ODDS datasets, Toll's Arrhythmia, KDDCUP99, images.

Run ``python benchmarks/leaderboard.py`` (or ``memae benchmark all``). Parts:

``odds``
    :func:`memae.evaluation.normal_split`: per seed, train on a random 60% of the
    normal rows, test on the other normals plus every outlier; ROC-AUC and average
    precision, mean over 5 seeds. Every detector runs with its defaults, the same on
    every dataset.
``toll``
    Arrhythmia with the Toll protocol (:func:`memae.evaluation.toll_split`): F1 with
    the top 14.6% of the test scores flagged, 5 seeds; the deep detectors with their
    defaults, plus LatentNormAE with Toll's own set-up (the ``toll-arrhythmia`` preset).
``kdd``
    KDDCUP99 with the MemAE/DAGMM protocol (:mod:`memae.evaluation.kdd`), 5 seeds; the
    deep detectors with the ``kdd`` preset (the MemAE paper's network). OC-SVM and KNN
    are fitted on a random 5,000 / 20,000 of the ~200,000 training rows.
``images``
    MNIST and CIFAR-10 one-class (:mod:`benchmarks.runners.images`, the MemAE paper's
    protocol), every class; seed 0 only by default (``--image-seeds 3`` for the image
    benchmark's 3 seeds, hours per dataset on CPU); the deep detectors with the
    dataset's preset (the same network and budget for all). Tasks the image
    benchmark already ran (same configuration) are read from its work folder, not
    run again.

No choice looks at test labels. Results per (part, dataset, method, seed) are saved
in ``--workdir``, so an interrupted run resumes. ``--keep-other-parts`` re-runs only
``--parts`` and keeps every other part of the published results (same track, methods,
seeds), each with the command and date that produced it (:func:`keep_published`).
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

from benchmarks.runners import BENCH_PRECISION, images
from benchmarks.runners.baselines import (
    KNNDistance,
    PCAReconstruction,
    Subsampled,
    isolation_forest,
    one_class_svm,
)
from benchmarks.runners.report import (
    COMPACT_SCORES,
    ended_at_lower_cap,
    environment,
    kept_line,
    other_scores,
    own_scores,
    publish,
    stopping_rule,
    task_record,
)
from benchmarks.runners.report import keep_published as report_keep
from memae import DAGMM, VAE, AutoEncoder, BaseDetector, CompactVAE, LatentNormAE, MemAE
from memae.datasets import ODDS_NAMES, load_kdd, load_odds
from memae.evaluation import (
    f1_at_top,
    kdd_metrics,
    kdd_split,
    labelled_validation,
    normal_split,
    toll_split,
)

TOLL_FLAGGED = 0.146  # Toll flags the top 14.6% on Arrhythmia (its outlier rate)
QUICK = {"datasets": ("glass", "vertebral", "wbc"), "seeds": 1, "epochs": 3}
PARTS = ("odds", "toll", "kdd", "images")
IMAGE_DATASETS = ("mnist", "cifar10")
KDD_ROWS = {"OC-SVM": 5000, "KNN": 20000}  # training rows of the quadratic baselines
TOLL_PRESET = "LatentNormAE-toll"  # LatentNormAE with the toll-arrhythmia preset


def methods(quick: bool) -> dict[str, Callable[[int], Any]]:
    """Method name -> factory(seed); deep detectors with their defaults."""
    deep: dict[str, Any] = {**BENCH_PRECISION, **({"epochs": QUICK["epochs"]} if quick else {})}
    return {
        "AE": lambda s: AutoEncoder(random_state=s, **deep),
        "MemAE": lambda s: MemAE(random_state=s, **deep),
        "LatentNormAE": lambda s: LatentNormAE(random_state=s, **deep),
        "VAE": lambda s: VAE(random_state=s, **deep),
        "CompactVAE-sphere": lambda s: CompactVAE(random_state=s, **deep),
        "CompactVAE-lipschitz": lambda s: CompactVAE(
            compactification="lipschitz", random_state=s, **deep
        ),
        # DAGMM (Zong et al. 2018), the MemAE paper's KDD reference: not a memae method
        "DAGMM": lambda s: DAGMM(random_state=s, **deep),
        "IsolationForest": isolation_forest,
        "KNN": lambda s: KNNDistance(),
        "PCA": lambda s: PCAReconstruction(),
        "OC-SVM": lambda s: one_class_svm(),
    }


def kdd_methods(quick: bool) -> dict[str, Callable[[int], Any]]:
    """The same methods on KDDCUP99: the ``kdd`` preset's network for the deep ones."""
    deep: dict[str, Any] = {"epochs": 2} if quick else {}
    rows = {k: 1000 for k in KDD_ROWS} if quick else KDD_ROWS
    out = methods(quick)
    out.update(
        {
            "AE": lambda s: AutoEncoder.from_preset("kdd", random_state=s, **deep),
            "MemAE": lambda s: MemAE.from_preset("kdd", random_state=s, **deep),
            "LatentNormAE": lambda s: LatentNormAE.from_preset("kdd", random_state=s, **deep),
            "VAE": lambda s: VAE.from_preset("kdd", random_state=s, **deep),
            "CompactVAE-sphere": lambda s: CompactVAE.from_preset("kdd", random_state=s, **deep),
            "CompactVAE-lipschitz": lambda s: CompactVAE.from_preset(
                "kdd", compactification="lipschitz", random_state=s, **deep
            ),
            "DAGMM": lambda s: DAGMM.from_preset("kdd", random_state=s, **deep),
            "KNN": lambda s: Subsampled(KNNDistance(), rows["KNN"], s),
            "OC-SVM": lambda s: Subsampled(one_class_svm(), rows["OC-SVM"], s),
        }
    )
    return out


def toll_methods(quick: bool) -> dict[str, Callable[[int], Any]]:
    """The ODDS methods plus LatentNormAE with Toll's own Arrhythmia set-up."""
    deep: dict[str, Any] = {**BENCH_PRECISION, **({"epochs": QUICK["epochs"]} if quick else {})}
    return {
        **methods(quick),
        TOLL_PRESET: lambda s: LatentNormAE.from_preset("toll-arrhythmia", random_state=s, **deep),
    }


def factories(part: str, quick: bool) -> dict[str, Callable[[int], Any]]:
    """Method name -> factory(seed) of a tabular ``part`` ("odds", "toll" or "kdd")."""
    return {"odds": methods, "toll": toll_methods, "kdd": kdd_methods}[part](quick)


# Every (method, seed) of a dataset uses the same file: read it once.
_load = cache(load_odds)


_load_kdd = cache(load_kdd)


def run_one(
    part: str,
    dataset: str,
    method: str,
    seed: int,
    quick: bool,
    data: Any,
    track: str = "unsupervised",
) -> dict:
    """Fit one method on one split (of a tabular part) and score its test rows.

    ``track="labelled"``: labelled validation rows, disjoint from the test rows, choose
    the deep detectors' epochs: Toll's own validation split on Arrhythmia, else
    :func:`memae.evaluation.labelled_validation` (10% of the training rows, and 1% as
    many outliers taken out of the test set). The references train on the same rows.
    """
    val = None
    det = factories(part, quick)[method](seed)
    if part == "kdd":
        X, y = _load_kdd(data)
        train, test = kdd_split(y, seed=seed)
    else:
        X, y = _load(dataset, data)
        if part == "odds":
            train, test = normal_split(y, seed)
        else:
            train, val, test = toll_split(y, seed)  # unsupervised: validation rows unused
    fit_args: dict[str, Any] = {}
    if track == "labelled":
        if val is None:
            train, val, test = labelled_validation(y, train, test, seed)
        if isinstance(det, BaseDetector):
            fit_args["validation_data"] = (X[val], y[val])
    t0 = time.perf_counter()
    det.fit(X[train], **fit_args)
    scores = det.decision_function(X[test])
    row = {
        "auc": float(roc_auc_score(y[test], scores)),
        "ap": float(average_precision_score(y[test], scores)),
        "seconds": time.perf_counter() - t0,
    }
    for kind, other in other_scores(det, X[test]).items():  # CompactVAE: its other scores
        row[f"auc_{kind}"] = float(roc_auc_score(y[test], other))
        row[f"ap_{kind}"] = float(average_precision_score(y[test], other))
    if hasattr(det, "history_"):  # deep detectors: how training ended
        row["epochs"] = len(det.history_)
        row["converged"] = float(det.stopped_early_)
    if part == "toll":
        row["f1"] = f1_at_top(y[test], scores, TOLL_FLAGGED)
    if part == "kdd":  # the protocol's threshold: the top 20% of train + test scores
        row["f1"] = kdd_metrics(det.decision_function(X[train]), scores, y[test])["f1"]
    return row


def _image_part(
    quick: bool,
    data: Any,
    names: list[str],
    datasets: tuple[str, ...],
    jobs: int,
    work: Path,
    seeds: int,
    track: str = "unsupervised",
) -> dict[str, dict[str, dict[str, float]]]:
    """Mean one-class ROC-AUC over the classes (then over ``seeds``) of every image dataset.

    Methods without an image network (DAGMM, a tabular model) are left out of this part;
    the tables show "–" for them.
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for dataset in datasets[:1] if quick else datasets:
        known = images.methods(dataset, quick)
        res = images.run(
            dataset,
            seeds=seeds,
            classes=[0, 1] if quick else None,
            quick=quick,
            data=data,
            only=[m for m in names if m in known],
            jobs=jobs,
            workdir=work,
            track=track,
        )
        out[dataset] = {}
        for m, s in res["summary"].items():
            row = {
                "auc": s["auc"]["mean"],
                "per_class_auc": {c: v["mean"] for c, v in s["per_class_auc"].items()},
                "seconds": s["fit_seconds_per_class"]["mean"],
            }
            tasks = res["per_task"][m]
            # means of what every task recorded: how training ended (deep detectors) and
            # CompactVAE's other scores
            for key in ("converged", *(f"auc_{kind}" for kind in COMPACT_SCORES)):
                if tasks and all(key in t for t in tasks):
                    row[key] = float(np.mean([t[key] for t in tasks]))
            out[dataset][m] = row
    return out


def _tabular(
    part: str, sets: tuple[str, ...], names: list[str], seeds: range, quick: bool, data: Any,
    workdir: Path, log: Callable[[str], None], track: str = "unsupervised",
    refit_capped: bool = False,
) -> dict[str, dict[str, dict[str, float]]]:  # fmt: skip
    out: dict[str, dict[str, dict[str, float]]] = {}
    for dataset in sets:
        out[dataset] = {}
        for name in names:
            cap = getattr(factories(part, quick)[name](0), "epochs", None)
            redo = (lambda rec, cap=cap: ended_at_lower_cap(rec, cap)) if refit_capped else None
            runs = []
            for seed in seeds:
                path = workdir / part / dataset / f"{name}-seed{seed}.json"
                args = (part, dataset, name, seed, quick, data, track)
                runs.append(task_record(path, run_one, *args, redo=redo))
            mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
            out[dataset][name] = own_scores(name, mean)
        log(f"{part} {dataset}: done")
    return out


def n_seeds(quick: bool) -> int:
    """Seeds of the tabular parts: 5, or the quick mode's."""
    return QUICK["seeds"] if quick else 5


def run(
    quick: bool,
    data: Any,
    workdir: Path,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
    command: tuple[str, list[str] | None] = ("memae benchmark all", None),
    parts: tuple[str, ...] = PARTS,
    image_datasets: tuple[str, ...] = IMAGE_DATASETS,
    image_workdir: Path = Path("benchmarks/results/work"),
    jobs: int = 1,
    image_seeds: int = 1,
    track: str = "unsupervised",
    refit_capped: bool = False,
) -> dict[str, Any]:
    """Run every part in ``parts`` (tasks already in the work folders are read back).

    ``refit_capped``: the tabular parts also train again the saved deep fits that ended
    at an epoch cap lower than their detector's now without patience stopping them
    (:func:`~benchmarks.runners.report.ended_at_lower_cap`), after a preset's cap was
    raised."""
    names = only or list(methods(quick))
    datasets = QUICK["datasets"] if quick else ODDS_NAMES
    seeds = range(n_seeds(quick))
    out: dict[str, Any] = {}
    if "odds" in parts:
        out["odds"] = _tabular(
            "odds", datasets, names, seeds, quick, data, workdir, log, track, refit_capped
        )
    if "toll" in parts:
        toll = [*names, TOLL_PRESET] if "LatentNormAE" in names else names
        out["toll"] = _tabular(
            "toll", ("arrhythmia",), toll, seeds, quick, data, workdir, log, track, refit_capped
        )
    if "kdd" in parts:
        out["kdd"] = _tabular(
            "kdd", ("kddcup99",), names, seeds, quick, data, workdir, log, track, refit_capped
        )
    if "images" in parts:
        out["images"] = _image_part(
            quick, data, names, image_datasets, jobs, image_workdir, image_seeds, track
        )
    return {
        "benchmark": "leaderboard",
        "track": track,
        "quick": quick,
        "seeds": len(seeds),
        "image_seeds": image_seeds,
        "methods": names,
        "protocol": {
            "odds": "train on a random 60% of the normal rows, test on the rest plus every "
            "outlier; mean ROC-AUC and average precision over seeds",
            "toll": "Arrhythmia: validation and test each 20% of normals and outliers, "
            "training the other normals; F1 with the top 14.6% of test scores flagged",
            "kdd": "KDDCUP99 (DAGMM preprocessing): train on a random half of the normal "
            "(attack, label 0) rows, test on the rest plus every label-1 row; F1 with the top "
            "20% of train + test scores flagged, and ROC-AUC; mean over seeds",
            "images": "one-class: train on the training images of one class, test on the "
            f"whole test set; ROC-AUC, mean over the 10 classes and {image_seeds} seed(s)",
        },
        "environment": environment(*command),
        "results": out,
        "average_rank": average_rank(out.get("odds", {}), names),
        "average_rank_all": average_rank(_columns(out), names),
    }


def check_keepable(run: dict[str, Any], published: dict[str, Any]) -> None:
    """Raise :class:`ValueError` unless ``run`` (its track, methods, seeds and quick mode)
    and ``published`` can share one table."""
    for key in ("track", "methods", "seeds", "quick"):
        if run.get(key) != published.get(key):
            raise ValueError(
                f"cannot keep parts of a run with another {key}: {published.get(key)!r} "
                f"published, {run.get(key)!r} now"
            )


def keep_published(results: dict[str, Any], published: dict[str, Any]) -> dict[str, Any]:
    """``results`` with every part of ``published`` that it did not run, each recorded in
    ``results["kept"]`` with the command and date of the run that produced it, and the
    ranks recomputed over all parts. :func:`check_keepable` must have passed (``main``
    checks before any fit)."""
    out = report_keep(results, published, "results", PARTS)
    out["average_rank"] = average_rank(out["results"].get("odds", {}), results["methods"])
    out["average_rank_all"] = average_rank(_columns(out["results"]), results["methods"])
    return out


def _columns(out: dict[str, Any]) -> dict[str, dict[str, dict]]:
    """Every (part, dataset) of the run as one dataset -> method -> figures mapping."""
    return {
        f"{dataset} ({part})" if part != "odds" else dataset: per
        for part, sets in out.items()
        for dataset, per in sets.items()
    }


def _complete(per_dataset: dict[str, dict[str, dict]], names: list[str]) -> list[str]:
    """The datasets on which every method in ``names`` has a result."""
    return [d for d, per in per_dataset.items() if all(m in per for m in names)]


def average_rank(per_dataset: dict[str, dict[str, dict]], names: list[str]) -> dict[str, float]:
    """Mean of each method's rank by ROC-AUC (1 = best; ties share) over the datasets on
    which every method ran (the image part leaves out the methods without an image network).
    """
    sets = _complete(per_dataset, names)
    if not sets:
        return {}
    ranks = [rankdata([-per_dataset[d][m]["auc"] for m in names]) for d in sets]
    return dict(zip(names, np.mean(ranks, axis=0).tolist(), strict=True))


def _auc(per: dict[str, dict], method: str) -> float:
    """``method``'s ROC-AUC in one dataset's results; NaN where it did not run there."""
    return per[method]["auc"] if method in per else float("nan")


def _row(label: str, values: list[float], bold_best: bool = True) -> str:
    """A table row; NaN (a method that did not run on this dataset) shows as "–"."""
    best = np.nanmax(values)
    cells = [
        "–" if np.isnan(v) else f"**{v:.3f}**" if bold_best and v == best else f"{v:.3f}"
        for v in values
    ]
    return f"| {label} | " + " | ".join(cells) + " |"


def _converged(
    part: dict[str, dict[str, dict[str, float]]], names: list[str], track: str = "unsupervised"
) -> list[str]:
    """One line: the share of each deep detector's fits that stopped by patience."""
    shares = {
        m: float(np.mean([per[m]["converged"] for per in part.values()]))
        for m in names
        if all("converged" in per.get(m, {}) for per in part.values())
    }
    if not shares:
        return []
    cells = ", ".join(f"{m} {100 * v:.0f}%" for m, v in shares.items())
    return [
        f"Deep fits that converged (stopped by patience on {stopping_rule(track)}, "
        f"not at the epoch cap): {cells}.",
        "",
    ]


def markdown(results: dict[str, Any]) -> str:
    names, res = results["methods"], results["results"]
    env = results["environment"]
    head = "| dataset | " + " | ".join(names) + " |"
    rule = "|---" * (len(names) + 1) + "|"
    lines: list[str] = []
    if results.get("track") == "labelled":
        lines += [
            "**Labelled validation track**: a few labelled rows, disjoint from the test rows, "
            "chose the deep detectors' epochs (Toll's validation split on Arrhythmia; "
            "elsewhere 10% of the training rows and 1% as many anomalies taken out of the "
            "test set).",
            "",
        ]
    lines += kept_line(results.get("kept", {}), "Parts")
    if "odds" in res:
        odds = res["odds"]
        lines += [
            f"ODDS, ROC-AUC (mean over {results['seeds']} seed(s)), training on 60% of the "
            f"normal rows; `{env['command']}`:",
            "",
            head,
            rule,
            *(_row(d, [per[m]["auc"] for m in names]) for d, per in odds.items()),
            _row("**mean**", [float(np.mean([odds[d][m]["auc"] for d in odds])) for m in names]),
            "| average rank | "
            + " | ".join(f"{results['average_rank'][m]:.2f}" for m in names)
            + " |",
            _row(
                "mean average precision",
                [float(np.mean([odds[d][m]["ap"] for d in odds])) for m in names],
                bold_best=False,
            ),
            "",
            *_converged(odds, names, results.get("track", "unsupervised")),
        ]
    if "toll" in res:
        toll = res["toll"]["arrhythmia"]
        cols = list(toll)
        lines += [
            "Arrhythmia, Toll protocol (F1 with the top 14.6% of test scores flagged; ROC-AUC; "
            f"mean over {results['seeds']} seed(s)). {TOLL_PRESET}: LatentNormAE with the "
            "`toll-arrhythmia` preset:",
            "",
            "| metric | " + " | ".join(cols) + " |",
            "|---" * (len(cols) + 1) + "|",
            _row("F1", [toll[m]["f1"] for m in cols]),
            _row("ROC-AUC", [toll[m]["auc"] for m in cols]),
            "",
            *_converged(res["toll"], cols, results.get("track", "unsupervised")),
        ]
    if "kdd" in res:
        kdd = res["kdd"]["kddcup99"]
        lines += [
            f"KDDCUP99, MemAE/DAGMM protocol (mean over {results['seeds']} seed(s); deep "
            "detectors with the `kdd` preset; OC-SVM / KNN fitted on "
            f"{KDD_ROWS['OC-SVM']:,} / {KDD_ROWS['KNN']:,} random training rows):",
            "",
            head.replace("| dataset |", "| metric |", 1),
            rule,
            _row("F1", [kdd[m]["f1"] for m in names]),
            _row("ROC-AUC", [kdd[m]["auc"] for m in names]),
            "",
            *_converged(res["kdd"], names, results.get("track", "unsupervised")),
        ]
    if "images" in res:
        imgs = res["images"]
        lines += [
            "One-class images, ROC-AUC (mean over the classes, "
            + (f"{n} seeds" if (n := results.get("image_seeds", 1)) > 1 else "seed 0")
            + "; deep detectors with the dataset's preset):",
            "",
            head,
            rule,
            *(_row(d, [_auc(per, m) for m in names]) for d, per in imgs.items()),
            "",
            *_converged(imgs, names, results.get("track", "unsupervised")),
        ]
    compact = [m for m in names if m.startswith("CompactVAE")]
    cols = _columns(res)
    if compact and cols:
        lines += [
            "CompactVAE, its default joint score (decoder likelihood + hole) vs the hole "
            "score alone and the reconstruction error, all from the same fitted model "
            "(ROC-AUC; ODDS: mean over the datasets):",
            "",
            "| dataset | " + " | ".join(f"{m} {k}" for m in compact for k in COMPACT_SCORES) + " |",
            "|---" * (len(COMPACT_SCORES) * len(compact) + 1) + "|",
        ]
        groups = {"ODDS (mean)": list(res.get("odds", {}))} if "odds" in res else {}
        groups.update({d: [d] for d in cols if d not in res.get("odds", {})})
        for label, members in groups.items():
            cells = []
            for m in compact:
                for kind in COMPACT_SCORES:
                    # a method's own score is its "auc"; the others are auc_<kind>
                    own = cols[members[0]][m].get(f"auc_{kind}") is None
                    key = "auc" if own else f"auc_{kind}"
                    vals = [cols[d][m].get(key) for d in members]
                    cells.append("–" if None in vals else f"{np.mean(vals):.3f}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += targets(results)
    if results.get("average_rank_all"):
        n = len(_complete(cols, names))  # cols: every (part, dataset), from above
        where = f"all {n} datasets above" if n == len(cols) else f"the {n} dataset(s) all ran on"
        lines += [
            f"Average rank by ROC-AUC over {where} (1 = best):",
            "",
            "| | " + " | ".join(names) + " |",
            rule,
            "| average rank | "
            + " | ".join(f"{results['average_rank_all'][m]:.2f}" for m in names)
            + " |",
            "",
        ]
    lines.append(f"Measured on {env['cpu']} ({env['cpu_count']} cores), CUDA: {env['cuda']}.")
    return "\n".join(lines)


MEMAE_DETECTORS = (
    "AE",
    "MemAE",
    "LatentNormAE",
    "VAE",
    "CompactVAE-sphere",
    "CompactVAE-lipschitz",
)


def targets(results: dict[str, Any]) -> list[str]:
    """Issue 23's targets, checked against this run (markdown lines; empty if none apply).

    LatentNormAE and CompactVAE above the AE on each image dataset and on the ODDS mean;
    the best memae detector at or above KNN (the 5-NN reference) on the ODDS mean.
    """
    res, names = results["results"], results["methods"]
    others = ("LatentNormAE", "CompactVAE-sphere", "CompactVAE-lipschitz")
    lines = []

    def versus_ae(where: str, auc: dict[str, float]) -> None:
        for m in others:
            if m in auc and "AE" in auc:
                verdict = "beats" if auc[m] > auc["AE"] else "does **not** beat"
                lines.append(f"- {where}: {m} ({auc[m]:.3f}) {verdict} the AE ({auc['AE']:.3f}).")

    for dataset, per in res.get("images", {}).items():
        versus_ae(dataset, {m: per[m]["auc"] for m in per})
    odds = res.get("odds", {})
    if odds:
        mean = {m: float(np.mean([odds[d][m]["auc"] for d in odds])) for m in names}
        versus_ae("ODDS mean ROC-AUC", mean)
        ours = [m for m in MEMAE_DETECTORS if m in mean]
        if ours and "KNN" in mean:
            best = max(ours, key=mean.get)
            gap = mean[best] - mean["KNN"]
            verdict = "at or above" if gap >= 0 else f"**below** (by {-gap:.3f})"
            lines.append(
                f"- ODDS mean ROC-AUC: the best memae detector, {best} ({mean[best]:.3f}), is "
                f"{verdict} KNN ({mean['KNN']:.3f})."
            )
    return (
        ["Targets of the detection-quality issue, checked on this run:", "", *lines, ""]
        if lines
        else []
    )


def heatmap(results: dict[str, Any], path: Path) -> Path:
    """ROC-AUC of every method on every dataset of the run as a heat map (datasets x methods)."""
    from memae.plotting import _pyplot, _save

    plt = _pyplot()
    names, odds = results["methods"], _columns(results["results"])
    grid = np.array([[_auc(odds[d], m) for m in names] for d in odds])
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(names), 0.9 + 0.35 * len(odds)))
    low = max(0.0, np.nanmin(grid))
    im = ax.imshow(grid, cmap="viridis", vmin=low, vmax=1.0, aspect="auto")  # NaN: blank
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=6,
                color="white" if v < np.nanmean(grid) else "black")  # fmt: skip
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(odds)), list(odds), fontsize=7)
    fig.colorbar(im, ax=ax, label="ROC-AUC")
    ax.set_title("ROC-AUC of every detector (rows: dataset (part))", fontsize=9)
    return _save(fig, path)


def main(argv: list[str] | None = None, prog: str = "memae benchmark all") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 small datasets, 1 seed, 3 epochs")
    parser.add_argument("--data", default=None, help="data folder holding odds/")
    parser.add_argument("--methods", nargs="+", default=None, help="subset of methods")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--workdir", type=Path, default=None, help="per-run results (resume)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument(
        "--image-datasets", nargs="+", choices=IMAGE_DATASETS, default=list(IMAGE_DATASETS)
    )
    parser.add_argument("--jobs", type=int, default=1, help="image tasks run at once")
    parser.add_argument(
        "--image-seeds", type=int, default=1, help="seeds of the image part (default 1: seed 0)"
    )
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    parser.add_argument(
        "--keep-other-parts",
        action="store_true",
        help="keep the parts not in --parts from the published results (same track, "
        "methods and seeds), each with the command that produced it",
    )
    parser.add_argument(
        "--refit-capped",
        action="store_true",
        help="tabular parts: also train again the saved deep fits that ended at an epoch cap "
        "lower than their detector's now, without patience stopping them",
    )
    parser.add_argument(
        "--track",
        choices=("unsupervised", "labelled"),
        default="unsupervised",
        help="'labelled': a few labelled rows, disjoint from the test rows, choose the epochs",
    )
    args = parser.parse_args(argv)
    if args.image_seeds < 1:
        parser.error(f"--image-seeds must be at least 1, got {args.image_seeds}")
    labelled = "-labelled" if args.track == "labelled" else ""
    stem = f"leaderboard{labelled}{'-quick' if args.quick else ''}"
    workdir = args.workdir or args.out / "work" / stem
    published = args.out / f"{stem}.json"
    kept = (
        json.loads(published.read_text()) if args.keep_other_parts and published.is_file() else None
    )
    if kept is not None:  # before any fit: a run whose parts cannot be kept does not start
        planned = {
            "track": args.track,
            "methods": args.methods or list(methods(args.quick)),
            "seeds": n_seeds(args.quick),
            "quick": args.quick,
        }
        try:
            check_keepable(planned, kept)
        except ValueError as err:
            parser.error(str(err))
    results = run(
        args.quick,
        args.data,
        workdir,
        args.methods,
        command=(prog, argv),
        parts=tuple(args.parts),
        image_datasets=tuple(args.image_datasets),
        image_workdir=args.out / "work",
        jobs=args.jobs,
        image_seeds=args.image_seeds,
        track=args.track,
        refit_capped=args.refit_capped,
    )
    if kept is not None:
        results = keep_published(results, kept)
    md = markdown(results)
    readme = None if args.quick else args.readme
    publish(results, md, args.out, stem, readme, f"leaderboard{labelled}")
    if results["results"]:
        heatmap(results, args.out / "figures" / f"{stem}-heatmap.png")


if __name__ == "__main__":
    main()
