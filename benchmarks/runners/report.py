"""Shared helpers of the benchmarks: environment record, result files, README tables."""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import platform
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memae._version import __version__
from memae.io import write_atomic


def cpu_name() -> str:
    """This machine's CPU model name (Linux ``/proc/cpuinfo``), else the platform's string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(prog: str, argv: list[str] | None) -> dict[str, Any]:
    """Where and how a benchmark ran (stored next to its figures).

    ``prog`` is how the benchmark was invoked (``memae benchmark kdd`` or
    ``python benchmarks/kdd.py``) and ``argv`` its options, for the re-run command.
    """
    args = sys.argv[1:] if argv is None else argv
    return {
        "command": " ".join([prog, *(shlex.quote(a) for a in args)]),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "memae": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def mean_std(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0}


def stopping_rule(track: str) -> str:
    """What early stopping watched in a benchmark track (for the convergence lines)."""
    if track == "labelled":
        return "the labelled ROC-AUC, ties broken by the unlabelled validation loss"
    return "the unlabelled validation loss"


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` through a temporary file and a rename (:func:`memae.io.write_atomic`):
    a crash leaves the previous file whole, never a half-written one."""
    write_atomic(path, text.encode())


def task_record(
    path: Path,
    compute: Callable[..., dict[str, Any]],
    *args: Any,
    redo: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """The JSON record at ``path``; where it is missing, or ``redo(record)`` is true,
    ``compute(*args)`` first and write its result atomically (the old record stays whole
    until the new one replaces it). The resume step of the benchmarks that keep one file
    a task."""
    if path.is_file():
        record = json.loads(path.read_text())
        if redo is None or not redo(record):
            return record
    write_text_atomic(path, json.dumps(compute(*args)))
    return json.loads(path.read_text())


def ended_at_lower_cap(record: dict[str, Any], cap: Any) -> bool:
    """Whether a deep fit's ``record`` ended at an epoch cap below ``cap`` (the cap its
    detector has now) without being stopped by patience: the fits ``--refit-capped``
    trains again after a preset's cap was raised. A fit that stopped by patience
    follows the same seeded path under any larger cap (with the same code and thread
    count), so it is kept."""
    converged = record.get("converged")
    if converged is None or converged or isinstance(cap, bool) or not isinstance(cap, int):
        return False
    return int(record["epochs"]) < cap


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """``np.save`` through a temporary file and a rename, as :func:`write_text_atomic`."""
    buf = io.BytesIO()
    np.save(buf, array)
    write_atomic(path, buf.getvalue())


def write_results(results: dict[str, Any], markdown: str, out_dir: Path, stem: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / f"{stem}.json", json.dumps(results, indent=2) + "\n")
    write_text_atomic(out_dir / f"{stem}.md", markdown.rstrip() + "\n")


def keep_published(
    ran: dict[str, Any], published: dict[str, Any], key: str, order: Any
) -> dict[str, Any]:
    """``ran`` with every entry of ``published[key]`` that it did not run, in ``order``;
    ``"kept"`` names each kept entry's command and date (those of the run that produced
    it, also when it was already kept from an earlier one)."""
    env, earlier = published["environment"], published.get("kept", {})
    kept = {
        name: earlier.get(name, {"command": env["command"], "date": env["date"]})
        for name in published[key]
        if name not in ran[key]
    }
    both = {**published[key], **ran[key]}
    return {**ran, key: {name: both[name] for name in order if name in both}, "kept": kept}


def kept_line(kept: dict[str, dict[str, str]], what: str) -> list[str]:
    """The markdown line naming the ``what`` kept from earlier runs (none: no line)."""
    if not kept:
        return []
    return [
        f"{what} kept from an earlier run, not re-run by the command below: "
        + "; ".join(f"{name}: `{k['command']}` ({k['date'][:10]})" for name, k in kept.items())
        + ".",
        "",
    ]


def publish(
    results: dict[str, Any],
    markdown: str,
    out_dir: Path,
    stem: str,
    readme: Path | None,
    block: str | None = None,
) -> None:
    """Write ``stem.json`` / ``stem.md``, print the table and, with ``readme``, replace
    its block ``block`` (default ``stem``); a result the targets table reads (see
    :mod:`benchmarks.runners.targets`) refreshes that table too."""
    write_results(results, markdown, out_dir, stem)
    print(markdown)
    if readme is not None and update_readme(readme, block or stem, markdown):
        from benchmarks.runners import targets  # imports the runners that import this module

        if targets.is_source(stem):  # keep the targets table in step with its sources
            targets.refresh(out_dir, readme)


def update_readme(readme: Path, block: str, markdown: str) -> bool:
    """Replace the text between ``<!-- block:start -->`` and ``<!-- block:end -->``."""
    if not readme.is_file():
        return False
    text = readme.read_text()
    pattern = re.compile(rf"(<!-- {block}:start -->\n).*?(<!-- {block}:end -->)", re.DOTALL)
    if not pattern.search(text):
        return False
    write_text_atomic(
        readme, pattern.sub(lambda m: m.group(1) + markdown.rstrip() + "\n" + m.group(2), text)
    )
    return True


#: the scores of a fitted CompactVAE besides its own
COMPACT_SCORES = ("joint", "hole", "reconstruction")


def other_scores(det: Any, X: Any) -> dict[str, np.ndarray]:
    """``{score name: scores}`` of a fitted CompactVAE under its other score rules.

    The benchmarks report the joint score, the hole score alone and the reconstruction
    error of one fitted :class:`memae.CompactVAE`, so the comparison is not blurred by
    a second training run. Empty for other detectors.
    """
    from memae import CompactVAE

    # the VAE also has a score_method ("reconstruction"), but not CompactVAE's other rules
    own = getattr(det, "score_method", None)
    if not isinstance(det, CompactVAE) or own not in COMPACT_SCORES:
        return {}
    out = {}
    try:
        for name in COMPACT_SCORES:
            if name != own:
                det.score_method = name
                out[name] = det.decision_function(X)
    finally:
        det.score_method = own
    return out


def own_scores(name: str, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` without CompactVAE's other-score keys unless ``name`` is a CompactVAE.

    Records written before :func:`other_scores` checked the class hold such keys for the
    VAE too (its ELBO score under the names "joint" and "hole"); they are not CompactVAE's.
    """
    if name.startswith("CompactVAE"):
        return row
    other = {f"{m}_{k}" for m in ("auc", "ap") for k in COMPACT_SCORES}
    return {k: v for k, v in row.items() if k not in other}
