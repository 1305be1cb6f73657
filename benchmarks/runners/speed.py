"""Training and scoring throughput of memae's AE and MemAE against PyOD's AutoEncoder.

All three use the KDD preset's layer sizes (118-60-30-10-3, mirrored), tanh, the
same batch size and the same number of epochs, on the training half of the KDD
protocol (seed 0). PyOD runs with ``batch_norm=False, dropout_rate=0,
preprocessing=False`` so that it trains the same network; its only structural
difference is a tanh after the 3-d code layer, which PyOD always adds.

The conv part (on by default; ``--no-conv`` skips it) times the ``mnist`` and
``cifar10`` image presets and ``ped2-cpu`` clips for AE and MemAE in
``precision="fp32"`` and ``"auto"``: training images (clips) per second in the faster
of a second and a third epoch (the first pays one-off costs), and scoring per second.
Every figure is the best of ``--repeats`` rounds that interleave the models, so that
a slow spell of this shared machine hits a round of every model rather than one
model. The conv inputs are random uint8 images of the presets' sizes: a network's
cost does not depend on the pixel values. Each throughput is given with its FLOP
limit (the measured matmul rate over the network's forward FLOPs, counted by
``torch.utils.flop_counter``), and the torch operators that take most of a MemAE
training step (from the profiler).

``--device cuda`` runs the KDD and conv parts on a GPU (timings synchronised, results
in ``speed-cuda.json``; ``benchmarks/device_session.py`` runs it on a lent GPU).
``--paired`` times MemAE's overhead over the AE by alternating single steps;
``--compiled`` times ``torch.compile`` (inductor) against eager PyTorch the same way,
with the first, compiling step timed apart in a fresh cache. ``--scoring-batches``
times CPU scoring against the size of a scoring batch (what the default is chosen by).

Run ``python benchmarks/speed.py`` (or ``memae benchmark speed``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.runners.report import environment, publish
from memae import AutoEncoder, MemAE
from memae.datasets import load_kdd
from memae.evaluation import kdd_split
from memae.nn.precision import autocast_dtype, native_bf16_cpu
from memae.presets import PRESETS

#: issue 20's targets (issue 2's were 3x / 5x / 15%)
TARGETS = {"train_vs_pyod": 5.0, "score_vs_pyod": 10.0, "memae_overhead": 0.10, "rows_per_s": 1e6}
#: conv presets timed: (samples per timed epoch, quick samples, one input's shape)
CONV = {
    "mnist": (2048, 256, (28, 28)),
    "cifar10": (1024, 128, (32, 32, 3)),
    "ped2-cpu": (224, 28, (1, 16, 64, 64)),
}
PRECISIONS = ("fp32", "auto")


def cpu_features() -> dict[str, bool]:
    """The CPU's vector and bf16 features, as torch sees them (recorded with the figures)."""
    cpu = torch.cpu
    names = {
        "avx2": "_is_avx2_supported",
        "avx512": "_is_avx512_supported",
        "avx512_bf16": "_is_avx512_bf16_supported",
        "amx_tile": "_is_amx_tile_supported",
        "vnni": "_is_vnni_supported",
    }
    out = {k: bool(getattr(cpu, fn, lambda: False)()) for k, fn in names.items()}
    out["native_bf16"] = native_bf16_cpu()
    return out


def matmul_gflops(
    sizes: tuple[int, ...] = (1024, 2048),
    repeats: int = 5,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
) -> float:
    """Measured matmul GFLOP/s in ``dtype`` on ``device`` (on CPU with this process's torch
    threads): the hardware limit the networks' throughput is compared with. The fastest
    square product over ``sizes`` counts, so that one size's slow spell on a shared
    machine does not lower the limit. On a GPU the matrices are 8x larger per side, so
    that the product outlasts a kernel launch."""
    rates = []
    for n in sizes:
        if device != "cpu":
            n *= 8
        a = torch.randn(n, n, dtype=dtype, device=device)
        b = torch.randn(n, n, dtype=dtype, device=device)
        a @ b  # warm-up
        rates.append(2 * n**3 / _best_of(lambda a=a, b=b: a @ b, repeats, device) / 1e9)
    return max(rates)


def mlp_flops_per_row(det: Any) -> int:
    """Forward FLOPs of one row through the fitted network's linear layers (2 per MAC)."""
    return sum(
        2 * m.in_features * m.out_features
        for m in det.network_.modules()
        if isinstance(m, torch.nn.Linear)
    )


