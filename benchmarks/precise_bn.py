"""Diagnostic (issue 23): what PyTorch's running batch-norm averages do to eval mode.

Each case (method, normal class) of the ``mnist`` one-class benchmark is fitted as
before PreciseBN (``precise_bn_batches=0``: PyTorch's running averages, momentum 0.1),
seed 0, with the benchmark's preset and stopping rule. The script records the
training and the unlabelled validation loss per epoch and where patience stopped.
On the first 2,000 training images of the kept weights it then measures the
reconstruction loss three ways: in eval mode with those running averages, with
each batch's own statistics (what training saw), and in eval mode after recomputing
the statistics from the training images (PreciseBN). The test ROC-AUC before and
after that recomputation is read to *explain*, never to choose anything.

The same cases trained with PreciseBN after every epoch (the current code) are the
benchmark's own records, ``benchmarks/results/work/mnist/<method>/class<c>-seed0.json``.

Run ``python benchmarks/precise_bn.py --readme README.md``; it writes
``benchmarks/results/precise-bn.{json,md}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.images import _data, methods
from benchmarks.runners.report import environment, publish
from memae import BaseDetector
from memae.training.trainer import _Rows, precise_bn

CASES = (("MemAE-nonSpar", 1), ("MemAE", 8), ("AE", 8))
ROWS = 2000
WORK = Path("benchmarks/results/work/mnist")  # the one-class benchmark's task records


def _recon(det: BaseDetector, arr: np.ndarray, batch_stats: bool) -> float:
    """Mean validation term of ``det``'s loss on ``arr``, eval mode or batch statistics."""
    net, total = det.network_, 0.0
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    with torch.no_grad():
        for _, batch in det._batches(arr, 128):
            net.train(batch_stats)
            for m in bns:  # batch statistics without touching the running ones
                m.momentum = 0.0
            losses = det._loss(net, batch)
            total += float(losses.get("validation", losses["loss"])) * len(batch)
    for m, v in zip(bns, momenta, strict=True):
        m.momentum = v
    net.eval()
    return total / len(arr)


def run_case(method: str, cls: int, data: str | None) -> dict:
    X, y, Xt, yt = _data("mnist", data, False)
    train = X[y == cls]
    det = methods("mnist", False)[method](0)
    config = BaseDetector._train_config
    lagging = lambda self: dataclasses.replace(config(self), precise_bn_batches=0)  # noqa: E731
    with mock.patch.object(BaseDetector, "_train_config", lagging):
        det.fit(train)
    arr = det._check_input(train[:ROWS])
    auc_before = roc_auc_score(yt != cls, det.decision_function(Xt))
    row = {
        "method": method,
        "class": cls,
        "epochs_run": len(det.history_),
        "best_epoch": det.best_epoch_,
        "history": det.history_,
        "recon_eval_running_averages": _recon(det, arr, batch_stats=False),
        "recon_batch_statistics": _recon(det, arr, batch_stats=True),
    }
    rows = _Rows(det._check_input(train), det.scaler_, torch.device("cpu"))
    precise_bn(det.network_, rows, torch.arange(len(train)), 128, len(train) // 128 + 1)
    det.network_.eval()
    row["recon_eval_precise_bn"] = _recon(det, arr, batch_stats=False)
    row["auc_running_averages"] = auc_before
    row["auc_after_recomputing"] = roc_auc_score(yt != cls, det.decision_function(Xt))
    return row


def precise_bn_fit(method: str, cls: int) -> dict | None:
    """The benchmark's record of the same case trained with PreciseBN every epoch."""
    record = WORK / method / f"class{cls}-seed0.json"
    if not record.is_file():
        return None
    r = json.loads(record.read_text())
    return {k: r[k] for k in ("epochs_run", "best_epoch", "auc")}


def markdown(res: dict) -> str:
    env = res["environment"]
    lines = [
        "MNIST one-class cases fitted as before PreciseBN (PyTorch's running batch-norm "
        "averages, seed 0, the benchmark's preset and stopping rule); reconstruction loss "
        f"of the first {ROWS:,} training images under the kept weights, and test ROC-AUC "
        "(read to explain, not to choose); the last columns are the benchmark's fit of "
        f"the same case with PreciseBN every epoch. {env['cpu']}; `{env['command']}`:",
        "",
        "| method | class | epochs (best) | first / last training loss | first / best / "
        "last validation loss | eval, running averages | batch statistics | eval, "
        "recomputed | AUC: running averages | AUC: recomputed | PreciseBN fit: epochs "
        "(best), AUC |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["cases"]:
        h = r["history"]
        val = [e["val_loss"] for e in h]
        fit = precise_bn_fit(r["method"], r["class"])
        fit_cell = f"{fit['epochs_run']} ({fit['best_epoch']}), {fit['auc']:.4f}" if fit else "–"
        lines.append(
            f"| {r['method']} | {r['class']} | {r['epochs_run']} ({r['best_epoch']}) | "
            f"{h[0]['loss']:.4f} / {h[-1]['loss']:.4f} | "
            f"{val[0]:.4f} / {min(val):.4f} / {val[-1]:.4f} | "
            f"{r['recon_eval_running_averages']:.4f} | {r['recon_batch_statistics']:.4f} | "
            f"{r['recon_eval_precise_bn']:.4f} | {r['auc_running_averages']:.4f} | "
            f"{r['auc_after_recomputing']:.4f} | {fit_cell} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None, help="data folder (default: shared/data)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--readme", type=Path, default=None)
    parser.add_argument(
        "--render",
        action="store_true",
        help="no fits: redraw the table from OUT/precise-bn.json and the benchmark's records",
    )
    args = parser.parse_args(argv)
    if args.render:
        res = json.loads((args.out / "precise-bn.json").read_text())
        publish(res, markdown(res), args.out, "precise-bn", args.readme)
        return
    res = {
        "benchmark": "precise-bn",
        "environment": environment("python benchmarks/precise_bn.py", argv),
        "cases": [],
    }
    for method, cls in CASES:
        res["cases"].append(run_case(method, cls, args.data))
        print(res["cases"][-1]["method"], {k: v for k, v in res["cases"][-1].items()
                                           if k != "history"}, flush=True)  # fmt: skip
    publish(res, markdown(res), args.out, "precise-bn", args.readme)


if __name__ == "__main__":
    main()
