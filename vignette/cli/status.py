"""`status`: how many stories are in each portrait state, the Recraft calls and credits of
the last hour and day, and what holds calls back, read from the database alone."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from vignette.cli.output import plural
from vignette.config import Settings
from vignette.models.ledger import Held
from vignette.records import PortraitStatus
from vignette.system.reads import read_calls, read_counts
from vignette.system.webhooks import read_outbox_status

# A `generating` portrait whose lease has expired: shown apart, changed by nothing here.
STALE = "generating (stale)"


def status(settings: Settings, args: argparse.Namespace) -> int:
    """Print how many stories are in each portrait state (telling the `generating` ones
    whose instance is gone apart), and why portraits failed."""
    by_status, by_code, stale = read_counts(settings)
    table = Table(title="Stories by portrait state")
    table.add_column("state")
    table.add_column("stories", justify="right")
    for state, count in by_status.items():
        if state is PortraitStatus.GENERATING:
            table.add_row(str(state), str(max(0, count - stale)))
            table.add_row(STALE, str(stale), style="yellow" if stale else None)
        else:
            table.add_row(str(state), str(count))
    table.add_row("total", str(sum(by_status.values())), style="bold")
    Console().print(table)
    if stale:
        # Read only: the next start of Vignette marks them failed (interrupted).
        one = stale == 1
        them = "it" if one else "them"
        Console(stderr=True, soft_wrap=True).print(
            f"{plural(stale, 'portrait')} {'is' if one else 'are'} {STALE}: the instance "
            f"making {them} is gone (the lease expired). The next start of Vignette marks "
            f"{them} failed (interrupted); '{args.program} backfill --include-failed' then "
            f"makes {them} again.",
            highlight=False,
        )
    if by_code:
        codes = Table(title="Failed and skipped portraits by code")
        codes.add_column("code")
        codes.add_column("stories", justify="right")
        for code, count in sorted(by_code.items(), key=lambda item: -item[1]):
            codes.add_row(code, str(count))
        Console().print(codes)
    usage, held = read_calls(settings)
    calls = Table(title="Recraft calls, every instance")
    calls.add_column("window")
    calls.add_column("calls", justify="right")
    calls.add_column("credits", justify="right")
    calls.add_row("last hour", str(usage.calls_hour), str(usage.credits_hour))
    calls.add_row("last day", str(usage.calls_day), str(usage.credits_day))
    Console().print(calls)
    if print_holds(held):
        pending = by_status.get(PortraitStatus.PENDING, 0)
        out.print(f"{plural(pending, 'pending portrait')} held until then", highlight=False)
    if settings.webhooks.url:
        _webhooks(settings)
    return 0


# The report goes to standard output, with the tables; messages go to standard error.
out = Console(soft_wrap=True)


def print_holds(held: list[Held]) -> bool:
    """Print each hold on Recraft calls (why, until when); False when there is none."""
    for hold in held:
        until = (
            "until cleared" if hold.until is None else f"until {hold.until:%Y-%m-%d %H:%M:%S} UTC"
        )
        out.print(f"calls held ({hold.reason}) {until}: {hold.detail}", highlight=False)
    return bool(held)


def _webhooks(settings: Settings) -> None:
    outbox = read_outbox_status(settings)
    table = Table(title="Webhook events by state")
    table.add_column("state")
    table.add_column("events", justify="right")
    for state, count in outbox.by_status.items():
        table.add_row(state, str(count))
    Console().print(table)
    if outbox.disabled is not None:
        Console().print(
            f"webhook endpoint disabled since {outbox.disabled.disabled_at:%Y-%m-%d %H:%M:%S} "
            f"UTC: {outbox.disabled.reason}; retrying an event enables it again",
            highlight=False,
        )
