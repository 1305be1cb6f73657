"""Diagnostic (issue 23): why most KDD AE fits ended at the preset's 300-epoch cap, and
whether a reduce-on-plateau learning rate or a larger cap changes that. (Its finding,
that the AE converges soon after 300 epochs, raised the cap to 1000 on 2026-12-08; the
variants below keep the old cap of 300 explicitly.)

    python benchmarks/kdd_convergence.py [--seeds 0 1] [--long-cap 1500] [--readme README.md]

For each seed (protocol run ``r = seed``: its split and its model seed), the AE of the
``kdd`` preset trains on that run's training half three ways: the preset
(``lr_schedule="constant"``, at most 300 epochs); ``lr_schedule="plateau"`` (the rate
x0.1 after 5 epochs without improvement), at most 300 epochs; and the preset with a
larger cap (``--long-cap``). Each fit records its epochs, whether patience stopped it,
the lowest unlabelled validation loss and its epoch, the validation loss at fixed
epochs, and the learning-rate drops.

The **decision is label-free**: a variant helps if it reaches a lower validation loss
(or converges where the preset does not). The test F1 and ROC-AUC of the KDD protocol
are recorded beside it to show what the choice does to the figures, never to make it.

Every fit writes its own record under ``--workdir`` (``kdd-convergence/``), so an
interrupted run resumes; the table goes to ``benchmarks/results/kdd-convergence.{json,md}``
and, with ``--readme``, to the README block ``kdd-convergence``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.report import environment, publish, task_record
from memae import AutoEncoder
from memae.datasets import load_kdd
from memae.evaluation import kdd_split
from memae.evaluation.kdd import kdd_metrics

CAP = 300  # the kdd preset's cap when this diagnostic was run (1000 since 2026-12-08)
MARKS = (100, 200, 300, 500, 1000, 1500, 2000, 3000)


def variants(long_cap: int) -> dict[str, dict[str, Any]]:
    """Variant name -> the preset parameters it changes."""
    return {
        "preset (constant, cap 300)": {"epochs": CAP},
        "plateau, cap 300": {"lr_schedule": "plateau", "epochs": CAP},
        f"constant, cap {long_cap}": {"epochs": long_cap},
    }


def fit_one(X: np.ndarray, y: np.ndarray, seed: int, params: dict[str, Any]) -> dict[str, Any]:
    """One AE fit on run ``seed``'s training half; its convergence and its KDD metrics."""
    train, test = kdd_split(y, seed=seed)
    det = AutoEncoder.from_preset("kdd", random_state=seed, precision="fp32", **params)
    t0 = time.perf_counter()
    det.fit(X[train])
    fit_s = time.perf_counter() - t0
    m = kdd_metrics(det.decision_scores_, det.decision_function(X[test]), y[test])
    val = [h["val_loss"] for h in det.history_]
    at_cap = val[: det.best_epoch_]
    return {
        "seed": seed,
        "params": params,
        "epochs": len(val),
        "converged": bool(det.stopped_early_),
        "best_epoch": det.best_epoch_,
        "best_val_loss": min(val),
        "val_loss_at": {str(e): val[e - 1] for e in MARKS if e <= len(val)},
        # how fast the loss still fell over the last 10 epochs up to the kept one
        "last_10_epoch_relative_drop": (at_cap[-11] - at_cap[-1]) / at_cap[-11]
        if len(at_cap) > 10
        else None,
        "lr_drops_after_epochs": [
            h["epoch"]
            for h, nxt in zip(det.history_, det.history_[1:], strict=False)
            if nxt.get("lr", 0) < h.get("lr", 0)
        ],
        "f1": m["f1"],
        "roc_auc": m["roc_auc"],
        "fit_seconds": fit_s,
    }


def markdown(results: dict[str, Any], command: str) -> str:
    lines = [
        f"KDDCUP99 AE (`kdd` preset), convergence per seed, `{command}`; the choice reads "
        "only the unlabelled validation loss, F1 and ROC-AUC are shown beside it:",
        "",
        "| seed | variant | epochs | stopped by patience | best epoch | lowest validation "
        "loss | validation loss at epoch 300 | drop over the last 10 epochs | F1 | ROC-AUC |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["fits"]:
        drop = r["last_10_epoch_relative_drop"]
        lines.append(
            f"| {r['seed']} | {r['variant']} | {r['epochs']} | {'yes' if r['converged'] else 'no'} "
            f"| {r['best_epoch']} | {r['best_val_loss']:.4f} | "
            f"{r['val_loss_at'].get('300', float('nan')):.4f} | "
            f"{'–' if drop is None else f'{drop:.2%}'} | {r['f1']:.4f} | {r['roc_auc']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--long-cap", type=int, default=1500)
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/results/work"))
    parser.add_argument("--readme", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one core each, as the KDD benchmark's tasks
    X, y = load_kdd(args.data)
    work = args.workdir / "kdd-convergence"
    work.mkdir(parents=True, exist_ok=True)
    fits = []
    for seed in args.seeds:
        for name, params in variants(args.long_cap).items():
            slug = name.split(" (")[0].replace(", ", "-").replace(" ", "")
            rec = task_record(work / f"AE-{slug}-seed{seed}.json", fit_one, X, y, seed, params)
            fits.append({"variant": name, **rec})
            print(
                f"seed {seed} {name}: {rec['epochs']} epochs, "
                f"best val {rec['best_val_loss']:.4f}, F1 {rec['f1']:.4f}",
                flush=True,
            )
    command = "python benchmarks/kdd_convergence.py --seeds " + " ".join(map(str, args.seeds))
    command += f" --long-cap {args.long_cap}" + (" --readme README.md" if args.readme else "")
    results = {
        "environment": environment("python benchmarks/kdd_convergence.py", argv),
        "fits": fits,
    }
    publish(results, markdown(results, command), args.out, "kdd-convergence", args.readme)


if __name__ == "__main__":
    main()
