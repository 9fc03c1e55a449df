"""`holds list|clear`: the pauses Recraft asked for, which every instance respects.

A 429's Retry-After ends by itself; a 402 "not enough credits" holds every new Recraft call
until an operator, having topped the account up, clears it.
"""

from __future__ import annotations

import argparse

from vignette.cli.output import console
from vignette.cli.status import print_holds
from vignette.config import Settings
from vignette.models.ledger import HoldReason
from vignette.system.reads import clear_holds, read_calls


def holds(settings: Settings, args: argparse.Namespace) -> int:
    """List what holds Recraft calls back, or clear the holds Recraft asked for."""
    if args.holds_command == "clear":
        reason = None if args.reason is None else HoldReason(args.reason)
        cleared = clear_holds(settings, reason)
        console.print(
            f"cleared {cleared} hold{'s' if cleared != 1 else ''}; pending portraits start "
            "within seconds on every instance (the rate limit and budget still apply)",
            highlight=False,
        )
        return 0
    _, held = read_calls(settings)
    if not print_holds(held):
        console.print("nothing holds Recraft calls back", highlight=False)
    return 0
