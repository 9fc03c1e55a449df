"""`webhooks secret`: a fresh signing secret for VIGNETTE_WEBHOOK_SECRET."""

from __future__ import annotations

import argparse

from vignette.cli.output import console
from vignette.config import Settings
from vignette.webhooks.signing import new_secret


def webhooks(settings: Settings, args: argparse.Namespace) -> int:
    """Print a new `whsec_` secret, alone on standard output's last line."""
    console.print(
        "A new webhook signing secret: set it as VIGNETTE_WEBHOOK_SECRET for Vignette and "
        "give it to the receiver (while rotating, keep the old one as "
        "VIGNETTE_WEBHOOK_SECRET_PREVIOUS):",
        highlight=False,
    )
    print(new_secret(), flush=True)
    return 0
