"""Why the image presets train 25 epochs: the unlabelled validation loss per epoch.

    python benchmarks/image_validation_curve.py [--dataset mnist] [--cls 0] [--epochs 40]

Trains AE and MemAE with the dataset's preset on the *training* images of one class
and records the reconstruction loss of the preset's 10% validation split (training
images too) after every epoch. No test images or labels are used. Writes
``benchmarks/results/<dataset>-validation.json``.
"""

import argparse
import json
from pathlib import Path

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.report import environment, write_text_atomic
from memae import AutoEncoder, MemAE
from memae.datasets import load_image_dataset

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10"])
    parser.add_argument("--cls", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    X, y = load_image_dataset(args.dataset, "train")
    curves = {}
    for cls in (AutoEncoder, MemAE):
        det = cls.from_preset(args.dataset, epochs=args.epochs, random_state=0)
        det.fit(X[y == args.cls])
        val = [h["val_loss"] for h in det.history_]
        curves[cls.__name__] = val
        marks = [e for e in (10, 25, 40) if e <= len(val)]
        print(
            f"{cls.__name__}: val loss "
            + ", ".join(f"epoch {e} {val[e - 1]:.4f}" for e in [1, *marks]),
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        args.out / f"{args.dataset}-validation.json",
        json.dumps(
            {
                "environment": environment("python benchmarks/image_validation_curve.py", None),
                "dataset": args.dataset,
                "class": args.cls,
                "val_recon": curves,
            },
            indent=2,
        )
        + "\n",
    )