def _best_of(fn, repeats: int, device: str = "cpu") -> float:
    """The fastest of ``repeats`` calls of ``fn``, in seconds (on a GPU, synchronised)."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def _pyod(epochs: int, batch_size: int, device: str = "cpu"):
    from pyod.models.auto_encoder import AutoEncoder as PyODAutoEncoder

    return PyODAutoEncoder(
        hidden_neuron_list=[60, 30, 10, 3], hidden_activation_name="tanh", batch_norm=False,
        dropout_rate=0.0, preprocessing=False, epoch_num=epochs, batch_size=batch_size,
        lr=1e-3, optimizer_params={"weight_decay": 0.0}, contamination=0.2, verbose=0,
        random_state=0, device=device,
    )  # fmt: skip


def run(
    epochs: int = 5, repeats: int = 3, quick: bool = False, data: str | None = None,
    command: tuple[str, list[str] | None] = ("memae benchmark speed", None),
    conv: bool = True, device: str = "cpu",
) -> dict[str, Any]:  # fmt: skip
    X, y = load_kdd(data)
    train, _ = kdd_split(y, seed=0)
    X_train = X[train]
    X_score = X  # all 494,021 rows
    if quick:
        X_train, X_score, epochs, repeats = X_train[:20000], X[:100000], 1, 1
    batch = 1024
    common = dict(epochs=epochs, batch_size=batch, validation_fraction=0.0, device=device,
                  random_state=0)  # fmt: skip
    makers = {
        "memae AE": lambda: AutoEncoder.from_preset("kdd", **common),
        "memae MemAE": lambda: MemAE.from_preset("kdd", **common),
    }
    try:
        import pyod  # noqa: F401

        makers["PyOD AutoEncoder"] = lambda: _pyod(epochs, batch, device)
    except ImportError:
        print("PyOD is not installed (pip install 'memae[bench]'): skipping it")
    rows: dict[str, dict[str, float]] = {}
    for name, make in makers.items():
        make().set_params(**_one_epoch(name)).fit(X_train[:4096])  # warm-up, not timed
    # Rounds interleave the models, and each keeps its fastest round: on a shared
    # machine a slow spell then hits one round of every model rather than one model.
    fits: dict[str, list[float]] = {name: [] for name in makers}
    scores: dict[str, list[float]] = {name: [] for name in makers}
    for _ in range(repeats):
        for name, make in makers.items():
            det = make()
            fits[name].append(_best_of(lambda det=det: det.fit(X_train), 1, device))
            scores[name].append(_best_of(lambda det=det: det.decision_function(X_score), 1, device))
    for name in makers:
        fit_s, score_s = min(fits[name]), min(scores[name])
        rows[name] = {
            "fit_seconds": fit_s,
            "train_samples_per_s": len(X_train) * epochs / fit_s,
            "score_seconds": score_s,
            "score_rows_per_s": len(X_score) / score_s,
            "fit_seconds_per_round": fits[name],
            "score_seconds_per_round": scores[name],
        }
        print(
            f"{name:18s} train {rows[name]['train_samples_per_s']:>12,.0f} samples/s   "
            f"score {rows[name]['score_rows_per_s']:>12,.0f} rows/s",
            flush=True,
        )
    ratios: dict[str, float] = {}
    if "PyOD AutoEncoder" in rows:
        py = rows["PyOD AutoEncoder"]
        for name in ("memae AE", "memae MemAE"):
            ratios[f"{name} train speed-up vs PyOD"] = (
                rows[name]["train_samples_per_s"] / py["train_samples_per_s"]
            )
            ratios[f"{name} score speed-up vs PyOD"] = (
                rows[name]["score_rows_per_s"] / py["score_rows_per_s"]
            )
    # one small fitted MemAE for the operator profile and the FLOP count (layer sizes)
    probe = MemAE.from_preset("kdd", **{**common, "epochs": 1}).fit(X_train[:4096])
    profile = scoring_profile(probe, X_score)
    ae, mem = rows["memae AE"], rows["memae MemAE"]
    ratios["MemAE extra train time vs AE"] = mem["fit_seconds"] / ae["fit_seconds"] - 1
    ratios["MemAE extra score time vs AE"] = mem["score_seconds"] / ae["score_seconds"] - 1
    # How far from the hardware: training costs about 3 forward passes (forward, and the
    # backward's two matmuls per layer), scoring one.
    gflops = matmul_gflops(device=device)
    # bf16 rows are held to the bf16 matmul rate (native bf16 runs above the float32 one)
    rates = {"fp32": gflops, "bf16": matmul_gflops(dtype=torch.bfloat16, device=device)}
    flops = mlp_flops_per_row(probe)
    limits = {
        "train_samples_per_s": gflops * 1e9 / (3 * flops),
        "score_rows_per_s": gflops * 1e9 / flops,
    }
    for name in ("memae AE", "memae MemAE"):
        for key, limit in limits.items():
            rows[name][f"{key}_share_of_flop_limit"] = rows[name][key] / limit
    return {
        "benchmark": "speed",
        "quick": quick,
        "epochs": epochs,
        "batch_size": batch,
        "n_train": len(X_train),
        "n_score": len(X_score),
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "pyod_version": _pyod_version(),
        "environment": environment(*command),
        "cpu_features": cpu_features(),
        "precision_auto": "bf16" if autocast_dtype("auto", torch.device(device)) else "fp32",
        "matmul_gflops": gflops,
        "matmul_gflops_bf16": rates["bf16"],
        "mlp_forward_flops_per_row": flops,
        "flop_limits": limits,
        "targets": TARGETS,
        "results": rows,
        "ratios": ratios,
        "memae_scoring_profile": profile,
        "device": device,
        "conv": conv_speed(quick, rates, 1 if quick else repeats, device) if conv else {},
    }


def forward_flops(det: Any, x: torch.Tensor) -> float:
    """Forward FLOPs per sample of a fitted detector's network (torch's flop counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = det.network_.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() / len(x)


