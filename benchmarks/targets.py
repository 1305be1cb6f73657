"""Every target of the open issues, met or missed, from the committed result files.

python benchmarks/targets.py [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.targets import main

if __name__ == "__main__":
    main()
