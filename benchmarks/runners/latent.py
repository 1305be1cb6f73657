"""2-D views of the latent spaces of LatentNormAE and CompactVAE on real data.

Run ``python benchmarks/latent_figures.py`` (or ``memae benchmark latent``). Two
datasets, both fixed before any result was seen:

* MNIST one-class, normal digit 0, seed 0, the ``mnist`` preset (the network and
  budget of the image benchmark). The models the leaderboard's image part saved in
  ``<work>/mnist/figure-class0`` are the same fits and are read when present; otherwise
  they are trained here. 2,000 random test images are drawn.
* Arrhythmia with the Toll split (seed 0): LatentNormAE with the ``toll-arrhythmia``
  preset, and a CompactVAE on the sphere with ``latent_dim=3`` (the only setting that
  differs from the defaults), so that the codes live on S^2 and the projection shows
  the sphere itself.

Figures go to ``<out>/figures/latent-*.png``; ``<out>/latent.json`` holds the ROC-AUC
of the quantity each figure shows (the code norm; the hole score), for the captions.
``--parts arrhythmia --keep-other-parts`` redraws one dataset's figures and keeps the
other's published rows, each with the command and date that produced it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.runners import BENCH_PRECISION
from benchmarks.runners.report import environment, keep_published, kept_line, publish
from memae import CompactVAE, LatentNormAE
from memae import load as load_model
from memae.datasets import load_image_dataset, load_odds
from memae.evaluation import toll_split
from memae.plotting import plot_code_norms, plot_latent_2d

MNIST_CLASS = 0
N_TEST = 2000
#: what each figure shows (its ROC-AUC key) -> the figure's file name
FIGURES = {
    "mnist LatentNormAE code norm": "latent-mnist-latentnorm-norms.png",
    "mnist CompactVAE-sphere hole score": "latent-mnist-compactvae-sphere.png",
    "mnist CompactVAE-lipschitz hole score": "latent-mnist-compactvae-lipschitz.png",
    "arrhythmia LatentNormAE (toll preset) code norm": "latent-arrhythmia-latentnorm-norms.png",
    "arrhythmia CompactVAE-sphere (m = 3) hole score": "latent-arrhythmia-compactvae-s2.png",
}


def _mnist_models(work: Path, data: Any, quick: bool) -> dict[str, Any]:
    X, y = load_image_dataset("mnist", "train", data)
    train = X[y == MNIST_CLASS][: 1000 if quick else None]
    over: dict[str, Any] = {**BENCH_PRECISION, **({"epochs": 1} if quick else {})}
    make = {
        "LatentNormAE": lambda: LatentNormAE.from_preset("mnist", random_state=0, **over),
        "CompactVAE-sphere": lambda: CompactVAE.from_preset("mnist", random_state=0, **over),
        "CompactVAE-lipschitz": lambda: CompactVAE.from_preset(
            "mnist", compactification="lipschitz", random_state=0, **over
        ),
    }
    saved = work / "mnist" / f"figure-class{MNIST_CLASS}"
    return {
        name: load_model(saved / name) if not quick and (saved / name).is_dir() else f().fit(train)
        for name, f in make.items()
    }


def _latent(det: Any, Xt: np.ndarray, y: np.ndarray, path: Path, title: str) -> float:
    """Draw the codes; return the ROC-AUC of the hole score alone (what the figure shows)."""
    ref = det.network_.reference.cpu().numpy()
    plot_latent_2d(ref, det.codes(Xt), y, path, title)
    own = det.score_method
    det.score_method = "hole"
    try:
        return float(roc_auc_score(y, det.decision_function(Xt)))
    finally:
        det.score_method = own


def _norms(det: Any, Xt: np.ndarray, y: np.ndarray, path: Path, title: str) -> float:
    codes = det.codes(Xt)
    plot_code_norms(codes, y, path, title, log=True)
    return float(roc_auc_score(y, np.linalg.norm(codes, axis=1)))


def _mnist(figs: Path, work: Path, data: Any, quick: bool) -> dict[str, float]:
    """MNIST: digit 0 normal, every other digit anomalous."""
    aucs: dict[str, float] = {}
    Xt, yt = load_image_dataset("mnist", "test", data)
    pick = np.sort(np.random.default_rng(0).choice(len(Xt), N_TEST, replace=False))
    Xt, labels = Xt[pick], (yt[pick] != MNIST_CLASS).astype(int)
    models = _mnist_models(work, data, quick)
    key = "mnist LatentNormAE code norm"
    aucs[key] = _norms(
        models["LatentNormAE"], Xt, labels, figs / FIGURES[key],
        f"LatentNormAE (beta {models['LatentNormAE'].beta:g}), MNIST, normal digit 0",
    )  # fmt: skip
    for variant in ("sphere", "lipschitz"):
        key = f"mnist CompactVAE-{variant} hole score"
        aucs[key] = _latent(
            models[f"CompactVAE-{variant}"], Xt, labels, figs / FIGURES[key],
            f"CompactVAE ({variant}, m = 64), MNIST digit 0: PCA of the codes",
        )  # fmt: skip
    return aucs


def _arrhythmia(figs: Path, data: Any, quick: bool) -> dict[str, float]:
    """Arrhythmia, Toll's split, seed 0."""
    aucs: dict[str, float] = {}
    X, y = load_odds("arrhythmia", data)
    train, _, test = toll_split(y, 0)
    over = {**BENCH_PRECISION, **({"epochs": 3} if quick else {})}
    toll = LatentNormAE.from_preset("toll-arrhythmia", random_state=0, **over).fit(X[train])
    key = "arrhythmia LatentNormAE (toll preset) code norm"
    aucs[key] = _norms(
        toll, X[test], y[test], figs / FIGURES[key],
        "LatentNormAE (toll-arrhythmia preset), Arrhythmia test rows",
    )  # fmt: skip
    s2 = CompactVAE(latent_dim=3, random_state=0, **over).fit(X[train])
    key = "arrhythmia CompactVAE-sphere (m = 3) hole score"
    aucs[key] = _latent(
        s2, X[test], y[test], figs / FIGURES[key],
        "CompactVAE on S^2 (latent_dim 3), Arrhythmia: training codes and test rows",
    )  # fmt: skip
    return aucs


