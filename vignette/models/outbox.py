"""The webhook outbox: events written in the transaction that settles a portrait or deletes
a story, then claimed, sent and settled by a dispatcher.

Writing the event with the change it reports means no crash can lose one or invent one.
Claims work as portrait claims do: one conditional statement moves due events to
`sending`, counts the attempt and gives this instance a lease, after a select that skips
(PostgreSQL: `FOR UPDATE SKIP LOCKED`) rows another instance is claiming, in one
transaction; an event whose lease ran out, or
whose instance's heartbeat expired, is claimable again. The outcome lands only if the
attempt still holds the claim.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from peewee import Database, SqliteDatabase

from vignette.models import instances
from vignette.models.sql import STORY_FIELDS
from vignette.models.stories import story_from
from vignette.models.tables import StoryRow, WebhookEventRow, aware, new_id, utc_now
from vignette.records import PortraitStatus, Story

# The event type a settled portrait's state gives.
SETTLED_EVENTS = {
    PortraitStatus.STORED: "portrait.stored",
    PortraitStatus.FAILED: "portrait.failed",
    PortraitStatus.SKIPPED: "portrait.skipped",
}
DELETED_EVENT = "story.deleted"
# An error message is cut to this, so a payload stays well under 20 kB.
MAX_ERROR_CHARS = 2000


class EventStatus:
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A claimed event: its id (the `webhook-id`), type, body and which attempt this is."""

    id: str
    type: str
    story_id: str
    payload: str
    attempt: int


def image_url(storage_id: str | None) -> str | None:
    """Where the API serves a stored portrait (relative to the server's address)."""
    return None if storage_id is None else f"/api/files/{storage_id}"


def payload(event_type: str, story: Story, moment: datetime) -> str:
    """The event's JSON body: `{"type", "timestamp", "data": {...}}`."""
    error = story.portrait_error
    data = {
        "story_id": story.id,
        "portrait_status": str(story.portrait_status),
        "portrait_error": None if error is None else error[:MAX_ERROR_CHARS],
        "image_url": None if event_type == DELETED_EVENT else image_url(story.storage_id),
        "portrait_credits": story.portrait_credits,
    }
    stamp = aware(moment).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": stamp, "data": data})


def _insert(db: Database, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    WebhookEventRow.insert_many(rows).on_conflict_ignore().execute()
    return len(rows)


def _row(event_type: str, story: Story, key: str, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "key": key,
        "type": event_type,
        "story_id": story.id,
        "payload": payload(event_type, story, now),
        "status": EventStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def record_settled(db: Database, story_ids: Sequence[str], types: Iterable[str]) -> int:
    """Write an event for each of these settled portraits whose type is wanted; run inside
    the transaction that settled them. A portrait attempt's event is written once."""
    wanted = set(types)
    if not story_ids or not wanted & set(SETTLED_EVENTS.values()):
        return 0
    query = StoryRow.select(*STORY_FIELDS, StoryRow.portrait_attempt).where(
        StoryRow.id.in_(list(story_ids))
    )
    now = utc_now()
    rows = []
    for *values, attempt in cast("list[tuple[Any, ...]]", list(query.tuples())):
        story = story_from(values)
        event_type = SETTLED_EVENTS.get(story.portrait_status)
        if event_type in wanted:
            rows.append(_row(event_type, story, f"{event_type}:{story.id}:{attempt}", now))
    return _insert(db, rows)


def locked_story(db: Database, story_id: str) -> Story | None:
    """A story read for deletion: its row locked until the transaction ends (PostgreSQL;
    SQLite's transaction holds the write lock already)."""
    query = StoryRow.select(*STORY_FIELDS).where(StoryRow.id == story_id)
    if not isinstance(db, SqliteDatabase):
        query = query.for_update()
    row = query.tuples().first()
    return None if row is None else story_from(row)


def record_deleted(db: Database, story: Story) -> int:
    """Write the `story.deleted` event of a story deleted in this transaction."""
    return _insert(db, [_row(DELETED_EVENT, story, f"{DELETED_EVENT}:{story.id}", utc_now())])


def _claimable(db: Database, now: datetime) -> Any:
    due = (WebhookEventRow.status == EventStatus.PENDING) & (WebhookEventRow.next_attempt_at <= now)
    abandoned = (WebhookEventRow.status == EventStatus.SENDING) & (
        (WebhookEventRow.lease_until < now) | WebhookEventRow.owner.in_(instances.expired(db))
    )
    return due | abandoned


def claim_events(db: Database, owner: str, lease_s: float, limit: int) -> list[OutboxEvent]:
    """Claim up to `limit` events, due longest first (or abandoned by their sender), for
    `owner`: one transaction, whose UPDATE takes only rows that are still claimable."""
    now = utc_now()
    with db.atomic():
        due = (
            WebhookEventRow.select(WebhookEventRow.id)
            .where(_claimable(db, now))
            .order_by(WebhookEventRow.next_attempt_at, WebhookEventRow.id)
            .limit(limit)
        )
        if not isinstance(db, SqliteDatabase):
            due = due.for_update(skip_locked=True)
        ids = [row[0] for row in cast("list[tuple[str]]", list(due.tuples()))]
        if not ids:
            return []
        rows = (
            WebhookEventRow.update(
                status=EventStatus.SENDING,
                attempts=WebhookEventRow.attempts + 1,
                owner=owner,
                lease_until=now + timedelta(seconds=lease_s),
                updated_at=now,
            )
            .where(WebhookEventRow.id.in_(ids) & _claimable(db, now))
            .returning(
                WebhookEventRow.id,
                WebhookEventRow.type,
                WebhookEventRow.story_id,
                WebhookEventRow.payload,
                WebhookEventRow.attempts,
            )
            .tuples()
        )
        claimed = [OutboxEvent(*row) for row in cast("list[tuple[Any, ...]]", list(rows))]
    return sorted(claimed, key=lambda event: ids.index(event.id))


def settle_event(
    event: OutboxEvent,
    status: str,
    *,
    status_code: int | None,
    error: str | None,
    retry_in_s: float = 0.0,
) -> bool:
    """Record an attempt's outcome: delivered, failed, or pending again after `retry_in_s`;
    only if this attempt still holds the claim."""
    now = utc_now()
    return bool(
        WebhookEventRow.update(
            status=status,
            owner=None,
            lease_until=None,
            next_attempt_at=now + timedelta(seconds=retry_in_s),
            last_status_code=status_code,
            last_error=error,
            updated_at=now,
        )
        .where(
            (WebhookEventRow.id == event.id)
            & (WebhookEventRow.attempts == event.attempt)
            & (WebhookEventRow.status == EventStatus.SENDING)
        )
        .execute()
    )


def next_due_at(db: Database) -> datetime | None:
    """When the soonest pending event is due (aware), or None when none is pending."""
    row = (
        WebhookEventRow.select(WebhookEventRow.next_attempt_at)
        .where(WebhookEventRow.status == EventStatus.PENDING)
        .order_by(WebhookEventRow.next_attempt_at)
        .limit(1)
        .tuples()
        .first()
    )
    return None if row is None else aware(row[0])


def release_claims(owner: str) -> int:
    """Make `owner`'s events in `sending` pending again: a dispatcher starting again holds
    none (its previous incarnation died mid-attempt). Returns how many."""
    return int(
        WebhookEventRow.update(status=EventStatus.PENDING, owner=None, lease_until=None)
        .where((WebhookEventRow.owner == owner) & (WebhookEventRow.status == EventStatus.SENDING))
        .execute()
    )
