"""One-class MNIST / CIFAR-10 (MemAE paper, Table 1). Same as ``memae benchmark mnist|cifar10``.

python benchmarks/images.py mnist|cifar10 [--seeds 3] [--jobs 2] [--quick] [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.images import main

if __name__ == "__main__":
    main(prog="python benchmarks/images.py")
