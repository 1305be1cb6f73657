"""Diagnostic (issue 23): the Ped2 frame AUC under memae's clip score and the official code's.

memae scores a clip by its mean squared reconstruction error, as the paper's text
defines the score. The official code's test script (``script_testing.py`` of
donggong1/memae-anomaly-detection) scores the AE that way too, but scores MemAE by
``torch.sum(r**2, dim=1)**0.5`` averaged over the clip: the per-pixel L2 norm over
the channels, which for grayscale frames is the **mean absolute error**. The two rules
rank clips differently (the squared error is led by a clip's largest pixel errors);
both conventions then normalise the errors per test video to a regularity score.

This script loads the models a ``benchmarks/video.py`` run saved (under
``<workdir>/<stem>/<method>/``), scores every test clip under both rules (the
detectors' ``score_method="squared"`` and ``"location_l2"``) and reports
the frame ROC-AUC of each, with the protocol of :mod:`memae.evaluation.video`. The
mean-squared-error column must equal the run's own figure (a check that the right
model and frames were loaded). Test labels only explain the figures here; the
presets and the library's score are unchanged by them (that choice was made before
this diagnostic was run: the score stays the paper's squared error).

Run ``python benchmarks/ped2_score_rule.py --runs ped2 ped2-epochs10
ped2-128x128-epochs10 --readme README.md``; it writes
``benchmarks/results/ped2-score-rule.{json,md}`` and the README block ``ped2-score-rule``.
A run whose models are not on this machine (they are not committed) is skipped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners import video
from benchmarks.runners.report import environment, publish
from memae import load
from memae.evaluation.video import video_aucs

RULES = {
    "mse": "mean squared error (memae, the paper's text)",
    "mae": "mean absolute error (the official code's MemAE rule)",
}
#: each rule as the detectors' ``score_method`` (for grayscale clips "location_l2", the
#: error's norm over the one channel averaged over the voxels, is the absolute error)
SCORE_METHODS = {"mse": "squared", "mae": "location_l2"}


def clip_scores(det: Any, clips: Any) -> dict[str, np.ndarray]:
    """Every clip's score under both rules: the detector's own ``score_method`` options."""
    return {rule: video.scores_under(det, method, clips) for rule, method in SCORE_METHODS.items()}


def run(stems: list[str], workdir: Path, data: str | None, quick: bool = False) -> dict[str, Any]:
    rows = []
    for stem in stems:
        for record in sorted((workdir / stem).glob("*-seed*.json")):
            r = json.loads(record.read_text())
            model = workdir / stem / r["method"]
            if not (model / "config.json").is_file():
                continue
            det = load(model)
            size = tuple(det.sample_shape_[-2:])
            _, test = video.load_data("ped2-cpu", data, quick, size)
            length = det.sample_shape_[1]
            scores = clip_scores(det, test.windows(length))
            aucs = {rule: video_aucs(s, test, length) for rule, s in scores.items()}
            rows.append(
                {
                    "run": stem,
                    "method": r["method"],
                    "frame_size": list(size),
                    "epochs_run": r["epochs_run"],
                    "recorded_auc": r["auc"],
                    **{
                        rule: {
                            "auc": ev["all"]["auc"],
                            "auc_raw": ev["all"]["auc_raw"],
                            "official_auc": ev["official"]["auc"],
                        }
                        for rule, ev in aucs.items()
                    },
                }
            )
    return {"rules": RULES, "rows": rows}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "Ped2 frame ROC-AUC of saved `benchmarks/video.py` models under memae's clip score "
        "(mean squared error) and the official code's MemAE rule (mean absolute error), "
        "every test frame, per-video normalisation (raw: without it; official: the "
        "official convention's frames); test labels read to explain, not to choose, "
        f"`{results['environment']['command']}`:",
        "",
        "| run | method | frames | epochs | AUC, squared error | AUC, absolute error "
        "| difference | raw: squared | raw: absolute | official: squared | official: absolute |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        mse, mae = r["mse"], r["mae"]
        lines.append(
            f"| {r['run']} | {r['method']} | {'x'.join(map(str, r['frame_size']))} | "
            f"{r['epochs_run']} | {mse['auc']:.4f} | {mae['auc']:.4f} | "
            f"{mae['auc'] - mse['auc']:+.4f} | {mse['auc_raw']:.4f} | {mae['auc_raw']:.4f} | "
            f"{mse['official_auc']:.4f} | {mae['official_auc']:.4f} |"
        )
    if not results["rows"]:
        lines.append("| (no saved models found) | | | | | | | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["ped2"], help="run stems under --workdir")
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/results/work"))
    parser.add_argument("--data", default=None, help="ped2.tar.gz or a folder holding it")
    parser.add_argument("--quick", action="store_true", help="runs of `video.py --quick`")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--readme", type=Path, default=None, help="README to update")
    args = parser.parse_args(argv)
    results = run(args.runs, args.workdir, args.data, args.quick)
    for r in results["rows"]:  # the squared-error column is the run's own figure
        if abs(r["mse"]["auc"] - r["recorded_auc"]) > 1e-4:
            raise SystemExit(
                f"{r['run']}/{r['method']}: squared-error AUC {r['mse']['auc']:.4f} differs "
                f"from the run's {r['recorded_auc']:.4f}: wrong model or frames"
            )
    results["environment"] = environment("python benchmarks/ped2_score_rule.py", argv)
    publish(results, markdown(results), args.out, "ped2-score-rule", args.readme)


if __name__ == "__main__":
    main()
