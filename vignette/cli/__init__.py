"""Vignette's command line and daemon, the composition root: `vignette`, `python -m
vignette` and `python runner.py` all run `main`.

Reads settings, configures logging, starts the system, and waits: for a signal (serve)
or for the portraits it asked for (generate, backfill). Each command is a module of its
own; no business logic lives here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from vignette.cli.backfill import backfill
from vignette.cli.generate import generate
from vignette.cli.holds import holds
from vignette.cli.output import console
from vignette.cli.parser import build_parser
from vignette.cli.serve import serve
from vignette.cli.status import status
from vignette.cli.storage import storage
from vignette.cli.token import token
from vignette.cli.webhooks import webhooks
from vignette.config import ConfigError, Settings, load_settings
from vignette.config.logging import configure_logging
from vignette.errors import VignetteError

COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "serve": serve,
    "generate": generate,
    "backfill": backfill,
    "status": status,
    "token": token,
    "storage": storage,
    "webhooks": webhooks,
    "holds": holds,
}


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run one command; `prog` names the program in usage lines (default: argv[0])."""
    args = build_parser(prog).parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        console.print(f"[bold red]configuration error:[/] {error}", highlight=False)
        return 2
    configure_logging(settings.logging)
    try:
        return COMMANDS[args.command](settings, args)
    except VignetteError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        return 1
