"""Lets ``python benchmarks/NAME.py`` import the ``benchmarks`` package.

A script's own folder is first on ``sys.path``, so ``import _bootstrap`` finds this
file, which puts the repository root (the folder holding ``benchmarks/``) there too.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
