"""The targets table (``benchmarks/targets.py``): verdicts computed by hand on stub result
files, missing files reported as not run, and the README block in step with the
committed results."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from benchmarks.runners import targets

ROOT = Path(__file__).resolve().parents[1]


def _env(command: str, cuda: str | None = None) -> dict:
    return {"command": command, "cuda": cuda}


def _summary(**auc: float) -> dict:
    return {m.replace("_", "-"): {"auc": {"mean": v}} for m, v in auc.items()}


def _write(folder: Path, name: str, payload: dict) -> None:
    (folder / f"{name}.json").write_text(json.dumps(payload))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Stub result files with round numbers, each target's verdict known in advance."""
    _write(tmp_path, "kdd", {
        "environment": _env("kdd cmd"),
        "summary": {"MemAE": {"f1": {"mean": 0.95}}, "AE": {"f1": {"mean": 0.94}}},
    })  # fmt: skip
    _write(tmp_path, "mnist-3seeds", {
        "environment": _env("mnist cmd"),
        "summary": _summary(AE=0.80, MemAE=0.98, LatentNormAE=0.70, CompactVAE_sphere=0.90),
    })  # fmt: skip
    # two ODDS files: the means are AE 0.85, MemAE 0.90, LatentNormAE 0.86, KNN 0.88
    odds = {
        "a": {"AE": {"auc": 0.8}, "MemAE": {"auc": 0.9}, "LatentNormAE": {"auc": 0.82},
              "KNN": {"auc": 0.86}},
        "b": {"AE": {"auc": 0.9}, "MemAE": {"auc": 0.9}, "LatentNormAE": {"auc": 0.90},
              "KNN": {"auc": 0.90}},
    }  # fmt: skip
    images = {"mnist": {"AE": {"auc": 0.8}, "CompactVAE-lipschitz": {"auc": 0.7}}}
    _write(tmp_path, "leaderboard", {
        "environment": _env("lb cmd"), "results": {"odds": odds, "images": images},
    })  # fmt: skip
    # no cifar10-seed0.json: not run
    _write(tmp_path, "ped2", {"environment": _env("ped2 cmd"), "results": {"MemAE": {"auc": 0.95}}})
    _write(tmp_path, "speed", {
        "environment": _env("speed cmd", cuda="Some GPU"),
        "targets": {"train_vs_pyod": 5.0, "score_vs_pyod": 10.0},
        "ratios": {"memae AE train speed-up vs PyOD": 6.0, "memae AE score speed-up vs PyOD": 9.0,
                   "memae MemAE train speed-up vs PyOD": 4.0,
                   "memae MemAE score speed-up vs PyOD": 11.0},
    })  # fmt: skip
    _write(tmp_path, "speed-paired", {
        "environment": _env("paired cmd"), "targets": {"memae_overhead": 0.1},
        "paired": {"kdd": {"memae_extra_train": 0.3, "memae_extra_score": 0.05},
                   "mnist": {"memae_extra_train": 0.1, "memae_extra_score": 0.2}},
    })  # fmt: skip
    fit = {"speedup": 1.0, "auc_diff": 0.0, "seed_diff": 0.0}
    _write(tmp_path, "precision", {
        "environment": _env("precision cmd"), "cpu_features": {"native_bf16": True},
        "targets": {"speedup": 1.5, "auc_diff": 0.01},
        "fits": {"cifar10": {"rows": [
            {**fit, "model": "AE", "speedup": 2.0, "auc_diff": -0.02},
            {**fit, "model": "AE", "speedup": 1.28, "auc_diff": 0.005},  # geometric mean 1.6
            {**fit, "model": "MemAE", "speedup": 1.4},
        ]}},  # no mnist fits: not run
    })  # fmt: skip
    _write(tmp_path, "ped2-full-epochs7", {"environment": _env("gpu cmd", cuda="Some GPU")})
    return tmp_path


