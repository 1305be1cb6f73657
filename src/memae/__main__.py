import sys

from memae.cli import main

sys.exit(main())
