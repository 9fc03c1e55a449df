"""`status`: how many stories are in each portrait state, the Recraft calls and credits of
the last hour and day, and what holds calls back, read from the database alone."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from vignette.config import Settings
from vignette.models.ledger import Held
from vignette.records import PortraitStatus
from vignette.system.reads import read_calls, read_counts


def status(settings: Settings, _: argparse.Namespace) -> int:
    """Print how many stories are in each portrait state, and why portraits failed."""
    by_status, by_code = read_counts(settings)
    table = Table(title="Stories by portrait state")
    table.add_column("state")
    table.add_column("stories", justify="right")
    for state, count in by_status.items():
        table.add_row(str(state), str(count))
    table.add_row("total", str(sum(by_status.values())), style="bold")
    Console().print(table)
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
        out.print(f"{pending} pending portraits are held until then", highlight=False)
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