def test_verdicts_on_stub_results(results: Path) -> None:
    res = targets.run(results, ("python benchmarks/targets.py", []))
    got = {r["target"]: (r["measured"], r["goal"], r["met"]) for r in res["rows"]}

    def row(pattern: str) -> tuple:
        (key,) = [t for t in got if re.search(pattern, t)]
        return got[key]

    assert row("KDDCUP99: MemAE F1 .* paper") == (0.95, 0.9641, False)
    assert row("KDDCUP99: MemAE F1 above the AE") == (0.95, 0.94, True)
    assert row("MNIST .*MemAE ROC-AUC \\(3 seeds\\)") == (0.98, 0.9751, True)
    assert row("MNIST .*LatentNormAE") == (0.70, 0.80, False)
    assert row("MNIST .*CompactVAE-sphere") == (0.90, 0.80, True)
    assert row("MNIST .*CompactVAE-lipschitz") == (0.7, 0.8, False)
    assert row("ODDS .*LatentNormAE above") == (pytest.approx(0.86), pytest.approx(0.85), True)
    # the ODDS stub has no CompactVAE column: not run, never "missed"
    assert row("ODDS .*CompactVAE-sphere above") == (None, pytest.approx(0.85), None)
    assert row("best memae detector \\(MemAE\\)") == (0.9, pytest.approx(0.88), True)
    assert row("CIFAR-10") == (None, 0.6088, None)
    assert row("Ped2") == (0.95, 0.941, True)
    assert row("memae AE trains") == (6.0, 5.0, True)
    assert row("memae AE scores") == (9.0, 10.0, False)
    assert row("memae MemAE trains") == (4.0, 5.0, False)
    assert row("memae MemAE scores") == (11.0, 10.0, True)
    # overheads: at most the goal is met, and exactly the goal too
    assert row("kdd: MemAE's extra training") == (0.3, 0.1, False)
    assert row("kdd: MemAE's extra scoring") == (0.05, 0.1, True)
    assert row("mnist: MemAE's extra training") == (0.1, 0.1, True)
    assert row("mnist: MemAE's extra scoring") == (0.2, 0.1, False)
    # bf16: the geometric mean of the fits' speed-ups, the largest |AUC difference|
    speed, goal, met = row("cifar10: AE trains")
    assert (speed, goal, met) == (pytest.approx(math.sqrt(2.0 * 1.28)), 1.5, True)
    assert row("cifar10: AE's ROC-AUC") == (0.02, 0.01, False)
    assert row("cifar10: MemAE trains") == (pytest.approx(1.4), 1.5, False)
    assert row("mnist: AE trains") == (None, 1.5, None)
    assert row("on a lent GPU") == (None, None, True)

    md = targets.markdown(res)
    cifar = "| 23 | CIFAR-10 one-class: MemAE ROC-AUC (seed 0) at or above the paper's |"
    assert f"{cifar} – | 0.6088 | not run |" in md
    overhead = "| 20 | kdd: MemAE's extra training time over the AE's (one step) |"
    assert f"{overhead} +30.0% | +10.0% | **no** |" in md
    met23 = sum(r["met"] is True for r in res["rows"] if r["issue"] == 23)
    met20 = sum(r["met"] is True for r in res["rows"] if r["issue"] == 20)
    assert (met23, met20) == (6, 7)
    assert f"Met: issue 23: {met23} of 12; issue 20: {met20} of 17." in md
    assert "- `kdd.json`: `kdd cmd`" in md and "- `cifar10-seed0.json`: not run yet" in md


def test_a_cpu_only_speed_run_leaves_the_gpu_target_open(results: Path) -> None:
    speed = json.loads((results / "speed.json").read_text())
    speed["environment"]["cuda"] = None
    (results / "speed.json").write_text(json.dumps(speed))
    res = targets.run(results, ("python benchmarks/targets.py", []))
    gpu = [r for r in res["rows"] if "lent GPU" in r["target"]]
    assert [r["met"] for r in gpu] == [None]


def test_readme_block_matches_the_committed_results() -> None:
    """The README's targets block is the table the committed results give: re-run
    ``python benchmarks/targets.py --readme README.md`` after a benchmark rewrites one."""
    expected = targets.markdown(targets.run(ROOT / "benchmarks" / "results", targets.COMMAND))
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- targets:start -->\n", 1)[1].split("<!-- targets:end -->", 1)[0]
    assert block.strip() == expected.strip()


def test_a_benchmark_that_rewrites_a_source_refreshes_the_table(results: Path) -> None:
    """``publish`` of a source file (here ``kdd``) into a README with a targets block
    rewrites that block from the new file; another result leaves it alone."""
    from benchmarks.runners.report import publish

    readme = results / "README.md"
    readme.write_text(
        "<!-- kdd:start -->\nold\n<!-- kdd:end -->\n<!-- other:start -->\nold\n<!-- other:end -->\n"
        "<!-- targets:start -->\nold\n<!-- targets:end -->\n"
    )
    publish({"x": 1}, "| other |", results, "other", readme)
    assert readme.read_text().endswith("<!-- targets:start -->\nold\n<!-- targets:end -->\n")
    kdd = json.loads((results / "kdd.json").read_text())
    kdd["summary"]["MemAE"]["f1"]["mean"] = 0.97  # now above the paper's 0.9641
    publish(kdd, "| kdd |", results, "kdd", readme)
    text = readme.read_text()
    row = "| 23 | KDDCUP99: MemAE F1 (20 runs) at or above the paper's | 0.9700 | 0.9641 | yes |"
    assert row in text
    assert json.loads((results / "targets.json").read_text())["rows"][0]["met"] is True
    assert targets.is_source("ped2-full-epochs7") and not targets.is_source("ped2-full-quick")
