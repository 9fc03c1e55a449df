"""`python -m vignette`: the command line, as `vignette` and `python runner.py`."""

import sys

from vignette.cli import main

sys.exit(main(prog="vignette"))
