"""memae AE/MemAE vs PyOD AutoEncoder throughput on KDD. Same as ``memae benchmark speed``.

python benchmarks/speed.py [--epochs 5] [--quick] [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.speed import main

if __name__ == "__main__":
    main(prog="python benchmarks/speed.py")
