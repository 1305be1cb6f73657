"""Every ```python block of the README runs as written.

Each block runs on its own, in a fresh interpreter and an empty working directory (so
the files it writes land there), with ``MEMAE_DATA`` pointing at the shared data when
it exists. A block that loads a benchmark dataset is skipped when the data is absent,
and one that imports an optional package (Dask) when that package is not installed.
The video block (a minute and a half on 2 cores, most of it decoding and scoring every
Ped2 test clip) runs with ``MEMAE_SLOW_TESTS=1``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from memae.datasets._paths import candidate_roots

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
_LOADERS = re.compile(r"\bload_(kdd|kdd_raw|mnist|cifar10|ped2|odds)\(")
_OPTIONAL = {"dask": "dask.dataframe", "onnxruntime": "onnxruntime"}


def _data_root() -> Path | None:
    for root in candidate_roots():
        if root.is_dir():
            return root
    return None


def _title(block: str) -> str:
    first = next((line for line in block.splitlines() if line.strip()), "")
    return first[:40]


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{i}:{_title(b)}" for i, b in enumerate(BLOCKS)])
def test_readme_block_runs(block: str, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    if "load_ped2(" in block and not os.environ.get("MEMAE_SLOW_TESTS"):
        pytest.skip("the Ped2 block: set MEMAE_SLOW_TESTS=1")
    if _LOADERS.search(block):
        root = _data_root()
        if root is None:
            pytest.skip("needs the benchmark data (shared/data or MEMAE_DATA)")
        env["MEMAE_DATA"] = str(root)
    for name, module in _OPTIONAL.items():
        if re.search(rf"^\s*import {name}\b", block, re.M) and not importlib.util.find_spec(name):
            pytest.skip(f"needs the optional package {module}")
    script = tmp_path / "block.py"
    script.write_text(block, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]


def test_help_does_not_import_torch() -> None:
    """``memae --help`` stays fast: neither the CLI nor ``import memae`` loads torch."""
    code = (
        "import sys, contextlib, io\n"
        "import memae, memae.cli\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    memae.cli.main(['--help'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "memae.MemAE  # the lazy attribute still works\n"
        "assert 'torch' in sys.modules\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]


#: the README blocks the benchmark runners rewrite (``update_readme``)
RESULT_BLOCKS = {
    "reproducibility", "scaling", "sanity", "kdd", "kdd-raw", "kdd-labelled", "kdd-transfer",
    "mnist", "mnist-labelled", "cifar10", "ped2", "ped2-epochs30", "ped2-speed-64x64",
    "ped2-speed-128x128", "ped2-epochs10", "ped2-128x128-epochs10", "ped2-128x128",
    "ped2-score-rule", "leaderboard",
    "leaderboard-labelled", "tracks", "latent", "speed", "speed-paired", "speed-compiled",
    "precision", "precision-tabular", "precision-layout", "mnist-3seeds", "precise-bn",
    "mnist-shallow", "cifar10-shallow", "mnist-seed0", "ae-code-width", "targets", "kdd-scaling",
    "patience-steps",
}  # fmt: skip
RESULT_SECTIONS = (
    "### KDDCUP99", "### MNIST and CIFAR-10 one-class", "### UCSD Ped2 video",
    "### Every detector side by side", "### Labelled validation track",
    "### Latent-space views", "### Speed",
)  # fmt: skip


def test_result_blocks_and_sections_are_all_there() -> None:
    """An edit that drops a results section or a block marker fails here (a runner's
    ``--readme`` would silently write nowhere)."""
    text = README.read_text(encoding="utf-8")
    starts = re.findall(r"<!-- ([\w-]+):start -->", text)
    ends = re.findall(r"<!-- ([\w-]+):end -->", text)
    assert starts == ends  # every block closed, in order, none nested
    assert set(starts) >= RESULT_BLOCKS, RESULT_BLOCKS - set(starts)
    for name in starts:
        body = text.split(f"<!-- {name}:start -->", 1)[1].split(f"<!-- {name}:end -->", 1)[0]
        assert body.strip(), f"the {name} block is empty"
    positions = [text.find(s) for s in RESULT_SECTIONS]
    assert min(positions) > 0 and positions == sorted(positions), positions


def test_publish_writes_results_and_replaces_only_its_block(tmp_path, capsys) -> None:
    """``report.publish``: ``stem.json`` / ``stem.md`` written, the table printed, and the
    README block named ``block`` (default: the stem) replaced, the rest left as it was."""
    import json

    from benchmarks.runners.report import publish

    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- a:start -->\nold a\n<!-- a:end -->\n<!-- b:start -->\nold b\n<!-- b:end -->\n"
    )
    publish({"x": 1}, "| new |", tmp_path, "b-run", readme, block="a")
    assert json.loads((tmp_path / "b-run.json").read_text()) == {"x": 1}
    assert (tmp_path / "b-run.md").read_text() == "| new |\n"
    assert "| new |" in capsys.readouterr().out
    assert readme.read_text() == (
        "intro\n<!-- a:start -->\n| new |\n<!-- a:end -->\n"
        "<!-- b:start -->\nold b\n<!-- b:end -->\n"
    )
    publish({"x": 2}, "| b |", tmp_path, "b", readme)  # the block is the stem
    assert "<!-- b:start -->\n| b |\n<!-- b:end -->" in readme.read_text()
    publish({"x": 3}, "| none |", tmp_path, "a", None)  # no README: results only
    assert "| none |" not in readme.read_text() and (tmp_path / "a.md").is_file()
