"""UCSD Ped2 frame-level AUC (MemAE paper, Sec. 4.3). Same as ``memae benchmark ped2``.

python benchmarks/video.py [--preset ped2-cpu|ped2] [--quick] [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.video import main

if __name__ == "__main__":
    main(prog="python benchmarks/video.py")