def top_operators(det: Any, x: torch.Tensor, n: int = 3) -> dict[str, float]:
    """Share of one training step's CPU time per torch operator (the largest ``n``)."""
    from torch.profiler import profile

    net = det.network_.train()
    with profile() as prof:
        det._loss(net, x)["loss"].backward()
    return _largest_shares(prof, n)


def conv_speed(
    quick: bool = False,
    rates: dict[str, float] | None = None,
    rounds: int = 2,
    device: str = "cpu",
) -> dict[str, Any]:
    """Training and scoring throughput of the conv presets, AE and MemAE, per precision;
    ``rates``: the measured matmul GFLOP/s of ``"fp32"`` and ``"bf16"``."""
    if rates is None:
        rates = {
            "fp32": matmul_gflops(device=device),
            "bf16": matmul_gflops(dtype=torch.bfloat16, device=device),
        }
    out: dict[str, Any] = {}
    for preset, (n_full, n_quick, shape) in CONV.items():
        n = n_quick if quick else n_full
        X = np.random.default_rng(0).integers(0, 256, (n, *shape), dtype=np.uint8)
        rows: dict[str, Any] = {}
        models = {"AE": AutoEncoder, "MemAE": MemAE}
        fitted: dict[str, Any] = {}  # the fp32 model of each class, for FLOPs and profile
        for _ in range(rounds):  # interleaved rounds, the fastest kept (as for KDD)
            for name, cls in models.items():
                for precision in PRECISIONS:
                    det = cls.from_preset(
                        preset, epochs=3, validation_fraction=0.0, patience=None,
                        precision=precision, device=device, random_state=0,
                    )  # fmt: skip
                    marks: list[float] = []
                    start = time.perf_counter()
                    det.fit(X, callbacks=(lambda *_, m=marks: m.append(time.perf_counter()),))
                    epoch_s = min(np.diff(marks))  # the faster of epochs 2 and 3
                    det.decision_function(X[:64])  # warm-up
                    score_s = _best_of(lambda det=det, X=X: det.decision_function(X), 1, device)
                    r = rows.setdefault(f"{name} {precision}", {"train_per_s": 0, "score_per_s": 0})
                    r["train_per_s"] = max(r["train_per_s"], n / epoch_s)
                    r["score_per_s"] = max(r["score_per_s"], n / score_s)
                    r["first_epoch_seconds"] = marks[0] - start
                    r["precision_resolved"] = "bf16" if det._amp_dtype() else "fp32"
                    if precision == "fp32":
                        fitted[name] = det
        for name, det in fitted.items():
            batch = next(det._batches(det._check_input(X[:64]), 64))[1]
            flops = forward_flops(det, batch)
            for precision in PRECISIONS:
                r = rows[f"{name} {precision}"]
                gflops = rates[r["precision_resolved"]]
                r["forward_flops_per_sample"] = flops
                r["train_share_of_flop_limit"] = r["train_per_s"] * 3 * flops / (gflops * 1e9)
                r["score_share_of_flop_limit"] = r["score_per_s"] * flops / (gflops * 1e9)
            if name == "MemAE":
                rows["MemAE training profile"] = top_operators(det, batch)
        out[preset] = rows
    return out


#: paired step timing: preset -> (input shape or None for the KDD rows, steps)
PAIRED = {"kdd": (None, 200), "mnist": ((28, 28), 60), "cifar10": ((32, 32, 3), 30),
          "ped2-cpu": ((1, 16, 64, 64), 12)}  # fmt: skip


def time_step(run: tuple) -> tuple[float, float]:
    """Seconds of one training step (forward, backward, Adam) and one scoring pass of a
    ``(detector, network, optimizer, batch)`` run."""
    det, net, opt, x = run
    net.train()
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    det._loss(net, x)["loss"].backward()
    opt.step()
    t1 = time.perf_counter()
    net.eval()
    with torch.inference_mode():
        det._score_batch(net, x)
    return t1 - t0, time.perf_counter() - t1


def alternate_steps(runs: dict[str, tuple], steps: int) -> dict[str, dict[str, float]]:
    """Median seconds of a training step (forward, backward, Adam) and a scoring pass of
    each ``(detector, network, optimizer, batch)`` of ``runs``, the runs alternating step
    by step (the order reversed every round) after two warm-up rounds."""
    times: dict[str, dict[str, list[float]]] = {k: {"train": [], "score": []} for k in runs}
    for i in range(steps + 2):  # the first two rounds warm up
        for key in list(runs)[:: 1 if i % 2 else -1]:
            train, score = time_step(runs[key])
            if i >= 2:
                times[key]["train"].append(train)
                times[key]["score"].append(score)
    return {k: {p: float(np.median(v)) for p, v in t.items()} for k, t in times.items()}


MODELS = {"AE": AutoEncoder, "MemAE": MemAE}


