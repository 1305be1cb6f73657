"""Train on the KDD'99 10% file's normal traffic, score a second traffic file you supply.

python benchmarks/kdd_transfer.py --test-file corrected.gz [--quick] [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.kdd_transfer import main

if __name__ == "__main__":
    main()
