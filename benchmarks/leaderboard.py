"""Every detector on the ODDS datasets and Toll's Arrhythmia. Same as ``memae benchmark all``.

python benchmarks/leaderboard.py [--quick] [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.leaderboard import main

if __name__ == "__main__":
    main(prog="python benchmarks/leaderboard.py")
