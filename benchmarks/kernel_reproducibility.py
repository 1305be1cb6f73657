"""Does a seeded CPU fit give the same scores under other CPU kernels?

    python benchmarks/kernel_reproducibility.py [--readme README.md]

A fixed ``random_state`` makes a repeated fit bit-identical on one machine. Another
machine may run other kernels (AVX2 instead of AVX-512, another MKL GEMM path), so
this fits AE and MemAE with the ``cifar10`` preset (2 epochs, 256 training images of
class 6, 200 test images) in a fresh process per setting, each forcing one kernel
choice through torch's / MKL's / oneDNN's environment variables (or, in one row, two
torch threads instead of one: the split of each reduction between threads changes its
rounding), and compares the scores with the default setting's. Results:
``benchmarks/results/reproducibility.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.report import environment, update_readme, write_results

SETTINGS = {
    "default (repeated)": {},
    "ATEN_CPU_CAPABILITY=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "MKL_CBWR=COMPATIBLE": {"MKL_CBWR": "COMPATIBLE"},
    "ONEDNN_MAX_CPU_ISA=AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "2 torch threads (not 1)": {"REPRO_TORCH_THREADS": "2"},
}

_CHILD = """
import os, sys, numpy as np, torch
torch.set_num_threads(int(os.environ.get("REPRO_TORCH_THREADS", "1")))
from memae import AutoEncoder, MemAE
from memae.datasets import load_image_dataset
X, y = load_image_dataset("cifar10", "test", sys.argv[2] or None)
train, test = X[y == 6][:256], X[:200]
out = {n: c.from_preset("cifar10", epochs=2, random_state=0).fit(train).decision_function(test)
       for n, c in (("AE", AutoEncoder), ("MemAE", MemAE))}
np.savez(sys.argv[1], **out)
"""


def _fit(env: dict[str, str], data: str | None, path: Path) -> dict[str, np.ndarray]:
    subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), data or ""],
        env={**os.environ, **env},
        check=True,
    )
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _records(results: Path) -> dict[str, dict] | None:
    """AE / MemAE CIFAR-10 seed-0 AUCs: the leaderboard's (an earlier run) against the
    records, or None where the records of that code are gone (re-run since)."""
    board = json.loads((results / "leaderboard.json").read_text())["results"]
    board = board.get("images", {}).get("cifar10")
    if board is None:  # the leaderboard's image part is being re-run
        return None
    out = {}
    for m in ("AE", "MemAE"):
        pairs = [
            (auc, json.loads(f.read_text())["auc"])
            for c, auc in board[m]["per_class_auc"].items()
            if (f := results / "work" / "cifar10" / m / f"class{c}-seed0.json").is_file()
        ]
        if len(pairs) < len(board[m]["per_class_auc"]):
            return None
        out[m] = {
            "classes": len(pairs),
            "bit_identical": all(a == b for a, b in pairs),
            "max_auc_difference": max(abs(a - b) for a, b in pairs),
            "leaderboard_mean": board[m]["auc"],
            "records_mean": float(np.mean([b for _, b in pairs])),
        }
    return out


def run(data: str | None = None, results: Path = Path("benchmarks/results")) -> dict:
    records, measured = _records(results), None  # before the fits: fail fast
    if records is None:
        measured, records = _published_records(results)
    with tempfile.TemporaryDirectory() as tmp:
        base = _fit({}, data, Path(tmp) / "base.npz")
        rows = {}
        for i, (name, env) in enumerate(SETTINGS.items()):
            other = _fit(env, data, Path(tmp) / f"setting{i}.npz")
            diff = {m: float(np.abs(base[m] - other[m]).max()) for m in base}
            rows[name] = {
                m: {
                    "bit_identical": bool(np.array_equal(base[m], other[m])),
                    "max_abs_score_difference": diff[m],
                    "max_relative_difference": diff[m] / float(np.abs(base[m]).max()),
                }
                for m in base
            }
    return {
        "benchmark": "reproducibility",
        "protocol": "AE and MemAE, cifar10 preset, 2 epochs, 256 training images of class 6, "
        "200 test images, 1 torch thread (2 in its row), random_state 0; one process per "
        "setting; scores compared with a first default-setting process",
        "environment": environment("python benchmarks/kernel_reproducibility.py", None),
        "results": rows,
        "cifar10_records": records,
        # when the comparison was measured, where it is an earlier run's (None: this run's)
        "cifar10_records_measured": measured,
    }


def _published_records(results: Path) -> tuple[str, dict[str, dict]]:
    """``(date, comparison)`` as published by an earlier run, once its records have been
    replaced by a re-run of newer code. The date is the run that measured it."""
    old = json.loads((results / "reproducibility.json").read_text())
    records = dict(old["cifar10_records"])
    # files written before the date had its own field kept it inside the records
    measured = records.pop("measured", None)
    return old.get("cifar10_records_measured") or measured or old["environment"]["date"], records


def markdown(results: dict) -> str:
    lines = [
        f"Same seed, other CPU kernels (`{results['environment']['command']}`; "
        f"{results['environment']['cpu']}, torch {results['environment']['torch']}):",
        "",
        "| setting | AE: bit-identical | AE: max relative difference | MemAE: bit-identical | "
        "MemAE: max relative difference |",
        "|---|---|---|---|---|",
    ]
    for name, r in results["results"].items():
        ae, mem = r["AE"], r["MemAE"]
        lines.append(
            f"| {name} | {'yes' if ae['bit_identical'] else 'no'} | "
            f"{ae['max_relative_difference']:.1e} | {'yes' if mem['bit_identical'] else 'no'} | "
            f"{mem['max_relative_difference']:.1e} |"
        )
    lines += [
        "",
        "CIFAR-10 seed-0 one-class AUCs of two runs in different sessions (the leaderboard's, "
        "kept in `leaderboard.json`, against the task records in "
        "`benchmarks/results/work/cifar10/`"
        + (
            f"; compared on {measured[:10]}, before those "
            "records were replaced by the re-run of issue 23"
            if (measured := results.get("cifar10_records_measured"))
            else ""
        )
        + "):",
        "",
        "| model | classes in both | bit-identical | max AUC difference | leaderboard mean | "
        "records mean |",
        "|---|---|---|---|---|---|",
    ]
    for m, r in results["cifar10_records"].items():
        lines.append(
            f"| {m} | {r['classes']} | {'yes' if r['bit_identical'] else 'no'} | "
            f"{r['max_auc_difference']:.4f} | {r['leaderboard_mean']:.4f} | "
            f"{r['records_mean']:.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--readme", type=Path, default=None)
    args = parser.parse_args()
    results = run(args.data, args.out)
    md = markdown(results)
    write_results(results, md, args.out, "reproducibility")
    print(md)
    if args.readme is not None:
        update_readme(args.readme, "reproducibility", md)


if __name__ == "__main__":
    main()
