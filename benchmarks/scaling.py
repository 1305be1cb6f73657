"""DDP training, Dask scoring and chunked-scoring figures. Same as ``memae benchmark scaling``.

python benchmarks/scaling.py [--rows 20000000] [--workdir DIR] [--quick] [--readme README.md]
"""

import sys

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.scaling import main

if __name__ == "__main__":
    main(sys.argv[1:], prog="python benchmarks/scaling.py")
