"""Both benchmark tracks (unsupervised, labelled validation) next to the papers.

python benchmarks/tracks.py [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.tracks import main

if __name__ == "__main__":
    main()
