"""Nothing lost: figures, benchmark task records and result files are written to a
temporary name and renamed, so a crash mid-write leaves the previous file whole."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import memae.io

ROOT = Path(__file__).resolve().parents[1]

# Calls that write a file in place (a crash leaves it half-written).
IN_PLACE = {"write_text", "write_bytes", "savefig", "save", "savez", "to_csv", "dump"}
# Files allowed to write in place, and why: each writes only into a folder of its own
# that is re-created on the next run (never a file another run reads back).
ALLOWED = {
    "benchmarks/device_session.py": "packs the git-ignored .device/ parts anew each time",
    "benchmarks/runners/scaling.py": "inputs written into a temporary folder",
    "src/memae/cli.py": "writes into a temporary file it renames",
    "src/memae/demo.py": "writes into a temporary file it renames",
    "src/memae/report.py": "writes into a temporary file it renames",
}


def _in_place_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, owner = node.func.attr, ast.unparse(node.func.value)
            into_buffer = bool(node.args) and ast.unparse(node.args[0]) == "buf"
            other_save = name in {"save", "dump"} and owner not in {"np", "numpy", "json"}
            if name in IN_PLACE and not into_buffer and not other_save:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {owner}.{name}")
    return found


def test_benchmarks_and_library_write_files_atomically() -> None:
    """A new ``path.write_text(...)`` / ``np.save`` / ``savefig`` outside the allowed files
    fails here: use ``report.write_text_atomic`` / ``save_npy_atomic`` or
    ``memae.io.write_atomic``. (``det.save`` is atomic itself.)"""
    files = [*(ROOT / "benchmarks").rglob("*.py"), *(ROOT / "src" / "memae").rglob("*.py")]
    assert len(files) > 40
    hits = {str(f.relative_to(ROOT)): _in_place_calls(f) for f in files}
    bad = [hit for f, found in hits.items() if f not in ALLOWED for hit in found]
    assert not bad, bad
    assert all(hits[f] for f in ALLOWED), "an allowed file no longer writes in place"


def _crash_when_written(monkeypatch) -> None:
    def crash(name: str) -> None:
        if name.endswith("written"):
            raise KeyboardInterrupt(f"killed at {name!r}")

    monkeypatch.setattr(memae.io, "_step", crash)


def test_a_crash_while_writing_a_task_record_keeps_the_previous_one(tmp_path, monkeypatch):
    from benchmarks.runners.report import save_npy_atomic, write_text_atomic

    record, scores = tmp_path / "work" / "class0-seed0.json", tmp_path / "scores.npy"
    write_text_atomic(record, '{"auc": 0.9}')
    save_npy_atomic(scores, np.arange(3.0))
    _crash_when_written(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(record, '{"auc": 0.1, "truncated": ')
    with pytest.raises(KeyboardInterrupt):
        save_npy_atomic(scores, np.zeros(1000))
    assert record.read_text() == '{"auc": 0.9}'
    np.testing.assert_array_equal(np.load(scores), np.arange(3.0))
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert names == ["class0-seed0.json", "scores.npy", "work"]  # no temporary file left


def test_a_crash_while_drawing_a_figure_keeps_the_previous_one(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from memae.plotting import plot_roc

    labels = np.r_[np.zeros(50), np.ones(50)]
    scores = {"m": np.r_[np.zeros(50), np.ones(50)] + np.linspace(0, 0.5, 100)}
    path = plot_roc(scores, labels, tmp_path / "roc.png")
    before = path.read_bytes()
    assert before[:8] == b"\x89PNG\r\n\x1a\n"
    _crash_when_written(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        plot_roc({"other": scores["m"][::-1]}, labels, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["roc.png"]
    monkeypatch.undo()
    assert plot_roc({"other": scores["m"][::-1]}, labels, path).read_bytes() != before
