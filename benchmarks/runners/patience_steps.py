"""Early stopping on small tables: patience in epochs against epochs of at least 10 steps.

On an ODDS table of a few hundred training rows, an epoch of the default
``batch_size=256`` is a single optimiser step, so ``patience=10`` epochs used to stop a
fit after 10 steps without improvement. The trainer now counts an epoch as at least
``MIN_STEPS_PER_EPOCH`` (10) steps (``TrainConfig.patience_epochs``), and the default
cap, ``epochs="auto"``, counts in the same unit (``TrainConfig.max_epochs``: 500 epochs
of at least 10 steps). This fits AE, VAE and CompactVAE with their defaults on the
training rows of every leaderboard table with fewer than 10 steps an epoch (seed 0 of
the leaderboard's split) under three rules: the old patience (``MIN_STEPS_PER_EPOCH =
1``) and the new one, both with the former cap of 500 passes (``epochs=500``), and the
new patience with the ``"auto"`` cap. It reports only label-free quantities: epochs,
the kept epoch, and the validation loss at epoch 1 and at the kept epoch. No test row
or label is read.

Run ``python benchmarks/patience_steps.py --readme README.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

import memae
from benchmarks.runners.report import environment, publish
from memae.datasets import load_odds
from memae.evaluation import normal_split, toll_split
from memae.training import config as train_config

METHODS = ("AutoEncoder", "VAE", "CompactVAE")
#: (MIN_STEPS_PER_EPOCH, epochs) of each rule
RULES: dict[str, tuple[int, int | str]] = {
    "old": (1, 500),
    "new": (train_config.MIN_STEPS_PER_EPOCH, 500),
    "auto": (train_config.MIN_STEPS_PER_EPOCH, "auto"),
}


def _steps_per_epoch(rows: int, det: memae.AutoEncoder) -> int:
    """Optimiser steps an epoch for ``rows`` rows under ``det``'s batch size and
    validation split, as the trainer counts them (``TrainConfig.steps_per_epoch``)."""
    cfg = train_config.TrainConfig(
        epochs=det.epochs, batch_size=det.batch_size, lr=det.lr,
        validation_fraction=det.validation_fraction,
    )  # fmt: skip
    return cfg.steps_per_epoch(rows)


def small_tables(data: str | None = None, seed: int = 0) -> list[tuple[str, str, np.ndarray]]:
    """``(part, dataset, training rows)`` of the leaderboard tables under 10 steps an epoch
    for the default detectors (``batch_size`` 256, 10% validation)."""
    from benchmarks.runners.leaderboard import ODDS_NAMES

    det = memae.AutoEncoder()
    out = []
    for part, names in (("odds", ODDS_NAMES), ("toll", ("arrhythmia",))):
        for name in names:
            X, y = load_odds(name, data)
            train = (normal_split(y, seed) if part == "odds" else toll_split(y, seed))[0]
            if _steps_per_epoch(len(train), det) < train_config.MIN_STEPS_PER_EPOCH:
                out.append((part, name, X[train]))
    return out


def fit_once(
    method: str, X: np.ndarray, min_steps: int, epochs: int | str = 500, seed: int = 0
) -> dict[str, Any]:
    """One default fit under ``MIN_STEPS_PER_EPOCH = min_steps`` and the cap ``epochs``:
    its label-free record."""
    saved = train_config.MIN_STEPS_PER_EPOCH
    train_config.MIN_STEPS_PER_EPOCH = min_steps
    try:
        det = getattr(memae, method)(epochs=epochs, random_state=seed).fit(X)
    finally:
        train_config.MIN_STEPS_PER_EPOCH = saved
    val = [h["val_loss"] for h in det.history_]
    best = int(np.argmin(val))
    return {
        "epochs": len(val),
        "steps_per_epoch": _steps_per_epoch(len(X), det),
        "best_epoch": best + 1,
        "val_loss_first": float(val[0]),
        "val_loss_best": float(val[best]),
        "stopped_by_patience": bool(det.stopped_early_),
    }


def run(data: str | None, command: tuple[str, list[str] | None]) -> dict[str, Any]:
    rows = []
    for part, name, X in small_tables(data):
        for method in METHODS:
            fits = {rule: fit_once(method, X, *r) for rule, r in RULES.items()}
            rows.append({"part": part, "dataset": name, "rows": len(X), "method": method,
                         **fits})  # fmt: skip
            print(f"{name} {method}: " + ", ".join(
                f"{r} {f['epochs']} epochs, val {f['val_loss_best']:.4g}" for r, f in fits.items()
            ))  # fmt: skip
    return {"benchmark": "patience-steps", "environment": environment(*command), "rows": rows}


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "Default AE, VAE and CompactVAE on the training rows of the leaderboard tables with "
        "fewer than 10 steps an epoch (seed 0's split; no test row read): patience 10 in "
        "epochs (old) against epochs of at least 10 steps (new), both capped at 500 passes, "
        'and the new patience under the default cap `epochs="auto"` (auto: 500 epochs of '
        "at least 10 steps); validation loss at epoch 1 and at the kept epoch; "
        f"`{res['environment']['command']}`:",
        "",
        "| table | rows | steps an epoch | method | old: epochs (kept) | old: validation loss "
        "(epoch 1 -> kept) | new: epochs (kept) | new: validation loss (epoch 1 -> kept) | "
        "new / old kept loss | auto: epochs (kept) | auto: kept validation loss | "
        "auto / new kept loss |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        old, new = r["old"], r["new"]
        table = r["dataset"] + (" (Toll split)" if r["part"] == "toll" else "")

        def fit(f: dict[str, Any]) -> str:
            cap = "" if f["stopped_by_patience"] else ", cap"
            return f"{f['epochs']} ({f['best_epoch']}{cap})"

        auto = r.get("auto")  # absent from records written before the "auto" cap
        tail = (
            f" {fit(auto)} | {auto['val_loss_best']:.4g} | "
            f"{auto['val_loss_best'] / new['val_loss_best']:.3f} |"
            if auto
            else " – | – | – |"
        )
        lines.append(
            f"| {table} | {r['rows']} | {old['steps_per_epoch']} | {r['method']} | {fit(old)} | "
            f"{old['val_loss_first']:.4g} -> {old['val_loss_best']:.4g} | {fit(new)} | "
            f"{new['val_loss_first']:.4g} -> {new['val_loss_best']:.4g} | "
            f"{new['val_loss_best'] / old['val_loss_best']:.3f} |" + tail
        )
    gain = {
        m: [r["new"]["val_loss_best"] < r["old"]["val_loss_best"] for r in res["rows"]
            if r["method"] == m]
        for m in METHODS
    }  # fmt: skip
    autos = [r for r in res["rows"] if r.get("auto")]
    lines += [
        "",
        "Kept validation loss lower under the new rule: "
        + "; ".join(f"{m} {sum(v)} of {len(v)} tables" for m, v in gain.items())
        + ". (The VAEs' losses are negative log-likelihoods plus KL, the AE's a squared "
        'error; "cap": the cap ended the fit.)',
    ]
    if autos:
        capped = {
            rule: sum(not r[rule]["stopped_by_patience"] for r in autos) for rule in ("new", "auto")
        }
        ended = [r for r in autos if not r["new"]["stopped_by_patience"]]
        lower = sum(r["auto"]["val_loss_best"] < r["new"]["val_loss_best"] for r in ended)
        lines += [
            "",
            f"Fits ended by the cap: {capped['new']} of {len(autos)} at 500 passes, "
            f'{capped["auto"]} of {len(autos)} under `"auto"`. Of the {len(ended)} that the '
            f'500-pass cap ended, the "auto" cap kept a lower validation loss in {lower}; the '
            "others kept the same epoch. The fits that stopped by patience before pass 500 are "
            "the same fit under both caps.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "python benchmarks/patience_steps.py") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="the data folder (ODDS .mat files)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    args = parser.parse_args(argv)
    res = run(args.data, (prog, argv))
    publish(res, markdown(res), args.out, "patience-steps", args.readme)
