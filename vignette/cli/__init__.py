"""The command line: `vignette`, `python -m vignette` and `python runner.py`."""

from vignette.cli.main import main

__all__ = ["main"]