#: the datasets, each drawing the figures whose keys start with its name
PARTS = ("mnist", "arrhythmia")


def run(
    out: Path, work: Path, data: Any, quick: bool, parts: tuple[str, ...] = PARTS
) -> dict[str, Any]:
    figs = out / "figures"
    aucs: dict[str, float] = {}
    if "mnist" in parts:
        aucs.update(_mnist(figs, work, data, quick))
    if "arrhythmia" in parts:
        aucs.update(_arrhythmia(figs, data, quick))
    return {"benchmark": "latent", "quick": quick, "roc_auc": aucs}


def markdown(res: dict[str, Any]) -> str:
    """ROC-AUC of the quantity each figure shows, one row per figure."""
    rows = [f"| {k} | {v:.4f} | `{FIGURES[k]}` |" for k, v in res["roc_auc"].items()]
    return "\n".join(
        [
            *kept_line(res.get("kept", {}), "Rows"),
            f"ROC-AUC of the quantity each figure shows, `{res['environment']['command']}`:",
            "",
            "| what the figure shows | ROC-AUC | figure |",
            "|---|---|---|",
            *rows,
        ]
    )


def main(argv: list[str] | None = None, prog: str = "memae benchmark latent") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 images, 1 epoch")
    parser.add_argument("--data", default=None, help="data folder (default: shared/data)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--workdir", type=Path, default=None, help="default OUT/work")
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument(
        "--keep-other-parts",
        action="store_true",
        help="keep the published rows of the parts not in --parts, each with its command",
    )
    args = parser.parse_args(argv)
    parts = tuple(args.parts)
    res = run(args.out, args.workdir or args.out / "work", args.data, args.quick, parts)
    res["environment"] = environment(prog, argv)
    stem = "latent-quick" if args.quick else "latent"
    published = args.out / f"{stem}.json"
    if args.keep_other_parts and published.is_file():
        res = keep_published(res, json.loads(published.read_text()), "roc_auc", FIGURES)
    md = markdown(res)
    publish(res, md, args.out, stem, None if args.quick else args.readme, "latent")


if __name__ == "__main__":
    main()
