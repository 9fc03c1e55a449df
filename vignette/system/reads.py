"""Reads for the command line's reports: a DocumentActor of their own, and no portrait work
started (no workers, no housekeeping, no claims)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar, cast

from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.actors.messages import ASK_TIMEOUT_S
from vignette.config import Settings
from vignette.models import open_database, release_connections
from vignette.models.calls import Usage
from vignette.models.ledger import Held, HoldReason, Limits
from vignette.records import PortraitStatus, Story

T = TypeVar("T")


def _read(settings: Settings, read: Callable[[DocumentProxy], T]) -> T:
    """Run `read` against a DocumentActor of its own, stopped again afterwards."""
    db = open_database(settings.database.url)
    ref = DocumentActor.start(db)
    try:
        return read(cast(DocumentProxy, ref.proxy()))
    finally:
        ref.stop()
        release_connections(db)


def read_counts(settings: Settings) -> tuple[dict[PortraitStatus, int], dict[str, int], int]:
    """Stories by portrait state, failures by code, and how many of the `generating`
    portraits have an expired lease (their instance is gone)."""
    return _read(
        settings,
        lambda document: (
            document.count_by_status().get(timeout=ASK_TIMEOUT_S),
            document.count_failures_by_code().get(timeout=ASK_TIMEOUT_S),
            document.count_expired_leases().get(timeout=ASK_TIMEOUT_S),
        ),
    )


def read_final(settings: Settings, ids: Iterable[str]) -> list[Story | None]:
    """The stories with these ids as they are now (None for one deleted meanwhile)."""
    return _read(
        settings, lambda document: [document.get_story(i).get(timeout=ASK_TIMEOUT_S) for i in ids]
    )


def read_stories(settings: Settings, statuses: Iterable[PortraitStatus], limit: int) -> list[Story]:
    """Up to `limit` stories whose portrait is in one of `statuses`, oldest state first."""
    return _read(
        settings,
        lambda document: [
            story
            for status in statuses
            for story in document.list_stories(status, limit).get(timeout=ASK_TIMEOUT_S)
        ][:limit],
    )


def read_calls(settings: Settings) -> tuple[Usage, list[Held]]:
    """Recraft calls and credits in the last hour and day, and what holds calls back now,
    for every instance on the database."""
    portraits = settings.portraits
    limits = Limits(portraits.rate_limit_per_minute, portraits.max_calls_per_hour)
    return _read(
        settings,
        lambda document: (
            document.call_usage().get(timeout=ASK_TIMEOUT_S),
            document.call_holds(limits).get(timeout=ASK_TIMEOUT_S),
        ),
    )


def clear_holds(settings: Settings, reason: HoldReason | None = None) -> int:
    """Remove the holds Recraft asked for (a 402's, a 429's), for every instance."""
    return _read(settings, lambda document: document.clear_holds(reason).get(timeout=ASK_TIMEOUT_S))
