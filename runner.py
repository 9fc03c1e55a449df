"""The daemon's entry in a checkout: `python runner.py serve` (see `--help`).

The installed console script `vignette` runs the same command line, `vignette.cli`.
"""

import sys

from vignette.cli import main

if __name__ == "__main__":
    sys.exit(main())
