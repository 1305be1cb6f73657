"""What ``precision="auto"`` buys on this machine, and what it costs in detection quality.

Issue 20 asks that on a CPU with native bf16 (AVX512-BF16 or AMX) ``"auto"`` train the
``mnist`` and ``cifar10`` presets at least 1.5x as fast as ``"fp32"``, with one-class
ROC-AUCs within 0.01 (same seed, several classes), and that ``channels_last`` be used
for the conv backbones where it is faster. Two parts:

1. **Step timing.** One training step (forward, backward, Adam) and one scoring pass
   of a preset batch, for AE and MemAE, in four layouts: float32 and bf16 autocast,
   each with the default (contiguous) and the ``channels_last`` memory format. The
   layouts alternate step by step (each with its own copy of the network and its own
   Adam) and the medians are kept, so a slow spell of a shared machine hits all four.
2. **Whole fits.** The ``mnist`` and ``cifar10`` presets fitted on real training
   images of several normal classes, in ``"fp32"`` and in ``"auto"``, same seed, a
   fixed epoch budget (``--epochs``; patience off, so that both precisions train the
   same number of steps and the time ratio is the speed-up of a fit), then scored on
   the whole test set: the wall time of each fit and the ROC-AUC of each precision, and
   a float32 fit with another seed as the scale of differences that are not the
   precision's. ``--converged`` trains with the presets' own label-free stopping rule
   instead (validation loss, patience; hours on 2 cores); the speed-up is then per epoch.

3. **The tabular MLPs** (``--tabular``, on its own): a KDD preset step in float32 and
   bf16, and the sanity suite's ROC-AUC of every detector's defaults in both, the
   evidence for ``"auto"`` keeping MLP networks float32.
4. **The memory layout** (``--layout``, on its own): the step timing of part 1, with
   the scoring pass of every layout, once on this CPU as it is and once in a child
   process with oneDNN and ATen limited to AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``,
   ``ATEN_CPU_CAPABILITY=avx2``: a stand-in for CPUs without AVX-512), the evidence
   for float32 conv inputs going ``channels_last`` on CPU.

Run ``python benchmarks/precision.py [--readme README.md]`` (``--quick``: tiny slices).
Results: ``benchmarks/results/precision.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from benchmarks.runners.report import environment, publish
from benchmarks.runners.speed import alternate_steps, cpu_features
from memae import AutoEncoder, MemAE
from memae.datasets import load_image_dataset
from memae.evaluation import one_class_labels
from memae.nn.precision import Stack, native_bf16_cpu, set_precision
from memae.presets import PRESETS
from memae.training.trainer import adam

MODELS = {"AE": AutoEncoder, "MemAE": MemAE}
#: step timing: preset -> (one input's shape, timed steps)
STEP_PRESETS = {"mnist": ((28, 28), 40), "cifar10": ((32, 32, 3), 20),
                "ped2-cpu": ((1, 16, 64, 64), 8)}  # fmt: skip
#: whole fits: preset -> normal classes
FIT_PRESETS = {"mnist": (0, 1, 2, 3, 4), "cifar10": (0, 1, 2)}
LAYOUTS = ("fp32", "bf16", "fp32 channels_last", "bf16 channels_last")
FP32_LAYOUTS = ("fp32", "fp32 channels_last")
TARGET_SPEEDUP, TARGET_AUC_DIFF = 1.5, 0.01


def step_timing(
    preset: str, shape: tuple[int, ...], steps: int, layouts: tuple[str, ...] = LAYOUTS
) -> dict[str, Any]:
    """Median ms of a training step and a scoring pass per model and layout."""
    batch_size = PRESETS[preset].common["batch_size"]
    X = np.random.default_rng(0).integers(0, 256, (batch_size, *shape), dtype=np.uint8)
    out: dict[str, Any] = {"batch_size": batch_size, "steps": steps}
    for name, cls in MODELS.items():
        det = cls.from_preset(preset, epochs=1, validation_fraction=0.0, patience=None,
                              precision="fp32", device="cpu", random_state=0).fit(X)  # fmt: skip
        batch = next(det._batches(det._check_input(X), batch_size))[1]
        runs = {}
        for layout in layouts:
            net = copy.deepcopy(det.network_)
            set_precision(net, torch.bfloat16 if layout.startswith("bf16") else None)
            for m in net.modules():  # the layout, whatever set_precision chose
                if isinstance(m, Stack):
                    m.channels_last = layout.endswith("channels_last")
            runs[layout] = (det, net, adam(net, 1e-4), batch)
        out[name] = _median_ms(runs, steps)
    return out


def _median_ms(runs: dict[str, tuple], steps: int) -> dict[str, dict[str, float]]:
    """:func:`~benchmarks.runners.speed.alternate_steps` in milliseconds."""
    med = alternate_steps(runs, steps)
    return {k: {p: 1e3 * v for p, v in t.items()} for k, t in med.items()}


def tabular(data: str | None, quick: bool) -> dict[str, Any]:
    """Why ``"auto"`` keeps the tabular MLPs float32: a KDD preset step (1,024 rows) in
    float32 and bf16, and the sanity suite's ROC-AUC of every detector's defaults in both."""
    from memae import registry
    from memae.datasets import SANITY_KINDS, load_kdd, make_sanity

    X = load_kdd(data)[0][:4096]
    steps = {}
    for name, cls in MODELS.items():
        det = cls.from_preset("kdd", epochs=1, validation_fraction=0.0, precision="fp32",
                              device="cpu", random_state=0).fit(X)  # fmt: skip
        batch = next(det._batches(det._check_input(X), 1024))[1]
        runs = {}
        for p in ("fp32", "bf16"):
            net = copy.deepcopy(det.network_)
            set_precision(net, torch.bfloat16 if p == "bf16" else None)
            runs[p] = (det, net, adam(net, 1e-4), batch)
        steps[name] = _median_ms(runs, 20 if quick else 200)
    detectors = {n: c for n, c in registry.detectors().items() if c.__module__.startswith("memae.")}
    sanity = []
    for name, cls in detectors.items():
        for kind in SANITY_KINDS:
            X_s, X_t, y_t = make_sanity(kind, seed=0)
            row: dict[str, Any] = {"detector": name, "kind": kind}
            for p in ("fp32", "bf16"):
                det = cls(random_state=0, precision=p, **({"epochs": 2} if quick else {}))
                det.fit(X_s[:500] if quick else X_s)
                row[p] = float(roc_auc_score(y_t, det.decision_function(X_t)))
            sanity.append(row)
            print(row, flush=True)
    return {"kdd_steps": steps, "sanity": sanity}


def tabular_markdown(res: dict[str, Any]) -> str:
    env = res["environment"]
    t = res["tabular"]
    lines = [
        f"The tabular MLPs in float32 and bf16 on {env['cpu']}, {env['torch_threads']} torch "
        f"threads; `{env['command']}`. A KDD preset step (batch 1,024), median ms:",
        "",
        "| model | fp32 train | bf16 train | fp32 score | bf16 score |",
        "|---|---|---|---|---|",
    ]
    for name, r in t["kdd_steps"].items():
        lines.append(
            f"| {name} | {r['fp32']['train']:.2f} | {r['bf16']['train']:.2f} | "
            f"{r['fp32']['score']:.2f} | {r['bf16']['score']:.2f} |"
        )
    lines += [
        "",
        "The sanity suite (`memae.datasets.make_sanity`, seed 0), every detector's defaults, "
        "ROC-AUC:",
        "",
        "| detector | anomalies | fp32 | bf16 | bf16 - fp32 |",
        "|---|---|---|---|---|",
    ]
    for r in t["sanity"]:
        lines.append(
            f"| {r['detector']} | {r['kind']} | {r['fp32']:.4f} | {r['bf16']:.4f} | "
            f"{r['bf16'] - r['fp32']:+.4f} |"
        )
    return "\n".join(lines)


def _per_class(X: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    keep = np.sort(np.concatenate([np.flatnonzero(y == c)[:n] for c in np.unique(y)]))
    return X[keep], y[keep]


def whole_fits(
    preset: str, classes: tuple[int, ...], epochs: int | None, data: str | None, quick: bool
) -> dict[str, Any]:
    """Fit time and test ROC-AUC of every model and normal class, fp32 against auto
    (``epochs=None``: the preset's own stopping rule)."""
    budget = (
        {} if epochs is None else {"epochs": epochs, "validation_fraction": 0.0, "patience": None}
    )
    X, y = load_image_dataset(preset, "train", data)
    Xt, yt = load_image_dataset(preset, "test", data)
    if quick:  # the first images of every class
        X, y = _per_class(X, y, 100)
        Xt, yt = _per_class(Xt, yt, 20)
    rows = []
    for c in classes:
        labels = one_class_labels(yt, c)
        for name, cls in MODELS.items():
            row: dict[str, Any] = {"model": name, "class": c}
            # the reference: how far float32 itself moves with another seed
            for key, precision, seed in (("fp32", "fp32", 0), ("auto", "auto", 0),
                                         ("fp32_seed1", "fp32", 1)):  # fmt: skip
                det = cls.from_preset(preset, **budget, precision=precision, random_state=seed)
                start = time.perf_counter()
                det.fit(X[y == c])
                row[f"{key}_fit_seconds"] = time.perf_counter() - start
                row[f"{key}_epochs"] = len(det.history_)
                row[f"{key}_auc"] = float(roc_auc_score(labels, det.decision_function(Xt)))
            row["speedup"] = (row["fp32_fit_seconds"] / row["fp32_epochs"]) / (
                row["auto_fit_seconds"] / row["auto_epochs"]
            )  # per epoch: the two may stop at different epochs under --converged
            row["auc_diff"] = row["auto_auc"] - row["fp32_auc"]
            row["seed_diff"] = row["fp32_seed1_auc"] - row["fp32_auc"]
            rows.append(row)
            print(preset, row, flush=True)
    return {"epochs": epochs or "converged", "classes": list(classes), "rows": rows}


#: the child process of ``--layout`` that stands in for a CPU without AVX-512
AVX2_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def layout_timing(quick: bool, layouts: tuple[str, ...] = LAYOUTS) -> dict[str, Any]:
    """:func:`step_timing` of every step preset (``quick``: a fifth of the steps)."""
    scale = 0.2 if quick else 1.0
    return {
        preset: step_timing(preset, shape, max(2, int(steps * scale)), layouts)
        for preset, (shape, steps) in STEP_PRESETS.items()
    }


def layout_timing_avx2(quick: bool) -> dict[str, Any]:
    """:func:`layout_timing` of the float32 layouts (bf16 is emulated, many times slower,
    without AVX-512) in a child process limited to AVX2 (:data:`AVX2_ENV`), with this
    process's torch threads."""
    root = Path(__file__).resolve().parents[2]
    code = (
        f"import json, torch; torch.set_num_threads({torch.get_num_threads()}); "
        "from benchmarks.runners.precision import layout_timing; "
        f"print('RESULT', json.dumps(layout_timing({quick}, {FP32_LAYOUTS!r})))"
    )
    env = {**os.environ, **AVX2_ENV, "PYTHONPATH": os.pathsep.join([str(root), str(root / "src")])}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def layout_markdown(res: dict[str, Any]) -> str:
    env = res["environment"]
    lines = [
        f"Conv input layouts on {env['cpu']}, {env['torch_threads']} torch threads; "
        f"`{env['command']}`. One training step (forward, backward, Adam) and one scoring "
        "pass of a preset batch, median ms, the four layouts alternating step by step; "
        'speed-up = contiguous / `channels_last`. "AVX2": the same in a process with '
        "oneDNN and ATen limited to AVX2 (`"
        + " ".join(f"{k}={v}" for k, v in AVX2_ENV.items())
        + "`), a stand-in for CPUs without AVX-512 (bf16 is emulated there).",
        "",
        "| ISA | preset | model | fp32 train | fp32 channels_last train | speed-up | fp32 score "
        "| fp32 channels_last score | speed-up | bf16 train | bf16 channels_last train | "
        "speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for isa, timing in res["layout"].items():
        for preset, r in timing.items():
            for name in MODELS:
                t = r[name]
                cells = []
                for dt, part in (("fp32", "train"), ("fp32", "score"), ("bf16", "train")):
                    if dt not in t:  # bf16 is not timed where it is emulated
                        cells += ["–"] * 3
                        continue
                    a, b = t[dt][part], t[f"{dt} channels_last"][part]
                    cells += [f"{a:.1f}", f"{b:.1f}", f"{a / b:.2f}x"]
                lines.append(f"| {isa} | {preset} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace, command: tuple[str, list[str] | None]) -> dict[str, Any]:
    steps_scale = 0.2 if args.quick else 1.0
    res: dict[str, Any] = {
        "benchmark": "precision",
        "quick": args.quick,
        "environment": environment(*command),
        "cpu_features": cpu_features(),
        "precision_auto": "bf16" if native_bf16_cpu() else "fp32",
        "targets": {"speedup": TARGET_SPEEDUP, "auc_diff": TARGET_AUC_DIFF},
    }
    if args.tabular:
        res["tabular"] = tabular(args.data, args.quick)
        return res
    if args.layout:
        res["layout"] = {"native": layout_timing(args.quick)}
        res["layout"]["AVX2"] = layout_timing_avx2(args.quick)
        return res
    res["steps"] = {
        preset: step_timing(preset, shape, max(2, int(steps * steps_scale)))
        for preset, (shape, steps) in STEP_PRESETS.items()
    }
    classes = {p: c[:1] if args.quick else c for p, c in FIT_PRESETS.items()}
    epochs = 1 if args.quick else None if args.converged else args.epochs
    res["fits"] = {p: whole_fits(p, c, epochs, args.data, args.quick) for p, c in classes.items()}
    return res


def markdown(res: dict[str, Any]) -> str:
    env, auto = res["environment"], res["precision_auto"]
    feats = ", ".join(k for k, v in res["cpu_features"].items() if v) or "none of AVX-512/BF16/AMX"
    lines = [
        f'bf16 against float32 on {env["cpu"]} ({feats}; `precision="auto"` is {auto} here), '
        f"{env['torch_threads']} torch threads; `{env['command']}`.",
        "",
        "One training step (forward, backward, Adam) and one scoring pass of a preset batch, "
        "median ms, the four layouts alternating step by step:",
        "",
        "| preset | model | batch | "
        + " | ".join(f"{lay} train" for lay in LAYOUTS)
        + " | bf16 speed-up train | fp32 score | bf16 score | bf16 speed-up score |",
        "|---|---|---|" + "---|" * (len(LAYOUTS) + 4),
    ]
    for preset, r in res["steps"].items():
        for name in MODELS:
            t = r[name]
            lines.append(
                f"| {preset} | {name} | {r['batch_size']} | "
                + " | ".join(f"{t[lay]['train']:.1f}" for lay in LAYOUTS)
                + f" | {t['fp32']['train'] / t['bf16']['train']:.2f}x | {t['fp32']['score']:.1f} | "
                f"{t['bf16']['score']:.1f} | {t['fp32']['score'] / t['bf16']['score']:.2f}x |"
            )
    converged = any(f["epochs"] == "converged" for f in res["fits"].values())
    budget = (
        "the preset's own label-free stopping rule (epochs: fp32 / auto; speed-up per epoch)"
        if converged
        else "the preset with a fixed epoch budget (patience off, so both train the same steps)"
    )
    lines += [
        "",
        'Whole fits, `"fp32"` against `"auto"`, same seed, real training images of the normal '
        f"class, {budget}, ROC-AUC on the whole test set; the last two columns are a float32 "
        "fit with seed 1, the size of a difference that is not the precision's:",
        "",
        "| preset | epochs | model | class | fp32 fit s | auto fit s | speed-up | fp32 AUC | "
        "auto AUC | AUC diff | fp32 seed-1 AUC | seed diff |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for preset, f in res["fits"].items():
        for row in f["rows"]:
            epochs = f["epochs"]
            if epochs == "converged":
                epochs = f"{row['fp32_epochs']} / {row['auto_epochs']}"
            lines.append(
                f"| {preset} | {epochs} | {row['model']} | {row['class']} | "
                f"{row['fp32_fit_seconds']:.1f} | {row['auto_fit_seconds']:.1f} | "
                f"{row['speedup']:.2f}x | {row['fp32_auc']:.4f} | {row['auto_auc']:.4f} | "
                f"{row['auc_diff']:+.4f} | {row['fp32_seed1_auc']:.4f} | "
                f"{row['seed_diff']:+.4f} |"
            )
        for name in MODELS:
            speed, diff, seed = fit_summary(f["rows"], name)
            verdicts.append(
                f"{preset} {name}: speed-up {speed:.2f}x (geometric mean; target "
                f"{TARGET_SPEEDUP}x: {'met' if speed >= TARGET_SPEEDUP else 'missed'}), largest "
                f"|AUC diff| {diff:.4f} (target {TARGET_AUC_DIFF}: "
                f"{'met' if diff <= TARGET_AUC_DIFF else 'missed'}; float32 with seed 1 instead "
                f"of 0: {seed:.4f})"
            )
    lines += ["", "Targets (issue 20, native-bf16 CPU): " + "; ".join(verdicts) + "."]
    if auto == "fp32":
        lines += ["", '`"auto"` is float32 on this CPU, so the targets do not apply here.']
    return "\n".join(lines)


def fit_summary(rows: list[dict[str, Any]], model: str) -> tuple[float, float, float]:
    """One model's whole fits of a preset: the geometric mean of the "auto" / float32
    speed-ups, the largest |AUC difference| and the largest |seed difference|."""
    mine = [row for row in rows if row["model"] == model]
    speed = float(np.exp(np.mean([np.log(row["speedup"]) for row in mine])))
    diff = max(abs(row["auc_diff"]) for row in mine)
    seed = max(abs(row["seed_diff"]) for row in mine)
    return speed, diff, seed


def main(argv: list[str] | None = None, prog: str = "memae benchmark precision") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--epochs", type=int, default=10, help="fixed epochs of each whole fit")
    parser.add_argument(
        "--converged",
        action="store_true",
        help="whole fits with the presets' stopping rule instead of --epochs (hours)",
    )
    parser.add_argument(
        "--tabular",
        action="store_true",
        help="only the tabular MLPs: KDD step times and the sanity suite in fp32 and bf16",
    )
    parser.add_argument(
        "--layout",
        action="store_true",
        help="only the conv input layouts: step times, native and limited to AVX2",
    )
    parser.add_argument("--quick", action="store_true", help="tiny slices, 1 epoch, 1 class")
    parser.add_argument("--data", default=None, help="the data folder")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    args = parser.parse_args(argv)
    res = run(args, (prog, argv))
    if args.tabular:
        md, kind = tabular_markdown(res), "-tabular"
    elif args.layout:
        md, kind = layout_markdown(res), "-layout"
    else:
        md, kind = markdown(res), "-converged" if args.converged else ""
    stem = "precision" + kind + ("-quick" if args.quick else "")
    publish(res, md, args.out, stem, None if args.quick else args.readme)


if __name__ == "__main__":
    main()
