"""Every target of the open issues, met or missed, read from the committed result files.

Nothing is re-run: each row reads the figure that another benchmark wrote under
``benchmarks/results/`` and names that file and the command that produced it. A row
whose file is missing (its benchmark not run yet) says so instead of a figure.

- Detection quality (issue 23, requirement 5, and the MemAE paper's figures):
  ``kdd.json`` (20 runs), ``mnist-3seeds.json`` (3 seeds), ``leaderboard.json`` (ODDS,
  5 seeds), ``cifar10-seed0.json``, ``ped2.json``.
- Speed (issue 20): ``speed.json`` (the PyOD ratios, on KDD), ``speed-paired.json``
  (MemAE's extra time over the AE, step by step), ``precision.json`` ("auto" against
  float32, whole fits on a native-bf16 CPU).

Run ``python benchmarks/targets.py --readme README.md`` after any of those benchmarks.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.runners import images, kdd, leaderboard, precision, tracks, video
from benchmarks.runners.report import environment, publish

Loader = Callable[[str], "dict[str, Any] | None"]
#: the result files read, besides ``ped2-full*`` (a full ``ped2`` run on a GPU)
SOURCES = ("kdd", "mnist-3seeds", "leaderboard", "cifar10-seed0", "ped2", "speed",
           "speed-paired", "precision")  # fmt: skip
#: the command the README block names (also when a benchmark refreshes it)
COMMAND = ("python benchmarks/targets.py", ["--readme", "README.md"])


def _row(
    issue: int,
    target: str,
    source: str,
    res: dict[str, Any] | None,
    measured: float | None,
    goal: float | None,
    higher: bool = True,
    fmt: str = "{:.4f}",
) -> dict[str, Any]:
    """One target: ``met`` is None where its benchmark has not run (or not that method)."""
    met = None
    if measured is not None and goal is not None:
        met = measured >= goal if higher else measured <= goal
    return {
        "issue": issue,
        "target": target,
        "measured": measured,
        "goal": goal,
        "higher_is_better": higher,
        "met": met,
        "format": fmt,
        "source": f"{source}.json",
        "command": None if res is None else res["environment"]["command"],
    }


def detection(load: Loader) -> list[dict[str, Any]]:
    """Issue 23's targets (requirement 5) and the MemAE paper's four headline figures."""
    rows = []
    res = load("kdd")

    def fig(r: dict[str, Any] | None, metric: str, method: str) -> float | None:
        return tracks.figure(r, metric, method)

    memae_f1, ae_f1 = fig(res, "f1", "MemAE"), fig(res, "f1", "AE")
    paper = kdd.PAPER["MemAE"]["f1"]
    rows += [
        _row(23, "KDDCUP99: MemAE F1 (20 runs) at or above the paper's", "kdd", res, memae_f1,
             paper),
        _row(23, "KDDCUP99: MemAE F1 above the AE's", "kdd", res, memae_f1, ae_f1),
    ]  # fmt: skip
    res = load("mnist-3seeds")
    mnist = {m: fig(res, "auc", m) for m in ("AE", "MemAE", "LatentNormAE", "CompactVAE-sphere")}
    rows.append(
        _row(23, "MNIST one-class: MemAE ROC-AUC (3 seeds) at or above the paper's",
             "mnist-3seeds", res, mnist["MemAE"], images.PAPER["mnist"]["MemAE"])
    )  # fmt: skip
    for m in ("LatentNormAE", "CompactVAE-sphere"):
        rows.append(
            _row(23, f"MNIST one-class: {m} ROC-AUC (3 seeds) above the AE's", "mnist-3seeds",
                 res, mnist[m], mnist["AE"])
        )  # fmt: skip
    res = load("leaderboard")
    odds = {m: fig(res, "odds", m) for m in (*leaderboard.MEMAE_DETECTORS, "KNN")}
    for m in ("LatentNormAE", "CompactVAE-sphere", "CompactVAE-lipschitz"):
        rows.append(
            _row(23, f"ODDS mean ROC-AUC (5 seeds): {m} above the AE", "leaderboard", res,
                 odds[m], odds["AE"])
        )  # fmt: skip
    # the Lipschitz CompactVAE is not in the 3-seed MNIST run: the leaderboard's seed 0
    seed0 = {} if res is None else res["results"].get("images", {}).get("mnist", {})
    auc = {m: seed0[m]["auc"] if m in seed0 else None for m in ("AE", "CompactVAE-lipschitz")}
    rows.append(
        _row(23, "MNIST one-class (seed 0): CompactVAE-lipschitz ROC-AUC above the AE's",
             "leaderboard", res, auc["CompactVAE-lipschitz"], auc["AE"])
    )  # fmt: skip
    ours = {m: v for m, v in odds.items() if m != "KNN" and v is not None}
    best = max(ours, key=ours.__getitem__) if ours else None
    rows.append(
        _row(23, f"ODDS mean ROC-AUC: the best memae detector ({best or 'none run'}) at or "
             "above KNN (5-NN)", "leaderboard", res, ours.get(best), odds["KNN"])
    )  # fmt: skip
    res = load("cifar10-seed0")
    rows.append(
        _row(23, "CIFAR-10 one-class: MemAE ROC-AUC (seed 0) at or above the paper's",
             "cifar10-seed0", res, fig(res, "auc", "MemAE"), images.PAPER["cifar10"]["MemAE"])
    )  # fmt: skip
    res = load("ped2")
    rows.append(
        _row(23, "UCSD Ped2 (`ped2-cpu`): MemAE frame ROC-AUC at or above the paper's "
             "(`ped2` on a GPU)", "ped2", res, fig(res, "frame_auc", "MemAE"),
             video.PAPER["MemAE"])
    )  # fmt: skip
    return rows


def speed(load: Loader, ped2_full: str | None = None) -> list[dict[str, Any]]:
    """Issue 20's targets: the PyOD ratios, MemAE's extra time, bf16's speed-up, and the
    GPU figures (``ped2_full``: the stem of a full `ped2` run, if there is one)."""
    rows = []
    speed_res = res = load("speed")
    ratios = {} if res is None else res["ratios"]
    goals = {} if res is None else res["targets"]
    for model in ("AE", "MemAE"):
        for what, key, goal in (("trains", "train", "train_vs_pyod"),
                                ("scores", "score", "score_vs_pyod")):  # fmt: skip
            rows.append(
                _row(20, f"KDD: memae {model} {what} at least {goals.get(goal, '?')}x as fast as "
                     "PyOD's AutoEncoder", "speed", res,
                     ratios.get(f"memae {model} {key} speed-up vs PyOD"), goals.get(goal),
                     fmt="{:.1f}x")
            )  # fmt: skip
    res = load("speed-paired")
    paired = {} if res is None else res["paired"]
    limit = None if res is None else res["targets"]["memae_overhead"]
    for preset in ("kdd", "mnist"):
        for what, doing in (("train", "training"), ("score", "scoring")):
            value = paired.get(preset, {}).get(f"memae_extra_{what}")
            rows.append(
                _row(20, f"{preset}: MemAE's extra {doing} time over the AE's (one step)",
                     "speed-paired", res, value, limit, higher=False, fmt="{:+.1%}")
            )  # fmt: skip
    res = load("precision")
    fits = {} if res is None else res["fits"]
    native = res is not None and res["cpu_features"].get("native_bf16", False)
    goals = {} if res is None else res["targets"]
    for preset in ("mnist", "cifar10"):
        for model in precision.MODELS:
            have = preset in fits and native
            pace, diff, _ = precision.fit_summary(fits[preset]["rows"], model) if have else (
                None, None, None)  # fmt: skip
            rows += [
                _row(20, f"{preset}: {model} trains at least {goals.get('speedup', '?')}x as "
                     'fast with `precision="auto"` as with float32 (native-bf16 CPU)',
                     "precision", res, pace, goals.get("speedup"), fmt="{:.2f}x"),
                _row(20, f"{preset}: {model}'s ROC-AUC under \"auto\" within "
                     f"{goals.get('auc_diff', '?')} of float32's (largest difference)",
                     "precision", res, diff, goals.get("auc_diff"), higher=False),
            ]  # fmt: skip
    # requirement 5: the speed benchmark and the full `ped2` preset (`ped2-full*.json`,
    # the epochs that fitted the device time in the name) run on a lent GPU
    res, full = speed_res, load(ped2_full) if ped2_full else None
    gpus = [r["environment"].get("cuda") for r in (res, full) if r is not None]
    row = _row(20, "the speed benchmark and the full `ped2` preset on a lent GPU"
               + (f" ({', '.join(g for g in gpus if g)})" if any(gpus) else ""), "speed", res,
               None, None)  # fmt: skip
    row["met"] = True if len(gpus) == 2 and all(gpus) else None
    rows.append(row)
    return rows


def run(results_dir: Path, command: tuple[str, list[str] | None]) -> dict[str, Any]:
    def load(name: str) -> dict[str, Any] | None:
        path = results_dir / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    full = sorted(p for p in results_dir.glob("ped2-full*.json") if "quick" not in p.name)
    return {
        "benchmark": "targets",
        "environment": environment(*command),
        "rows": detection(load) + speed(load, full[-1].stem if full else None),
    }


def _cell(row: dict[str, Any], key: str) -> str:
    value = row[key]
    return "–" if value is None else row["format"].format(value)


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "Every target of the open issues, from the committed result files (nothing re-run; "
        f"each row names its file), `{res['environment']['command']}`:",
        "",
        "| issue | target | measured | goal | met | from |",
        "|---|---|---|---|---|---|",
    ]
    verdict = {True: "yes", False: "**no**", None: "not run"}
    for r in res["rows"]:
        lines.append(
            f"| {r['issue']} | {r['target']} | {_cell(r, 'measured')} | {_cell(r, 'goal')} | "
            f"{verdict[r['met']]} | `{r['source']}` |"
        )
    issues = dict.fromkeys(r["issue"] for r in res["rows"])  # in table order
    met = [
        f"issue {i}: {sum(r['met'] is True for r in res['rows'] if r['issue'] == i)} of "
        f"{sum(r['issue'] == i for r in res['rows'])}"
        for i in issues
    ]
    commands = dict.fromkeys((r["source"], r["command"]) for r in res["rows"])
    lines += [
        "",
        "Met: " + "; ".join(met) + ". The sections below give each figure with its table "
        "and the evidence for every miss. The files were written by:",
        "",
        *(f"- `{src}`: " + (f"`{cmd}`" if cmd else "not run yet") for src, cmd in commands),
    ]
    return "\n".join(lines)


def is_source(stem: str) -> bool:
    """Whether the result file ``stem.json`` feeds the targets table."""
    return stem in SOURCES or (stem.startswith("ped2-full") and "quick" not in stem)


def refresh(results_dir: Path, readme: Path) -> None:
    """Rewrite the targets table (files and README block) after a source changed."""
    res = run(results_dir, COMMAND)
    publish(res, markdown(res), results_dir, "targets", readme)


def main(argv: list[str] | None = None, prog: str = "python benchmarks/targets.py") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--out", type=Path, default=None, help="default: --results")
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    args = parser.parse_args(argv)
    res = run(args.results, (prog, argv))
    publish(res, markdown(res), args.out or args.results, "targets", args.readme)
