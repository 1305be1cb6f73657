"""Diagnostic (issue 23): how much of a one-class image ROC-AUC image complexity explains.

For every test image, its complexity is the size of its lossless PNG encoding in bits
per value (Serrà et al., ICLR 2020, "Input complexity and out-of-distribution detection
with likelihood-based generative models", measure complexity by a compressor's length).
Used as an anomaly score with no training at all, under the one-class protocol of
``benchmarks/images.py`` (class c normal, the nine others anomalous, the whole test
split), it gets a ROC-AUC per normal class: above 0.5 where the normal class is simpler
than the others, below 0.5 where it is more complex.

Next to it, the per-class ROC-AUCs of every method in committed result files of the
image benchmark (default ``<dataset>-seed0``, ``-seed0-others`` and ``-shallow``; a
missing file is skipped, and a method is read from the first file that has it), and for each
method the Pearson and Spearman correlation, over the 10 classes, of its per-class AUC
with the statistic's. A reconstruction error that mostly measures how complex an image
is follows the statistic class by class. Test labels only explain the benchmark's
figures here; nothing is chosen by them.

Run ``python benchmarks/image_complexity.py cifar10 mnist --readme README.md``; it
writes ``benchmarks/results/image-complexity.{json,md}`` and the README block
``image-complexity``.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy.stats import pearsonr, spearmanr

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.report import environment, publish
from memae.datasets import load_image_dataset
from memae.evaluation import one_class_aucs

STATISTIC = "PNG bits per value (no training)"


def png_bits_per_value(images: np.ndarray) -> np.ndarray:
    """Lossless PNG size of every uint8 image ``(N, H, W[, C])``, in bits per value."""
    out = np.empty(len(images))
    for i, img in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG", optimize=True)
        out[i] = 8 * buf.tell() / img.size
    return out


def run(dataset: str, data: str | None, sources: list[str], results_dir: Path) -> dict[str, Any]:
    """The statistic's per-class AUCs and, per method of ``sources``, the correlations."""
    X, y = load_image_dataset(dataset, "test", data)
    bits = png_bits_per_value(X)
    classes = [str(c) for c in range(10)]
    stat = {c: one_class_aucs(bits, y, int(c), 0)["auc"] for c in classes}
    ref = np.array([stat[c] for c in classes])
    methods: dict[str, Any] = {}
    for source in sources:
        path = results_dir / f"{source}.json"
        if not path.is_file():
            continue
        res = json.loads(path.read_text())
        for name, s in res["summary"].items():
            per = s["per_class_auc"]
            if name in methods or sorted(per) != classes:
                continue
            aucs = np.array([per[c]["mean"] for c in classes])
            pearson, spearman = pearsonr(aucs, ref), spearmanr(aucs, ref)
            methods[name] = {
                "source": f"{source}.json",
                "per_class_auc": dict(zip(classes, aucs.tolist(), strict=True)),
                "auc": float(aucs.mean()),
                "pearson": float(pearson.statistic),
                "pearson_p": float(pearson.pvalue),
                "spearman": float(spearman.statistic),
                "spearman_p": float(spearman.pvalue),
            }
    return {
        "test_images": len(X),
        "mean_bits_per_value": {c: float(bits[y == int(c)].mean()) for c in classes},
        "statistic": {"per_class_auc": stat, "auc": float(ref.mean())},
        "methods": methods,
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "One-class ROC-AUC per normal class of a label-free complexity statistic (the PNG "
        "size of each test image, no training) next to the benchmark's methods, and each "
        "method's correlation with the statistic over the 10 classes, "
        f"`{results['environment']['command']}`:",
    ]
    for dataset, res in results["datasets"].items():
        header = " | ".join(str(c) for c in range(10))
        lines += [
            "",
            f"**{dataset}** (test split, {res['test_images']:,} images; mean PNG bits per "
            "value of each class: "
            + ", ".join(f"{c}: {v:.2f}" for c, v in res["mean_bits_per_value"].items())
            + ")",
            "",
            f"| method | {header} | mean | Pearson r | Spearman rho |",
            "|---|" + "---|" * 13,
        ]
        rows = [
            (STATISTIC, res["statistic"], None),
            *((m, r, r) for m, r in res["methods"].items()),
        ]
        for name, r, corr in rows:
            cells = " | ".join(f"{r['per_class_auc'][str(c)]:.3f}" for c in range(10))
            tail = "– | –" if corr is None else f"{corr['pearson']:+.2f} | {corr['spearman']:+.2f}"
            lines.append(f"| {name} | {cells} | {r['auc']:.4f} | {tail} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", choices=["cifar10", "mnist"])
    parser.add_argument("--data", default=None, help="data folder (default: shared/data)")
    parser.add_argument(
        "--sources", nargs="+",
        default=["{dataset}-seed0", "{dataset}-seed0-others", "{dataset}-shallow"],
        help="result files (stems) whose per-class AUCs are compared; {dataset} is filled in",
    )  # fmt: skip
    parser.add_argument(
        "--results", type=Path, default=Path("benchmarks/results"), help="where the sources are"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "environment": environment("python benchmarks/image_complexity.py", argv),
        "datasets": {},
    }
    for dataset in args.datasets:
        sources = [s.format(dataset=dataset) for s in args.sources]
        results["datasets"][dataset] = run(dataset, args.data, sources, args.results)
    publish(results, markdown(results), args.out, "image-complexity", args.readme)


if __name__ == "__main__":
    main()
