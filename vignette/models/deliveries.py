"""The webhook outbox as operators see it: events listed with their attempts, one sent
again, endpoints disabled by a 410 answer, and the figures `/metrics` shows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from peewee import fn

from vignette.models.outbox import EventStatus
from vignette.models.tables import WebhookEndpointRow, WebhookEventRow, aware, utc_now

FIELDS = (
    WebhookEventRow.id,
    WebhookEventRow.type,
    WebhookEventRow.story_id,
    WebhookEventRow.status,
    WebhookEventRow.attempts,
    WebhookEventRow.last_status_code,
    WebhookEventRow.last_error,
    WebhookEventRow.next_attempt_at,
    WebhookEventRow.created_at,
    WebhookEventRow.updated_at,
)


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """An event in the outbox and how its delivery went so far."""

    id: str
    type: str
    story_id: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    # When the next attempt is due; None once delivered or failed.
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DisabledEndpoint:
    disabled_at: datetime
    reason: str


def _delivery(values: tuple[Any, ...]) -> WebhookDelivery:
    event_id, kind, story_id, status, attempts, code, error, due, created, updated = values
    waiting = status in (EventStatus.PENDING, EventStatus.SENDING)
    return WebhookDelivery(
        event_id,
        kind,
        story_id,
        status,
        attempts,
        code,
        error,
        aware(due) if waiting else None,
        aware(created),
        aware(updated),
    )


def list_deliveries(status: str | None = None, limit: int = 50) -> list[WebhookDelivery]:
    """Events, newest first, optionally only those in `status`."""
    query = WebhookEventRow.select(*FIELDS).order_by(
        WebhookEventRow.created_at.desc(), WebhookEventRow.id.desc()
    )
    if status is not None:
        query = query.where(WebhookEventRow.status == status)
    rows = cast("list[tuple[Any, ...]]", list(query.limit(limit).tuples()))
    return [_delivery(values) for values in rows]


def get_delivery(event_id: str) -> WebhookDelivery | None:
    row = WebhookEventRow.select(*FIELDS).where(WebhookEventRow.id == event_id).tuples().first()
    return None if row is None else _delivery(row)


def retry_delivery(event_id: str) -> WebhookDelivery | None:
    """Make an event due now, with the same id, unless it is being sent; None if it is."""
    now = utc_now()
    rows = list(
        WebhookEventRow.update(status=EventStatus.PENDING, next_attempt_at=now, updated_at=now)
        .where((WebhookEventRow.id == event_id) & (WebhookEventRow.status != EventStatus.SENDING))
        .returning(*FIELDS)
        .tuples()
    )
    return _delivery(rows[0]) if rows else None


def endpoint_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def disable_endpoint(url: str, reason: str) -> None:
    """Send nothing more to `url` (it answered 410 Gone) until it is enabled again."""
    row = {"id": endpoint_key(url), "disabled_at": utc_now(), "reason": reason}
    WebhookEndpointRow.insert(row).on_conflict_ignore().execute()


def enable_endpoint(url: str) -> bool:
    return bool(
        WebhookEndpointRow.delete().where(WebhookEndpointRow.id == endpoint_key(url)).execute()
    )


def disabled_endpoint(url: str) -> DisabledEndpoint | None:
    row = (
        WebhookEndpointRow.select(WebhookEndpointRow.disabled_at, WebhookEndpointRow.reason)
        .where(WebhookEndpointRow.id == endpoint_key(url))
        .tuples()
        .first()
    )
    return None if row is None else DisabledEndpoint(aware(row[0]), row[1])


def count_by_status() -> dict[str, int]:
    query = WebhookEventRow.select(WebhookEventRow.status, fn.COUNT(WebhookEventRow.id))
    rows = cast("list[tuple[str, int]]", list(query.group_by(WebhookEventRow.status).tuples()))
    return dict(rows)


def oldest_undelivered_at() -> datetime | None:
    """When the oldest event not yet delivered (nor failed) was written (aware), or None."""
    oldest = (
        WebhookEventRow.select(fn.MIN(WebhookEventRow.created_at))
        .where(WebhookEventRow.status.in_([EventStatus.PENDING, EventStatus.SENDING]))
        .scalar()
    )
    if oldest is None:
        return None
    if isinstance(oldest, str):  # an aggregate comes back as text on SQLite
        oldest = WebhookEventRow.created_at.python_value(oldest)  # type: ignore[no-untyped-call]
    return aware(oldest)
