"""The sanity suite as a benchmark: every detector, with its defaults, on obvious anomalies.

    python benchmarks/sanity.py [--tag after] [--readme README.md]

Three synthetic kinds in 16-D (``memae.datasets.make_sanity``: a mean shift, points
6x further out in random directions, points off the 4-D subspace the training rows
lie on), seed 0, every detector with its defaults and ``random_state=0``, next to
the same detector untrained (lr 1e-12 for one epoch). The data generator is loaded
from this checkout's file, so the script also runs against an older memae (for
example ``PYTHONPATH=<old checkout>/src python benchmarks/sanity.py --tag before``),
which is how the "before" column was produced. ``tests/test_sanity.py`` asserts the
same thresholds in CI.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
import memae
from benchmarks.runners.report import environment, update_readme, write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
BEFORE_COMMIT = "74d4729"  # the last commit before issue 23's fixes
_spec = importlib.util.spec_from_file_location(
    "_sanity_data", ROOT / "src" / "memae" / "datasets" / "synthetic.py"
)
_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_data)

DETECTORS = {
    "AE": lambda **kw: memae.AutoEncoder(**kw),
    "MemAE": lambda **kw: memae.MemAE(**kw),
    "LatentNormAE": lambda **kw: memae.LatentNormAE(**kw),
    "VAE": lambda **kw: memae.VAE(**kw),
    "CompactVAE (default)": lambda **kw: memae.CompactVAE(**kw),
    "CompactVAE-lipschitz": lambda **kw: memae.CompactVAE(compactification="lipschitz", **kw),
}


def run(tag: str, argv: list[str] | None) -> dict:
    results: dict[str, dict[str, dict]] = {}
    for name, make in DETECTORS.items():
        results[name] = {}
        for kind in _data.SANITY_KINDS:
            X, X_test, y_test = _data.make_sanity(kind, seed=0)
            t0 = time.perf_counter()
            det = make(random_state=0).fit(X)
            seconds = time.perf_counter() - t0
            control = make(random_state=0, lr=1e-12, epochs=1).fit(X)
            results[name][kind] = {
                "auc": float(roc_auc_score(y_test, det.decision_function(X_test))),
                "auc_untrained": float(roc_auc_score(y_test, control.decision_function(X_test))),
                "epochs": len(det.history_),
                "converged": getattr(det, "stopped_early_", None),
                "seconds": seconds,
            }
            print(f"{tag} {name:22s} {kind:9s} AUC {results[name][kind]['auc']:.4f}", flush=True)
    return {
        "benchmark": "sanity",
        "tag": tag,
        "memae": memae.__version__,
        "environment": environment("python benchmarks/sanity.py", argv),
        "kinds": list(_data.SANITY_KINDS),
        "results": results,
    }


def markdown(after: dict, before: dict | None) -> str:
    kinds = after["kinds"]
    head = "| detector | " + " | ".join(f"{k}: before | {k}: after | {k}: untrained" for k in kinds)
    lines = [
        "ROC-AUC on the sanity sets (16-D, seed 0, defaults), "
        f"`{after['environment']['command']}`"
        + (
            "; before: the same script run against the code before issue 23, commit "
            f"`{BEFORE_COMMIT}` (`PYTHONPATH=<checkout of {BEFORE_COMMIT}>/src "
            f"{before['environment']['command']}`)"
            if before
            else ""
        )
        + ":",
        "",
        head + " | converged (after) |",
        "|---" * (3 * len(kinds) + 2) + "|",
    ]
    for name, per in after["results"].items():
        cells = []
        for k in kinds:
            b = (before or {}).get("results", {}).get(name, {}).get(k)
            cells += [
                f"{b['auc']:.3f}" if b else "–",
                f"**{per[k]['auc']:.3f}**" if per[k]["auc"] < 0.95 else f"{per[k]['auc']:.3f}",
                f"{per[k]['auc_untrained']:.3f}",
            ]
        conv = sum(bool(per[k]["converged"]) for k in kinds)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {conv} of {len(kinds)} |")
    lines += [
        "",
        'Bold: an "after" figure below the 0.95 that `tests/test_sanity.py` requires of '
        "every detector's defaults (CompactVAE-lipschitz is not a default and is shown for "
        "reference). "
        '"Untrained": the same detector with lr 1e-12 for one epoch; a shift or far-out '
        "points are easy even for it, the subspace needs a learned model.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="after", help="'after' (this code) or 'before'")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--readme", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    res = run(args.tag, argv)
    path = args.out / f"sanity-{args.tag}.json"
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(res, indent=1))
    after = args.out / "sanity-after.json"
    before = args.out / "sanity-before.json"
    if after.is_file():
        md = markdown(
            json.loads(after.read_text()),
            json.loads(before.read_text()) if before.is_file() else None,
        )
        write_text_atomic(args.out / "sanity.md", md + "\n")
        print(md)
        if args.readme is not None:
            update_readme(args.readme, "sanity", md)


if __name__ == "__main__":
    main()
