"""Render the benchmark tables from benchmarks/results/<name>.json into README.md.

    python benchmarks/update_readme.py

The figures come from the JSON each benchmark script wrote; this only formats them
(and rewrites benchmarks/results/<name>.md), so README figures are never typed by hand.
"""

import json
from pathlib import Path

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners import images, kdd, scaling, speed, video
from benchmarks.runners.report import update_readme, write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

if __name__ == "__main__":
    tables = (("kdd", kdd), ("mnist", images), ("cifar10", images), ("ped2", video),
              ("speed", speed), ("scaling", scaling))  # fmt: skip
    for name, module in tables:
        path = RESULTS / f"{name}.json"
        if not path.is_file():
            print(f"{name}: {path} not found; run benchmarks/{name}.py first")
            continue
        table = module.markdown(json.loads(path.read_text()))
        write_text_atomic(RESULTS / f"{name}.md", table + "\n")
        done = update_readme(ROOT / "README.md", name, table)
        print(f"{name}: {'updated' if done else 'no <!-- ' + name + ':start --> block in README'}")
