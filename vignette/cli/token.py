"""`token create|list|revoke`: the API tokens kept (as hashes) in the database."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from vignette.cli.output import console
from vignette.config import Settings
from vignette.system.tokens import ApiTokens


def token(settings: Settings, args: argparse.Namespace) -> int:
    """Make, list or revoke an API token; a new token is printed once, on stdout's last line."""
    tokens = ApiTokens(settings.database.url)
    if args.token_command == "create":
        made, secret = tokens.create(args.name)
        console.print(
            f"API token {made.name!r} created. It is shown this once and cannot be read back; "
            "send it as 'Authorization: Bearer <token>':",
            highlight=False,
        )
        print(secret, flush=True)  # alone on the last line, for $(vignette token create ...)
        return 0
    if args.token_command == "revoke":
        tokens.revoke(args.name)
        console.print(f"API token {args.name!r} revoked", highlight=False)
        return 0
    listed = tokens.list()
    if not listed:
        console.print(
            "no API tokens: the API answers whoever reaches it "
            f"('{args.program} token create --name NAME' makes one)",
            highlight=False,
        )
        return 0
    table = Table(title="API tokens")
    table.add_column("name")
    table.add_column("created (UTC)")
    for item in listed:
        table.add_row(item.name, f"{item.created_at:%Y-%m-%d %H:%M:%S}")
    Console().print(table)
    return 0
