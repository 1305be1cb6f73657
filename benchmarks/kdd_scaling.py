"""KDDCUP99 input scaling (min-max against the preset's standardisation), a diagnostic.

python benchmarks/kdd_scaling.py [--runs 3] [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.kdd_scaling import main

if __name__ == "__main__":
    main()
