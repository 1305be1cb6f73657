"""The unlabelled validation loss per epoch of the KDD AE and MemAE (no early stopping).

Before issue 23 the ``kdd`` preset trained a fixed 30 epochs; this curve showed the
validation loss still falling there, which is why the preset now trains until
patience stops it (``benchmarks/kdd_convergence.py`` measures the converged fits).

    python benchmarks/kdd_validation_curve.py [--epochs 40]

Trains AE and MemAE with the ``kdd`` preset (early stopping off) on the training half
of protocol run 0 and records the reconstruction loss of the preset's 10% normal-only
validation split after every epoch. No test rows or labels are used. Writes
``benchmarks/results/kdd-validation.json``.
"""

import argparse
import json
from pathlib import Path

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.report import environment, write_text_atomic
from memae import AutoEncoder, MemAE
from memae.datasets import load_kdd
from memae.evaluation import kdd_split

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    X, y = load_kdd()
    train, _ = kdd_split(y, seed=0)
    curves = {}
    for cls in (AutoEncoder, MemAE):
        det = cls.from_preset("kdd", epochs=args.epochs, patience=None, random_state=0)
        det.fit(X[train])
        val = [h["val_loss"] for h in det.history_]
        curves[cls.__name__] = val
        line = f"{cls.__name__}: val loss epoch 1 {val[0]:.3g}"
        if len(val) >= 40:
            line += f", epoch 30 {val[29]:.3g}, epoch 40 {val[39]:.3g} "
            line += f"(change 30 -> 40: {val[39] / val[29] - 1:+.1%})"
        print(line, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        args.out / "kdd-validation.json",
        json.dumps(
            {
                "environment": environment("python benchmarks/kdd_validation_curve.py", None),
                "val_recon": curves,
            },
            indent=2,
        )
        + "\n",
    )
