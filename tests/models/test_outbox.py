"""The webhook outbox on a real database: one event per settled attempt, claims that one
instance holds until its lease runs out, outcomes only from the attempt holding the claim."""

from __future__ import annotations

import json

from peewee import Database, fn

from tests.models.rows import claim, insert, store
from vignette.models import SCHEMA_VERSION, SchemaVersion, open_database, outbox
from vignette.models.outbox import EventStatus
from vignette.models.tables import WebhookEndpointRow, WebhookEventRow

ALL = ("portrait.stored", "portrait.failed", "portrait.skipped", "story.deleted")


def stored_story(db: Database) -> str:
    story = insert(db, 1)
    assert store(db, claim(db, story.id)) is not None
    return story.id


def test_a_settled_attempt_is_recorded_once_however_often_it_is_written(db: Database) -> None:
    story_id = stored_story(db)

    for _ in range(2):
        with db.atomic():
            outbox.record_settled(db, [story_id], ALL)

    [row] = WebhookEventRow.select()
    assert (row.type, row.story_id, row.status, row.attempts) == (
        "portrait.stored",
        story_id,
        EventStatus.PENDING,
        0,
    )
    body = json.loads(row.payload)
    assert body["data"]["story_id"] == story_id
    assert body["data"]["image_url"].startswith("/api/files/")


def test_an_unwanted_type_is_not_recorded(db: Database) -> None:
    story_id = stored_story(db)

    with db.atomic():
        outbox.record_settled(db, [story_id], ["portrait.failed"])

    assert WebhookEventRow.select().count() == 0


def test_a_claimed_event_is_not_claimed_again_until_its_lease_runs_out(db: Database) -> None:
    story_id = stored_story(db)
    with db.atomic():
        outbox.record_settled(db, [story_id], ALL)

    [first] = outbox.claim_events(db, "instance-a", lease_s=60, limit=8)
    held = outbox.claim_events(db, "instance-b", lease_s=60, limit=8)
    assert held == []

    WebhookEventRow.update(lease_until=WebhookEventRow.created_at).execute()  # run out
    [again] = outbox.claim_events(db, "instance-b", lease_s=60, limit=8)

    assert again.id == first.id
    assert (first.attempt, again.attempt) == (1, 2)
    late = outbox.settle_event(first, EventStatus.DELIVERED, status_code=200, error=None)
    assert late is False, "the attempt that lost its claim records nothing"
    assert outbox.settle_event(again, EventStatus.DELIVERED, status_code=200, error=None)
    assert WebhookEventRow.get_by_id(first.id).status == EventStatus.DELIVERED


def test_a_retry_is_not_due_before_its_time(db: Database) -> None:
    story_id = stored_story(db)
    with db.atomic():
        outbox.record_settled(db, [story_id], ALL)
    [event] = outbox.claim_events(db, "a", lease_s=60, limit=8)

    assert outbox.settle_event(event, "pending", status_code=503, error="HTTP 503", retry_in_s=600)

    assert outbox.claim_events(db, "a", lease_s=60, limit=8) == []
    assert outbox.next_due_at(db) is not None


def test_a_database_from_before_webhooks_gets_the_outbox_without_a_new_version(
    db: Database, database_url: str
) -> None:
    db.drop_tables([WebhookEventRow, WebhookEndpointRow])
    assert not db.table_exists("webhook_events")

    reopened = open_database(database_url)

    assert reopened.table_exists("webhook_events")
    assert reopened.table_exists("webhook_endpoints")
    assert SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar() == SCHEMA_VERSION
