"""Early stopping on small tables: patience in epochs against epochs of at least 10 steps.

python benchmarks/patience_steps.py [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.patience_steps import main

if __name__ == "__main__":
    main()
