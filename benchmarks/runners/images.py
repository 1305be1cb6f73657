"""One-class MNIST / CIFAR-10: the MemAE paper's Table 1.

The protocol is :mod:`memae.evaluation.one_class`.

Run ``python benchmarks/images.py mnist`` (or ``memae benchmark mnist``). Every
(method, class, seed) task writes its own result file under ``--workdir``, so an
interrupted run resumes where it stopped and ``--jobs 2`` runs two tasks at once
(each with ``cores / jobs`` torch threads). The records are small JSON files, kept
in git for the full runs so that a run longer than one machine's session goes on
elsewhere; the first class's seed-0 tasks, whose saved models and scores draw the
figures, run last (and again where only their records exist). ``--quick`` (2
classes, 1 seed, 1 epoch, 2,000 test images) is a minutes-long smoke run that writes
``<dataset>-quick.*``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.svm import OneClassSVM

from benchmarks.runners import BENCH_PRECISION
from benchmarks.runners.baselines import KNNDistance, PCAReconstruction
from benchmarks.runners.report import (
    environment,
    mean_std,
    other_scores,
    own_scores,
    publish,
    save_npy_atomic,
    stopping_rule,
    write_text_atomic,
)
from memae import VAE, AutoEncoder, BaseDetector, CompactVAE, LatentNormAE, MemAE
from memae.datasets import load_image_dataset
from memae.evaluation import one_class_aucs, one_class_labels, one_class_validation
from memae.nn.precision import Stack
from memae.training.config import PRECISE_BN_BATCHES

#: mean ROC-AUC of MemAE paper Table 1
PAPER = {
    "mnist": {"AE": 0.9619, "MemAE-nonSpar": 0.9725, "MemAE": 0.9751},
    "cifar10": {"AE": 0.5706, "MemAE-nonSpar": 0.6058, "MemAE": 0.6088},
}
#: weight of mean |z| for "AE-l1" (not given in the paper; memae uses the entropy weight alpha)
L1_WEIGHT = 0.0002
PCA_VARIANCE = 0.95  # KDE / OC-SVM see the PCA components keeping 95% of the variance
KDE_BANDWIDTHS = np.logspace(-1, 1.5, 11)
DETERMINISTIC = ("OC-SVM", "KDE", "KNN", "PCA")  # no seed: fitted once per class
#: the methods of the MemAE paper's table and its baselines (the default run); the
#: leaderboard (benchmarks.runners.leaderboard) adds the others through ``only``
TABLE1 = (
    "AE",
    "AE-l1",
    "MemAE-nonSpar",
    "MemAE",
    "MemAE-nonSpar-location",
    "MemAE-location",
    "OC-SVM",
    "KDE",
    "IsolationForest",
    "KNN",  # the 5-NN reference every paper figure is set against (issue 23)
)
QUICK_TEST = 2000
QUICK_TRAIN = 2000


class _Shallow:
    """A scikit-learn baseline on flattened pixels in [0, 1] (optionally PCA-reduced)."""

    def __init__(self, model: Any, pca: bool, seed: int) -> None:
        self.model, self.pca, self.seed = model, pca, seed

    def _features(self, X: np.ndarray, fit: bool = False) -> np.ndarray:
        flat = X.reshape(len(X), -1).astype(np.float32) / 255.0
        if not self.pca:
            return flat
        if fit:
            self.pca_ = PCA(n_components=PCA_VARIANCE, svd_solver="full").fit(flat)
        return self.pca_.transform(flat)

    def fit(self, X: np.ndarray) -> _Shallow:
        feats = self._features(X, fit=True)
        if isinstance(self.model, KernelDensity):
            # Bandwidth by 3-fold cross-validated log-likelihood of the training images only.
            search = GridSearchCV(self.model, {"bandwidth": KDE_BANDWIDTHS}, cv=3)
            self.model = search.fit(feats).best_estimator_
        else:
            self.model.fit(feats)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        feats = self._features(X)
        if hasattr(self.model, "score_samples"):  # scikit-learn: higher = more normal
            return -self.model.score_samples(feats)
        return self.model.decision_function(feats)  # the baselines here: higher = anomalous


def methods(dataset: str, quick: bool) -> dict[str, Callable[[int], Any]]:
    """Method name -> factory(seed) of an unfitted detector."""
    over: dict[str, Any] = {**BENCH_PRECISION, **({"epochs": 1} if quick else {})}
    return {
        "AE": lambda s: AutoEncoder.from_preset(dataset, random_state=s, **over),
        "AE-l1": lambda s: AutoEncoder.from_preset(
            dataset, l1_weight=L1_WEIGHT, random_state=s, **over
        ),
        # the paper's MemAE-nonSpar: neither hard shrinkage nor the entropy loss
        "MemAE-nonSpar": lambda s: MemAE.from_preset(
            dataset, shrink_threshold=0.0, entropy_weight=0.0, random_state=s, **over
        ),
        "MemAE": lambda s: MemAE.from_preset(dataset, random_state=s, **over),
        # an ablation: the official code's dot-product addressing instead of the paper's cosine
        "MemAE-dot": lambda s: MemAE.from_preset(dataset, addressing="dot", random_state=s, **over),
        # the other memory layout (one query per code location, as the official video code)
        "MemAE-nonSpar-location": lambda s: MemAE.from_preset(
            dataset,
            memory_layout="location",
            shrink_threshold=0.0,
            entropy_weight=0.0,
            random_state=s,
            **over,
        ),
        "MemAE-location": lambda s: MemAE.from_preset(
            dataset, memory_layout="location", random_state=s, **over
        ),
        # the other two methods and the VAE, on the preset's network and budget
        "LatentNormAE": lambda s: LatentNormAE.from_preset(dataset, random_state=s, **over),
        "VAE": lambda s: VAE.from_preset(dataset, random_state=s, **over),
        "CompactVAE-sphere": lambda s: CompactVAE.from_preset(dataset, random_state=s, **over),
        "CompactVAE-lipschitz": lambda s: CompactVAE.from_preset(
            dataset, compactification="lipschitz", random_state=s, **over
        ),
        "OC-SVM": lambda s: _Shallow(OneClassSVM(kernel="rbf", nu=0.1, gamma="scale"), True, s),
        # distance to the 5th nearest training image and PCA (95%) error, on raw pixels
        "KNN": lambda s: _Shallow(KNNDistance(standardise=False), False, s),
        "PCA": lambda s: _Shallow(PCAReconstruction(standardise=False), False, s),
        "KDE": lambda s: _Shallow(KernelDensity(kernel="gaussian"), True, s),
        "IsolationForest": lambda s: _Shallow(IsolationForest(random_state=s), False, s),
    }


@cache
def _data(dataset: str, data: str | None, quick: bool) -> tuple[np.ndarray, ...]:
    X, y = load_image_dataset(dataset, "train", data)
    Xt, yt = load_image_dataset(dataset, "test", data)
    if quick:  # the first QUICK_TEST // 10 test images of every class
        keep = np.concatenate([np.flatnonzero(yt == c)[: QUICK_TEST // 10] for c in range(10)])
        keep.sort()
        Xt, yt = Xt[keep], yt[keep]
    return X, y, Xt, yt


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def run_task(
    dataset: str,
    method: str,
    cls: int,
    seed: int,
    quick: bool,
    data: str | None,
    save_dir: str,
    track: str = "unsupervised",
) -> dict[str, Any]:
    """Fit one method on one normal class with one seed; return its figures.

    With ``save_dir`` non-empty the test scores (and deep models) are kept there for
    the figures. ``track="labelled"``: labelled rows from the *training* split
    (:func:`memae.evaluation.one_class_validation`: 10% of the class held out, and 1%
    as many images of the other classes) choose the deep detectors' epochs; the
    shallow references train on the same images; the test set is the same.
    """
    X, y, Xt, yt = _data(dataset, data, quick)
    fit_args: dict[str, Any] = {}
    if track == "labelled":
        rows, val, y_val = one_class_validation(y, cls, seed)
        train = X[rows[:QUICK_TRAIN] if quick else rows]
        fit_args["validation_data"] = (X[val], y_val)
    else:
        train = X[y == cls]
        if quick:
            train = train[:QUICK_TRAIN]
    det = methods(dataset, quick)[method](seed)
    t0 = time.perf_counter()
    det.fit(train, **(fit_args if isinstance(det, BaseDetector) else {}))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = det.decision_function(Xt)
    score_s = time.perf_counter() - t0
    out = {
        "method": method,
        "class": cls,
        "seed": seed,
        **one_class_aucs(scores, yt, cls, seed),
        "fit_seconds": fit_s,
        "score_images_per_second": len(Xt) / score_s,
        "n_train": len(train),
        "torch_threads": torch.get_num_threads(),
        "precision": getattr(det, "precision", None),
        # batch norm statistics recomputed after every epoch (issue 23; absent before)
        "precise_bn_batches": PRECISE_BN_BATCHES,
    }
    if hasattr(det, "network_"):  # conv inputs channels_last in float32 on CPU since issue 20
        layouts = {m.channels_last for m in det.network_.modules() if isinstance(m, Stack)}
        out["channels_last"] = layouts == {True}
    for kind, other in other_scores(det, Xt).items():  # CompactVAE: its other scores
        out[f"auc_{kind}"] = one_class_aucs(other, yt, cls, seed)["auc"]
    if hasattr(det, "history_"):
        out["epochs_run"] = len(det.history_)
        out["best_epoch"] = det.best_epoch_
        out["converged"] = bool(det.stopped_early_)
        out["final_val_loss"] = det.history_[-1].get("val_loss")
    if save_dir:
        where = Path(save_dir)
        where.mkdir(parents=True, exist_ok=True)
        save_npy_atomic(where / f"{method}-scores.npy", scores)
        if hasattr(det, "save"):
            det.save(where / method)
    return out


def _task_file(workdir: Path, method: str, cls: int, seed: int) -> Path:
    return workdir / method / f"class{cls}-seed{seed}.json"


def run(
    dataset: str,
    seeds: int = 3,
    classes: list[int] | None = None,
    quick: bool = False,
    data: str | None = None,
    only: list[str] | None = None,
    jobs: int = 1,
    workdir: Path = Path("benchmarks/results/work"),
    log: Callable[[str], None] = print,
    command: tuple[str, list[str] | None] = ("memae benchmark mnist", None),
    keep_figures: bool = False,
    track: str = "unsupervised",
) -> dict[str, Any]:
    """Run every (method, class, seed) task not yet in ``workdir`` and summarise them all.

    With ``keep_figures``, the first class's seed-0 tasks are also re-run where the models
    and scores that :func:`figures` reads are missing.
    """
    names = only or list(TABLE1)
    classes = list(range(10)) if classes is None else classes
    figure_class = classes[0]  # figures() reads the same class
    labelled = "-labelled" if track == "labelled" else ""
    work = workdir / f"{dataset}{labelled}{'-quick' if quick else ''}"
    figs = work / f"figure-class{figure_class}"
    tasks, figure_tasks = [], []
    for seed in range(seeds):  # seed-major: an interrupted run has whole seeds done first
        for cls in classes:
            for name in names:
                if name in DETERMINISTIC and seed > 0:
                    continue
                done = _task_file(work, name, cls, seed).is_file()
                if (cls, seed) != (figure_class, 0):
                    if not done:
                        tasks.append((name, cls, seed))
                # Figure tasks last, so that a run spread over several machines saves the
                # figures' models and scores on the one that finishes it; re-run
                # (bit-identical on CPU) where the record exists but they do not.
                elif not done or (keep_figures and not (figs / f"{name}-scores.npy").is_file()):
                    figure_tasks.append((name, cls, seed))
    tasks += figure_tasks
    log(f"{dataset}: {len(tasks)} tasks to run ({jobs} at a time), results in {work}")

    def record(task: tuple[str, int, int], result: dict[str, Any]) -> None:
        path = _task_file(work, *task)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(result))
        log(
            f"{task[0]:16s} class {task[1]} seed {task[2]}: AUC {result['auc']:.4f} "
            f"(30%: {result['auc_30']:.4f}) fit {result['fit_seconds']:.1f}s"
        )

    def args(task):
        keep = str(figs) if task[1] == figure_class and task[2] == 0 else ""
        return (dataset, *task, quick, data, keep, track)

    if jobs > 1:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(threads,)) as pool:
            futures = {pool.submit(run_task, *args(t)): t for t in tasks}
            for fut in futures:
                record(futures[fut], fut.result())
    else:
        for t in tasks:
            record(t, run_task(*args(t)))
    results = summarise(dataset, names, classes, seeds, quick, work, command)
    results["track"] = track
    results["jobs"] = jobs
    return results


def summarise(
    dataset: str,
    names: list[str],
    classes: list[int],
    seeds: int,
    quick: bool,
    work: Path,
    command: tuple[str, list[str] | None],
) -> dict[str, Any]:
    per_task: dict[str, list[dict[str, Any]]] = {}
    summary: dict[str, Any] = {}
    for name in names:
        used = 1 if name in DETERMINISTIC else seeds
        rows = [
            own_scores(name, json.loads(_task_file(work, name, c, s).read_text()))
            for s in range(used)
            for c in classes
        ]
        per_task[name] = rows
        by_seed = [[r for r in rows if r["seed"] == s] for s in range(used)]
        summary[name] = {
            # mean over classes per seed, then mean and std of that over seeds
            "auc": mean_std([float(np.mean([r["auc"] for r in rs])) for rs in by_seed]),
            "auc_30": mean_std([float(np.mean([r["auc_30"] for r in rs])) for rs in by_seed]),
            "per_class_auc": {
                str(c): mean_std([r["auc"] for r in rows if r["class"] == c]) for c in classes
            },
            "fit_seconds_per_class": mean_std([r["fit_seconds"] for r in rows]),
            # images through the network per second of fit (training set x epochs / fit time;
            # the time includes validation passes and the final scoring of the training set)
            "train_images_per_second": mean_std(
                [r["n_train"] * r.get("epochs_run", 1) / r["fit_seconds"] for r in rows]
            ),
            "score_images_per_second": mean_std([r["score_images_per_second"] for r in rows]),
            "seeds": used,
        }
    return {
        "benchmark": dataset,
        "protocol": "one-class (MemAE paper Table 1): train on the training images of class c; "
        "test on the whole test set with c normal and the other classes anomalous; ROC-AUC, mean "
        "over classes, then mean and std over seeds. auc_30: the same scores on a test subset "
        "with all normals and anomalies sampled (per seed) to make up 30%",
        "classes": classes,
        "seeds": seeds,
        "quick": quick,
        "baselines": f"OC-SVM (RBF, nu 0.1, gamma 'scale') and KDE (Gaussian, bandwidth by "
        f"3-fold CV log-likelihood on the training images) on PCA components keeping "
        f"{PCA_VARIANCE:.0%} of the training variance of pixels in [0, 1]; IsolationForest "
        "(100 trees) on raw pixels; KNN (distance to the 5th nearest training image) and PCA "
        "(squared error of the projection keeping 95% of the variance) on raw pixels in [0, 1]. "
        "OC-SVM, KDE, KNN and PCA are deterministic and fitted once per class",
        "l1_weight": L1_WEIGHT,
        "environment": environment(*command),
        "paper": PAPER[dataset],
        "summary": summary,
        "per_task": per_task,
    }


def markdown(results: dict[str, Any]) -> str:
    ds = results["benchmark"]
    classes = results["classes"]
    lines = [
        f"{ds.upper() if ds == 'mnist' else 'CIFAR-10'} one-class ROC-AUC, mean over classes "
        f"(± std over {results['seeds']} seeds)"
        + (
            ", **labelled validation** track (epochs chosen on a few labelled training images)"
            if results.get("track") == "labelled"
            else ""
        )
        + f", `{results['environment']['command']}`:",
        "",
        "| method | " + " | ".join(str(c) for c in classes) + " | mean | 30% anomalies | paper | "
        "mean - paper |",
        "|---|" + "---|" * (len(classes) + 4),
    ]
    for name, s in results["summary"].items():
        paper = results["paper"].get(name)
        gap = f"{s['auc']['mean'] - paper:+.4f}" if paper is not None else "–"
        cells = " | ".join(f"{s['per_class_auc'][str(c)]['mean']:.3f}" for c in classes)
        lines.append(
            f"| {name} | {cells} | {s['auc']['mean']:.4f} ± {s['auc']['std']:.4f} | "
            f"{s['auc_30']['mean']:.4f} | {paper if paper is not None else '–'} | {gap} |"
        )
    summary = results["summary"]
    if "MemAE" in summary and "AE" in summary:
        diff = summary["MemAE"]["auc"]["mean"] - summary["AE"]["auc"]["mean"]
        order = "holds" if diff > 0 else "does not hold"
        lines += [
            "",
            f"MemAE - AE mean AUC: {diff:+.4f} (the paper's ordering AE < MemAE {order}).",
        ]
    lines += [
        "",
        "| method | training time per class (s) | training (images x epochs / s) | "
        "scoring (images/s) |",
        "|---|---|---|---|",
    ]
    for name, s in summary.items():
        lines.append(
            f"| {name} | {s['fit_seconds_per_class']['mean']:.1f} | "
            f"{s['train_images_per_second']['mean']:,.0f} | "
            f"{s['score_images_per_second']['mean']:,.0f} |"
        )
    # How many fits stopped by patience on the unlabelled validation loss (converged)
    # rather than at the epoch cap; the shallow baselines have no epochs.
    conv = {
        name: (
            sum(bool(r["converged"]) for r in rows),
            len(rows),
            float(np.mean([r["epochs_run"] for r in rows])),
        )
        for name, rows in results["per_task"].items()
        if rows and all("converged" in r for r in rows)
    }
    if conv:
        lines += [
            "",
            f"Fits that converged (stopped by patience on "
            f"{stopping_rule(results.get('track', 'unsupervised'))}, not at the epoch cap): "
            + ", ".join(
                f"{name} {k} of {n} ({e:.0f} epochs on average)" for name, (k, n, e) in conv.items()
            )
            + ".",
        ]
    env = results["environment"]
    threads = {r["torch_threads"] for rows in results["per_task"].values() for r in rows}
    lines += [
        "",
        f"Measured on {env['cpu']} ({env['cpu_count']} cores), "
        f"{'/'.join(map(str, sorted(threads)))} torch thread(s) per task, "
        f"{results['jobs']} task(s) at a time.",
    ]
    return "\n".join(lines)


def figures(results: dict[str, Any], work: Path, out: Path, dataset: str, data: str | None) -> None:
    """Reconstructions, decoded memory, ROC curves and histograms of the figure class."""
    from memae import load as load_model
    from memae.plotting import plot_histogram, plot_memory, plot_reconstructions, plot_roc

    quick = results["quick"]
    cls = results["classes"][0]
    src = work / f"figure-class{cls}"
    _, _, Xt, yt = _data(dataset, data, quick)
    labels = one_class_labels(yt, cls)
    scores = {
        m: np.load(src / f"{m}-scores.npy")
        for m in results["summary"]
        if (src / f"{m}-scores.npy").is_file()
    }
    stem = f"{dataset}{'-quick' if quick else ''}-class{cls}"
    plot_roc(scores, labels, out / f"{stem}-roc.png", f"{dataset}, normal class {cls}")
    deep = {m: load_model(src / m) for m in ("AE", "MemAE") if (src / m).is_dir()}
    if "MemAE" in deep:
        det = deep["MemAE"]
        plot_histogram(
            scores["MemAE"],
            labels,
            det.threshold_,
            out / f"{stem}-hist.png",
            f"MemAE, {dataset}, normal class {cls} (threshold: training 90% quantile)",
        )
        plot_memory(det, out / f"{stem}-memory.png")
    if deep:
        rng = np.random.default_rng(0)
        normal = Xt[rng.choice(np.flatnonzero(labels == 0), 4, replace=False)]
        anomalous = Xt[rng.choice(np.flatnonzero(labels == 1), 6, replace=False)]
        plot_reconstructions(deep, normal, anomalous, out / f"{stem}-reconstructions.png")


def main(argv: list[str] | None = None, prog: str = "memae benchmark") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("dataset", choices=["mnist", "cifar10"])
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 3, quick 1)")
    parser.add_argument("--classes", type=int, nargs="+", default=None, help="default all 10")
    parser.add_argument("--quick", action="store_true", help="2 classes, 1 seed, 1 epoch")
    parser.add_argument("--methods", nargs="+", default=None, help="subset of methods")
    parser.add_argument("--jobs", type=int, default=1, help="tasks run at once")
    parser.add_argument("--data", default=None, help="data folder (default: shared/data)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--workdir", type=Path, default=None, help="default OUT/work")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    parser.add_argument(
        "--name",
        default=None,
        help="results file stem and README block (default: the dataset, '-labelled' for "
        "that track); e.g. 'mnist-seed0' keeps a partial run apart from the full table",
    )
    parser.add_argument(
        "--track",
        choices=("unsupervised", "labelled"),
        default="unsupervised",
        help="'labelled': a few labelled training images of the other classes choose the epochs",
    )
    args = parser.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 3)
    if args.track == "labelled":
        args.no_figures = True  # the figures are the unsupervised track's
    classes = args.classes or ([0, 1] if args.quick else list(range(10)))
    workdir = args.workdir or args.out / "work"
    results = run(
        args.dataset,
        seeds=seeds,
        classes=classes,
        quick=args.quick,
        data=args.data,
        only=args.methods,
        jobs=args.jobs,
        workdir=workdir,
        command=(prog, argv),
        keep_figures=not args.no_figures,
        track=args.track,
    )
    labelled = "-labelled" if args.track == "labelled" else ""
    name = args.name or f"{args.dataset}{labelled}"
    stem = f"{name}{'-quick' if args.quick else ''}"
    md = markdown(results)
    publish(results, md, args.out, stem, None if args.quick else args.readme, name)
    if not args.no_figures:
        tasks = workdir / f"{args.dataset}{labelled}{'-quick' if args.quick else ''}"  # as run()
        figures(results, tasks, args.out / "figures", args.dataset, args.data)


if __name__ == "__main__":
    main()
