"""Copy the benchmark tables (benchmarks/results/<name>.md) into README.md's marked blocks.

    python benchmarks/update_readme.py

Each table is written by its benchmark script; this only moves it, so README figures
are never typed by hand.
"""

from pathlib import Path

from memae.benchmarks.report import update_readme

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    for name in ("kdd", "speed"):
        table = ROOT / "benchmarks" / "results" / f"{name}.md"
        if table.is_file():
            done = update_readme(ROOT / "README.md", name, table.read_text())
            print(f"{name}: {'updated' if done else 'no <!-- ' + name + ':start --> block'}")
        else:
            print(f"{name}: {table} not found; run benchmarks/{name}.py first")