def _paired_data(preset: str, shape: tuple | None, data: str | None) -> np.ndarray:
    """Rows for a paired step timing: KDD training rows, or random images of ``shape``."""
    batch_size = PRESETS[preset].common["batch_size"]
    if shape is None:
        X, y = load_kdd(data)
        return X[kdd_split(y, seed=0)[0]][: 4 * batch_size]
    return np.random.default_rng(0).integers(0, 256, (batch_size, *shape), dtype=np.uint8)


def _step_run(
    cls: type, preset: str, X: np.ndarray, compiled: bool = False, precision: str = "auto"
) -> tuple:
    """``(detector, network, optimizer, batch)`` for :func:`alternate_steps`: ``cls`` with
    ``preset``'s network in ``precision`` fitted one epoch on ``X``; with ``compiled``, the
    detector's loss and its batch score (each with the network's forward pass and, through
    AOTAutograd, the backward) run under ``torch.compile``; Adam stays PyTorch's fused step."""
    from memae.training.trainer import adam

    batch_size = PRESETS[preset].common["batch_size"]
    det = cls.from_preset(preset, epochs=1, validation_fraction=0.0, device="cpu",
                          random_state=0, precision=precision).fit(X)  # fmt: skip
    batch = next(det._batches(det._check_input(X[:batch_size]), batch_size))[1]
    if compiled:  # instance attributes shadow the methods that time_step calls
        det._loss = torch.compile(det._loss)
        det._score_batch = torch.compile(det._score_batch)
    return det, det.network_, adam(det.network_, 1e-4), batch


