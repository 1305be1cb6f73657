"""KDDCUP99 reproduction (MemAE paper, Table 4). Same as ``memae benchmark kdd``.

python benchmarks/kdd.py [--runs 20] [--quick] [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.kdd import main

if __name__ == "__main__":
    main(prog="python benchmarks/kdd.py")
