"""2-D views of the LatentNormAE and CompactVAE latent spaces. Same as ``memae benchmark latent``.

python benchmarks/latent_figures.py [--quick] [--readme README.md]
"""

import _bootstrap  # noqa: F401 - makes the benchmarks package importable
from benchmarks.runners.latent import main

if __name__ == "__main__":
    main(prog="python benchmarks/latent_figures.py")
