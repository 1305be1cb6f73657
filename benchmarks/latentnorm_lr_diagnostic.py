"""Diagnostic (issue 23): LatentNormAE on the ``mnist`` preset, per-epoch AUC at two lrs.

Not a result and not a selection: test labels are read to *explain* why a fit kept by
the unlabelled validation loss scored below chance (MNIST class 1: 0.23), never to
choose an epoch or a setting. For each learning rate it trains one seeded fit with
early stopping off and records, after every epoch, the training loss, the unlabelled
validation criterion (the reconstruction term), and the ROC-AUC on 2,000 test images
of the full score, of its reconstruction term and of its code-norm term.

Run ``python benchmarks/latentnorm_lr_diagnostic.py --cls 1 --epochs 30 --lrs 1e-3 1e-4``;
it writes ``benchmarks/results/latentnorm-lr-diagnostic.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
import memae
from benchmarks.runners.report import write_text_atomic
from memae.datasets import load_mnist


class _Probe(memae.LatentNormAE, register=False, model_key="latentnorm"):
    """LatentNormAE that keeps a handle on the network being trained."""

    def _before_training(self, arr, network):
        self._net = network


def curve(cls: int, lr: float, epochs: int, beta: float = 1000.0) -> list[dict]:
    X, y = load_mnist("train")
    Xt, yt = load_mnist("test")
    sub = np.random.default_rng(0).choice(len(Xt), 2000, replace=False)
    Xs, ys = Xt[sub], (yt[sub] != cls).astype(int)
    det = _Probe.from_preset("mnist", lr=lr, epochs=epochs, patience=None, random_state=0)
    rows: list[dict] = []

    def record(epoch: int, losses: dict) -> None:
        net = det._net
        net.eval()
        with torch.no_grad():
            b = det.scaler_(torch.from_numpy(Xs))
            out = net(b)
            rec = (out.reconstruction - b).flatten(1).norm(dim=1).numpy()
            z = out.code.flatten(1).norm(dim=1).numpy()
        net.train()
        row = {"epoch": epoch, "loss": losses.get("loss"), "val_loss": losses.get("val_loss")}
        row["auc"] = roc_auc_score(ys, rec + beta * z)
        row["auc_reconstruction"] = roc_auc_score(ys, rec)
        row["auc_code_norm"] = roc_auc_score(ys, z)
        row["mean_code_norm_normal"] = float(z[ys == 0].mean())
        rows.append(row)
        print(json.dumps(rows[-1]), flush=True)

    det.fit(X[y == cls], callbacks=(record,))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cls", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 1e-4])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    result = {
        "command": "python benchmarks/latentnorm_lr_diagnostic.py "
        f"--cls {args.cls} --epochs {args.epochs} --lrs {' '.join(map(str, args.lrs))}",
        "class": args.cls,
        "curves": {str(lr): curve(args.cls, lr, args.epochs) for lr in args.lrs},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "latentnorm-lr-diagnostic.json", json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
