"""bf16 against float32: step times, fit speed-up and AUC difference.

Same as ``memae benchmark precision``:

python benchmarks/precision.py [--epochs 10] [--quick] [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.precision import main

if __name__ == "__main__":
    main(prog="python benchmarks/precision.py")