def paired_overhead(data: str | None = None, quick: bool = False) -> dict[str, Any]:
    """MemAE's extra time per training step and per scoring batch over the AE's, measured
    by alternating single steps of the two (the order swapped every step) and taking
    medians: a slow spell of a shared machine then hits both, which whole-fit timings
    cannot promise. Same preset, same batch, Adam as in training.

    Each preset runs in ``precision="auto"``; where that is bf16 (conv presets on a
    native-bf16 CPU), the same is measured in ``"fp32"`` too, under the key ``"fp32"``:
    the memory stays float32 in both, so the two show how much of its overhead comes
    from the backbones getting faster."""
    out: dict[str, Any] = {}
    for preset, (shape, steps) in PAIRED.items():
        steps = max(4, steps // 10) if quick else steps
        X = _paired_data(preset, shape, data)
        out[preset] = _paired(preset, X, steps, "auto")
        if out[preset]["precision_resolved"] != "fp32":
            out[preset]["fp32"] = _paired(preset, X, steps, "fp32")
    return out


def _paired(preset: str, X: np.ndarray, steps: int, precision: str) -> dict[str, Any]:
    """:func:`paired_overhead`'s figures for one preset in one ``precision``."""
    runs = {name: _step_run(cls, preset, X, precision=precision) for name, cls in MODELS.items()}
    med = alternate_steps(runs, steps)
    return {
        "batch_size": PRESETS[preset].common["batch_size"],
        "steps": steps,
        "precision": precision,
        "precision_resolved": "fp32" if runs["AE"][0]._amp_dtype() is None else "bf16",
        "median_seconds": med,
        "memae_extra_train": med["MemAE"]["train"] / med["AE"]["train"] - 1,
        "memae_extra_score": med["MemAE"]["score"] / med["AE"]["score"] - 1,
    }


#: scoring-batch timing: preset -> (input shape or None for KDD rows, samples, quick samples)
SCORING = {"kdd": (None, 200_000, 20_000), "mnist": ((28, 28), 4000, 400),
           "cifar10": ((32, 32, 3), 1000, 100), "ped2-cpu": ((1, 16, 64, 64), 48, 8)}  # fmt: skip
#: input floats per CPU scoring batch that are timed (2^22 was the default before 2^19)
SCORING_BUDGETS = (17, 18, 19, 20, 21, 22)


def scoring_batches(data: str | None = None, quick: bool = False) -> dict[str, Any]:
    """``decision_function``'s throughput on CPU when a scoring batch holds ``2^b`` input
    floats, for every ``b`` of :data:`SCORING_BUDGETS`, AE and MemAE of each preset of
    :data:`SCORING` (fitted one epoch; KDD rows or random images of the preset's size).
    The budgets alternate within every round and each keeps its fastest round."""
    from memae.detectors.base import _INFERENCE_ELEMENTS

    rounds = 1 if quick else 5
    out: dict[str, Any] = {}
    for preset, (shape, n_full, n_quick) in SCORING.items():
        n = n_quick if quick else n_full
        if shape is None:
            X, _ = load_kdd(data)
            X = X[:n]
        else:
            X = np.random.default_rng(0).integers(0, 256, (n, *shape), dtype=np.uint8)
        fit_rows = X[: min(n, 4096 if shape is None else max(16, n // 16))]
        for name, cls in MODELS.items():
            det = cls.from_preset(preset, epochs=1, validation_fraction=0.0, device="cpu",
                                  random_state=0).fit(fit_rows)  # fmt: skip
            per_sample = int(np.prod(det.sample_shape_))
            sizes = {b: max(1, 2**b // per_sample) for b in SCORING_BUDGETS}
            best = dict.fromkeys(sizes, float("inf"))
            det.decision_function(X[:64])  # warm-up
            for _ in range(rounds):
                for b, bs in sizes.items():
                    t0 = time.perf_counter()
                    det.decision_function(X, batch_size=bs)
                    best[b] = min(best[b], time.perf_counter() - t0)
            out[f"{preset} {name}"] = {
                "samples": n,
                "default_batch": det._default_batch_size(),
                "default_budget_log2": int(np.log2(_INFERENCE_ELEMENTS)),
                "batch": {str(b): sizes[b] for b in sizes},
                "per_s": {str(b): n / t for b, t in best.items()},
            }
    return out


def nan_check(data: str | None = None, quick: bool = False) -> dict[str, Any]:
    """``decision_function`` on KDD rows with its lazy NaN/inf check (AE, MemAE and the
    others whose score reads every value look at the input only when a score is not
    finite) against the former path, which checks the whole input first and then scores
    the same array; the two alternate within every round, each keeps its fastest round,
    and the scores must be identical."""
    from memae.validation import check_finite

    X, y = load_kdd(data)
    X = X[:20_000] if quick else X  # all 494,021 rows
    fit_rows = X[kdd_split(y, seed=0)[0][:4096]] if not quick else X[:4096]
    rounds = 2 if quick else 10
    out: dict[str, Any] = {}
    for name, cls in MODELS.items():
        det = cls.from_preset("kdd", epochs=1, validation_fraction=0.0, device="cpu",
                              random_state=0).fit(fit_rows)  # fmt: skip
        paths = {
            "checked first": lambda det=det: det._scores(det._check_input(X, names=True)),
            "lazy": lambda det=det: det.decision_function(X),
        }
        same = bool(np.array_equal(paths["checked first"](), paths["lazy"]()))
        best = dict.fromkeys(paths, float("inf"))
        for i in range(rounds):
            for key in list(paths)[:: 1 if i % 2 else -1]:
                t0 = time.perf_counter()
                paths[key]()
                best[key] = min(best[key], time.perf_counter() - t0)
        out[name] = {
            "rows": len(X),
            "rounds": rounds,
            "identical_scores": same,
            "seconds": best,
            "speed_up": best["checked first"] / best["lazy"],
        }
    # the pass the lazy path saves, on its own: what the speed-up can be at most
    check = _best_of(lambda: check_finite(X), rounds)
    for row in out.values():
        row["check_seconds"] = check
    return out


def nan_check_markdown(res: dict[str, Any]) -> str:
    env = res["environment"]
    rows = res["nan_check"]
    first = next(iter(rows.values()))
    lines = [
        f"`decision_function` on {first['rows']:,} KDD rows with the NaN/inf check of the "
        "input done first (the former path) and done only when a score is not finite (the "
        f"lazy path), alternating, best of {first['rounds']} rounds, on {env['cpu']}, "
        f"{res['threads']} torch threads; `{env['command']}`:",
        "",
        "| model | checked first (s) | lazy (s) | speed-up | identical scores | "
        "the check alone (s) | its share of checked first |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        t = r["seconds"]
        lines.append(
            f"| {name} | {t['checked first']:.4f} | {t['lazy']:.4f} | {r['speed_up']:.3f}x | "
            f"{'yes' if r['identical_scores'] else 'no'} | {r['check_seconds']:.4f} | "
            f"{r['check_seconds'] / t['checked first']:.1%} |"
        )
    return "\n".join(lines)


def scoring_batches_markdown(res: dict[str, Any]) -> str:
    env = res["environment"]
    rows = res["scoring_batches"]
    first = next(iter(rows.values()))
    default, former = first["default_budget_log2"], max(SCORING_BUDGETS)
    head = " | ".join(f"2^{b}" for b in SCORING_BUDGETS)
    lines = [
        "Scoring throughput on CPU (samples/s; `ped2-cpu`: 16-frame clips) against the input "
        "floats a scoring batch holds (rows per batch in brackets), best of interleaved "
        f"rounds, on {env['cpu']}, {res['threads']} torch threads; `{env['command']}`. "
        f"The default, in bold, is 2^{default} (2 MB of float32 input); it was 2^{former}:",
        "",
        f"| preset | model | {head} | default vs 2^{former} |",
        "|---|---|" + "---|" * (len(SCORING_BUDGETS) + 1),
    ]
    for key, r in rows.items():
        preset, model = key.rsplit(" ", 1)
        cells = " | ".join(
            (f"**{r['per_s'][str(b)]:,.0f}**" if b == default else f"{r['per_s'][str(b)]:,.0f}")
            + f" ({r['batch'][str(b)]})"
            for b in SCORING_BUDGETS
        )
        gain = r["per_s"][str(default)] / r["per_s"][str(former)]
        lines.append(f"| {preset} | {model} | {cells} | {gain:.2f}x |")
    return "\n".join(lines)


#: presets of the compiled timing (those of issue 20's overhead target)
COMPILED = {"kdd": (None, 200), "mnist": ((28, 28), 40)}


def compiled_steps(data: str | None = None, quick: bool = False) -> dict[str, Any]:
    """Eager against ``torch.compile`` (inductor) for AE and MemAE: the four step runs
    alternate as in :func:`paired_overhead`. The first compiled step and scoring pass of
    each model, timed apart, pay for the compilation (in a fresh inductor cache)."""
    import tempfile
    from unittest import mock

    out: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as cache,
        mock.patch.dict(os.environ, {"TORCHINDUCTOR_CACHE_DIR": cache}),
        mock.patch.object(torch._inductor.config, "fx_graph_cache", False),
    ):  # no cached builds: a cold compile
        for preset, (shape, steps) in COMPILED.items():
            steps = max(4, steps // 10) if quick else steps
            X = _paired_data(preset, shape, data)
            runs, compile_s = {}, {}
            for name, cls in MODELS.items():
                runs[name] = _step_run(cls, preset, X)
                runs[f"{name} compiled"] = _step_run(cls, preset, X, compiled=True)
                compile_s[name] = sum(time_step(runs[f"{name} compiled"]))
            med = alternate_steps(runs, steps)
            out[preset] = {
                "batch_size": PRESETS[preset].common["batch_size"],
                "steps": steps,
                "median_seconds": med,
                "first_compiled_step_seconds": compile_s,
                **{
                    f"{m}_compiled_speedup_{k}": med[m][k] / med[f"{m} compiled"][k]
                    for m in MODELS
                    for k in ("train", "score")
                },
                **{
                    f"memae_extra_{k}_compiled": med["MemAE compiled"][k] / med["AE compiled"][k]
                    - 1
                    for k in ("train", "score")
                },
            }
    return out


def compiled_markdown(res: dict[str, Any]) -> str:
    goal = TARGETS["memae_overhead"]
    env = res["environment"]
    lines = [
        "`torch.compile` (inductor, default mode) against eager PyTorch: one training step "
        "(forward, loss and backward compiled, then Adam) and one "
        "scoring pass of a preset batch, the four runs alternating step by step (medians), "
        f'on {env["cpu"]}, {res["threads"]} torch threads, `precision="auto"`; '
        f"`{env['command']}`:",
        "",
        "| preset | model | eager train ms | compiled train ms | speed-up | eager score ms | "
        "compiled score ms | speed-up | first compiled step (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for preset, r in res["compiled"].items():
        m = r["median_seconds"]
        for name in MODELS:
            c = m[f"{name} compiled"]
            lines.append(
                f"| {preset} | {name} | {1e3 * m[name]['train']:.2f} | {1e3 * c['train']:.2f} | "
                f"{r[f'{name}_compiled_speedup_train']:.2f}x | {1e3 * m[name]['score']:.2f} | "
                f"{1e3 * c['score']:.2f} | {r[f'{name}_compiled_speedup_score']:.2f}x | "
                f"{r['first_compiled_step_seconds'][name]:.1f} |"
            )

    def extra(r: dict[str, Any], k: str) -> str:
        m = r["median_seconds"]
        eager = m["MemAE"][k] / m["AE"][k] - 1
        return f"{r[f'memae_extra_{k}_compiled']:+.1%} {k} (eager: {eager:+.1%})"

    extras = "; ".join(
        f"{p}: {extra(r, 'train')}, {extra(r, 'score')}" for p, r in res["compiled"].items()
    )
    lines += ["", f"MemAE's extra time over the AE, both compiled (target {goal:.0%}): {extras}."]
    return "\n".join(lines)


def paired_markdown(res: dict[str, Any]) -> str:
    goal = TARGETS["memae_overhead"]
    env = res["environment"]
    lines = [
        "MemAE's extra cost over the AE, one training step (forward, backward, Adam) and "
        "one scoring pass of a preset batch, the two models alternating step by step "
        f"(medians), on {env['cpu']}, {res['threads']} torch threads; `{env['command']}`:",
        "",
        "| preset | batch | steps | AE train ms | MemAE train ms | MemAE extra train | "
        "AE score ms | MemAE score ms | MemAE extra score |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def met(x: float) -> str:
        return f"{x:+.1%} ({'met' if x <= goal else 'missed'})"

    extra = []
    for preset, main in res["paired"].items():
        for label, r in ((preset, main), (f"{preset}, fp32", main.get("fp32"))):
            if r is None:
                continue
            m = r["median_seconds"]
            (extra if r is not main else lines).append(
                f"| {label} | {r['batch_size']} | {r['steps']} | {1e3 * m['AE']['train']:.2f} | "
                f"{1e3 * m['MemAE']['train']:.2f} | {met(r['memae_extra_train'])} | "
                f"{1e3 * m['AE']['score']:.2f} | {1e3 * m['MemAE']['score']:.2f} | "
                f"{met(r['memae_extra_score'])} |"
            )
    resolved = {p: r.get("precision_resolved", "fp32") for p, r in res["paired"].items()}
    lines += [
        *extra,
        "",
        'Rows without a precision run in `precision="auto"` (here: '
        + ", ".join(f"{p} {v}" for p, v in resolved.items())
        + '); a `, fp32` row is the same preset in float32, where `"auto"` is bf16 (the '
        "memory is float32 in both).",
        f"Target (issue 20): at most {goal:.0%} extra, on KDD and on `mnist`.",
    ]
    return "\n".join(lines)


def _one_epoch(name: str) -> dict[str, int]:
    return {"epoch_num": 1} if name.startswith("PyOD") else {"epochs": 1}


def scoring_profile(det: MemAE, X_score: np.ndarray) -> dict[str, float]:
    """Share of a fitted MemAE's scoring time per torch operator (what limits rows/s)."""
    from torch.profiler import profile

    with profile() as prof:
        det.decision_function(X_score[:200_000])
    return _largest_shares(prof, 6)


def _largest_shares(prof: Any, n: int) -> dict[str, float]:
    """The ``n`` torch operators with the largest share of a profile's CPU time."""
    averages = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in averages)
    shares = {e.key: e.self_cpu_time_total / total for e in averages}
    return dict(sorted(shares.items(), key=lambda kv: -kv[1])[:n])


def _shares_text(shares: dict[str, float]) -> str:
    return ", ".join(f"{op} {share:.0%}" for op, share in shares.items())


def _pyod_version() -> str | None:
    try:
        import pyod

        return pyod.__version__
    except ImportError:
        return None


def markdown(res: dict[str, Any]) -> str:
    env = res["environment"]
    where = f"{env['cpu']}, {res['threads']} torch threads"
    if res.get("device", "cpu") != "cpu":
        where = f"{env['cuda']} ({res['device']}; host {where})"
    lines = [
        f"KDD training half ({res['n_train']:,} rows, {res['epochs']} epochs, batch "
        f"{res['batch_size']}) and scoring of {res['n_score']:,} rows on {where}, "
        f"PyOD {res['pyod_version']}; `{env['command']}`:",
        "",
        "| model | train samples/s | score rows/s | share of the FLOP limit (train / score) |",
        "|---|---|---|---|",
    ]
    for name, r in res["results"].items():
        share = "–"
        if "train_samples_per_s_share_of_flop_limit" in r:
            share = (
                f"{r['train_samples_per_s_share_of_flop_limit']:.1%} / "
                f"{r['score_rows_per_s_share_of_flop_limit']:.1%}"
            )
        lines.append(
            f"| {name} | {r['train_samples_per_s']:,.0f} | {r['score_rows_per_s']:,.0f} | {share} |"
        )
    if "flop_limits" in res:
        feats = ", ".join(k for k, v in res["cpu_features"].items() if v) or "none"
        lines += [
            "",
            f"FLOP limit: measured float32 matmul {res['matmul_gflops']:.1f} GFLOP/s (bf16: "
            f"{res.get('matmul_gflops_bf16', float('nan')):.1f}, the bf16 conv rows' limit) over "
            f"{res['mlp_forward_flops_per_row']:,} forward FLOPs per row (training: 3x) = "
            f"{res['flop_limits']['train_samples_per_s']:,.0f} training samples/s and "
            f"{res['flop_limits']['score_rows_per_s']:,.0f} scored rows/s. CPU features: "
            f'{feats}; `precision="auto"` is {res["precision_auto"]} here for conv networks '
            "and float32 for these MLP rows.",
        ]
    lines += ["", "| ratio | measured |", "|---|---|"]
    for name, value in res["ratios"].items():
        shown = f"{value:+.1%}" if "extra" in name else f"{value:.1f}x"
        lines.append(f"| {name} | {shown} |")
    r, t = res["ratios"], res["targets"]
    checks = [
        (f"AE trains >= {t['train_vs_pyod']:g}x faster than PyOD",
         r.get("memae AE train speed-up vs PyOD"), t["train_vs_pyod"], "x"),
        (f"MemAE trains >= {t['train_vs_pyod']:g}x faster than PyOD",
         r.get("memae MemAE train speed-up vs PyOD"), t["train_vs_pyod"], "x"),
        (f"AE scores >= {t['score_vs_pyod']:g}x faster than PyOD",
         r.get("memae AE score speed-up vs PyOD"), t["score_vs_pyod"], "x"),
        (f"MemAE scores >= {t['score_vs_pyod']:g}x faster than PyOD",
         r.get("memae MemAE score speed-up vs PyOD"), t["score_vs_pyod"], "x"),
        (f"MemAE training costs <= {t['memae_overhead']:.0%} more than AE",
         r["MemAE extra train time vs AE"], t["memae_overhead"], "%"),
        (f"MemAE scoring costs <= {t['memae_overhead']:.0%} more than AE",
         r["MemAE extra score time vs AE"], t["memae_overhead"], "%"),
        ("MemAE scores >= 1,000,000 rows/s", res["results"]["memae MemAE"]["score_rows_per_s"],
         t["rows_per_s"], "rows"),
    ]  # fmt: skip
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for label, value, goal, unit in checks:
        if value is None:
            continue
        met = value <= goal if unit == "%" else value >= goal
        shown = {"x": f"{value:.1f}x", "%": f"{value:+.1%}", "rows": f"{value:,.0f}"}[unit]
        lines.append(f"| {label} | {shown} | {'yes' if met else 'no'} |")
    top = _shares_text(res["memae_scoring_profile"])
    lines += ["", f"MemAE scoring time by torch operator: {top}."]
    if res.get("conv"):
        lines += ["", *conv_markdown(res)]
    return "\n".join(lines)


def conv_markdown(res: dict[str, Any]) -> list[str]:
    """The conv presets' table, the MemAE/AE and auto/fp32 ratios and the profiles."""
    auto = res["precision_auto"]
    lines = [
        "Conv presets (random uint8 inputs of the presets' sizes; training: the faster of "
        "epochs 2 and 3; the best of interleaved rounds; `ped2-cpu` counts 16-frame clips), "
        f'`precision="auto"` = {auto} here:',
        "",
        "| preset | model | precision | train /s | score /s | share of the FLOP limit "
        "(train / score) |",
        "|---|---|---|---|---|---|",
    ]
    checks = []
    for preset, rows in res["conv"].items():
        for key, r in rows.items():
            if "profile" in key:
                continue
            name, precision = key.split()
            lines.append(
                f"| {preset} | {name} | {precision} | {r['train_per_s']:,.0f} | "
                f"{r['score_per_s']:,.0f} | {r['train_share_of_flop_limit']:.1%} / "
                f"{r['score_share_of_flop_limit']:.1%} |"
            )
        for precision in PRECISIONS:
            ae, mem = rows[f"AE {precision}"], rows[f"MemAE {precision}"]
            for what in ("train", "score"):
                extra = ae[f"{what}_per_s"] / mem[f"{what}_per_s"] - 1
                checks.append((preset, f"MemAE {what} time vs AE ({precision})", extra))
        for name in ("AE", "MemAE"):
            fp32, au = rows[f"{name} fp32"], rows[f"{name} auto"]
            checks.append(
                (
                    preset,
                    f"{name} auto vs fp32 training speed",
                    au["train_per_s"] / fp32["train_per_s"],
                )
            )
    goal = res["targets"]["memae_overhead"]
    lines += ["", "| preset | ratio | measured | target |", "|---|---|---|---|"]
    for preset, label, value in checks:
        if "auto vs fp32" in label:
            target = (
                ">= 1.5x with native bf16" if auto == "bf16" else "not slower (auto is fp32 here)"
            )
            lines.append(f"| {preset} | {label} | {value:.2f}x | {target} |")
        else:
            met = "met" if value <= goal else "missed"
            lines.append(f"| {preset} | {label} | {value:+.1%} | <= {goal:.0%}: {met} |")
    profiles = "; ".join(
        f"{preset}: {_shares_text(rows['MemAE training profile'])}"
        for preset, rows in res["conv"].items()
    )
    lines += ["", f"Largest operators of a MemAE training step (fp32): {profiles}."]
    return lines


def main(argv: list[str] | None = None, prog: str = "memae benchmark speed") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved rounds of every model (best kept)"
    )
    parser.add_argument("--quick", action="store_true", help="20k rows, 1 epoch")
    parser.add_argument("--data", default=None, help="kdd_cup.npz or the data folder")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    parser.add_argument(
        "--no-conv", action="store_true", help="skip the conv presets (mnist, cifar10, ped2-cpu)"
    )
    parser.add_argument(
        "--paired",
        action="store_true",
        help="only MemAE's overhead over the AE, by alternating single steps (speed-paired)",
    )
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="only eager against torch.compile, AE and MemAE, kdd and mnist (speed-compiled)",
    )
    parser.add_argument(
        "--scoring-batches",
        action="store_true",
        help="only CPU scoring throughput against the scoring batch's size (speed-scoring-batches)",
    )
    parser.add_argument(
        "--nan-check",
        action="store_true",
        help="only decision_function with the lazy NaN/inf check against the former one "
        "(speed-nan-check)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where the main run (KDD and conv presets) trains and scores: cpu or cuda "
        "(--paired and --compiled stay on CPU)",
    )
    args = parser.parse_args(argv)
    modes = {
        "scoring_batches": ("speed-scoring-batches", scoring_batches, scoring_batches_markdown),
        "nan_check": ("speed-nan-check", nan_check, nan_check_markdown),
        "compiled": ("speed-compiled", compiled_steps, compiled_markdown),
        "paired": ("speed-paired", paired_overhead, paired_markdown),
    }
    readme = None if args.quick else args.readme
    for flag, (stem, measure, render) in modes.items():
        if getattr(args, flag):
            res = {
                "benchmark": stem,
                "quick": args.quick,
                "threads": torch.get_num_threads(),
                "environment": environment(*((prog, argv))),
                "targets": TARGETS,
                flag: measure(args.data, args.quick),
            }
            publish(res, render(res), args.out, f"{stem}-quick" if args.quick else stem, readme)
            return
    res = run(
        args.epochs,
        args.repeats,
        args.quick,
        args.data,
        command=(prog, argv),
        conv=not args.no_conv,
        device=args.device,
    )
    stem = "speed" + ("" if args.device == "cpu" else f"-{args.device.split(':')[0]}")
    publish(res, markdown(res), args.out, stem + ("-quick" if args.quick else ""), readme)


if __name__ == "__main__":
    main()
