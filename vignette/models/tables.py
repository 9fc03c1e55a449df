"""The tables: stories, stored files (Convex's `_storage`), API tokens, the webhook outbox,
the Recraft call ledger and holds, the counts by state, and the schema version; the ids
their rows get, and how their times are stored (naive UTC) and read back (aware)."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from peewee import (
    BigIntegerField,
    CharField,
    CompositeKey,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

database = DatabaseProxy()


def utc_now() -> datetime:
    """The current UTC time, naive, as the tables store it."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    """An opaque id that sorts by creation time: 16 hex digits of nanoseconds, 16 random."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def aware(moment: datetime) -> datetime:
    """A naive UTC time from the tables, as an aware one."""
    return moment.replace(tzinfo=UTC)


class BaseModel(Model):
    class Meta:
        database = database


class StoredFile(BaseModel):
    """One stored file; its bytes live at `storage.path/<sha256[:2]>/<sha256>`."""

    id = CharField(primary_key=True, max_length=32)
    sha256 = CharField(max_length=64, index=True)
    size = BigIntegerField()
    content_type = CharField(max_length=100)
    created_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "stored_files"


class StoryRow(BaseModel):
    """A story and the state of its portrait; a `pending` row is a durable schedule."""

    id = CharField(primary_key=True, max_length=32)
    title = TextField()
    body = TextField()
    image_generation_prompt = TextField()
    storage = ForeignKeyField(
        StoredFile, null=True, on_delete="SET NULL", column_name="storage_id", backref="stories"
    )
    storage_id: str | None  # the raw foreign key, as peewee exposes it
    portrait_status = CharField(max_length=16, index=True)
    portrait_error = TextField(null=True)
    # Incremented by every claim; a worker's writes name the attempt they belong to, so a
    # late worker can never overwrite a newer attempt's outcome.
    portrait_attempt = IntegerField(default=0)
    portrait_started_at = DateTimeField(null=True)
    # The instance holding the claim, and until when: a live instance renews its leases;
    # a `generating` row whose lease ran out belongs to an instance that is gone.
    portrait_owner = CharField(max_length=100, null=True)
    portrait_lease_until = DateTimeField(null=True)
    # What Recraft's answer said the stored portrait cost (`credits`), when it said.
    portrait_credits = IntegerField(null=True)
    created_at = DateTimeField(default=utc_now, index=True)
    # Indexed: completion subscriptions read what settled since a moment.
    updated_at = DateTimeField(default=utc_now, index=True)

    class Meta:
        table_name = "stories"
        # The claim query: the oldest pending portrait.
        indexes = ((("portrait_status", "created_at"), False),)


class ApiTokenRow(BaseModel):
    """An API token: its name and the sha256 of the token (the token itself is never kept)."""

    id = CharField(primary_key=True, max_length=32)
    name = CharField(max_length=64, unique=True)
    token_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "api_tokens"


class SchemaVersion(BaseModel):
    version = IntegerField()
    applied_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "schema_version"


class InstanceRow(BaseModel):
    """A running instance's heartbeat: it moves `expires_at` on at every housekeeping tick,
    by the database's clock. Its claims are taken back only once that time has passed."""

    id = CharField(primary_key=True, max_length=100)
    expires_at = DateTimeField()

    class Meta:
        table_name = "instances"


class StoryCountRow(BaseModel):
    """Stories by portrait state, kept by triggers on `stories` in the transaction of every
    change (`models/counts.py`). The counts are the sums over the rows: SQLite has one
    row, PostgreSQL one per shard, so concurrent writers rarely wait on the same row."""

    shard = IntegerField(primary_key=True)
    pending = BigIntegerField(default=0)
    generating = BigIntegerField(default=0)
    stored = BigIntegerField(default=0)
    failed = BigIntegerField(default=0)
    skipped = BigIntegerField(default=0)

    class Meta:
        table_name = "story_counts"


class FailureCountRow(BaseModel):
    """Stories whose portrait carries each error code (the part of `portrait_error` before
    the colon), kept by the same triggers and summed over shards the same way."""

    code = TextField()
    shard = IntegerField()
    stories = BigIntegerField(default=0)

    class Meta:
        table_name = "failure_counts"
        primary_key = CompositeKey("code", "shard")


class WebhookEventRow(BaseModel):
    """A webhook event in the outbox, written in the transaction that caused it; its id is
    the `webhook-id` of every attempt. `pending` until `next_attempt_at`, `sending` while an
    instance holds it (until `lease_until`), then `delivered` or `failed` (kept)."""

    id = CharField(primary_key=True, max_length=32)
    # One event per (type, story, portrait attempt): a write tried twice records it once.
    key = CharField(max_length=120, unique=True)
    type = CharField(max_length=32)
    story_id = CharField(max_length=32)
    payload = TextField()
    status = CharField(max_length=16)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField()
    owner = CharField(max_length=100, null=True)
    lease_until = DateTimeField(null=True)
    last_status_code = IntegerField(null=True)
    last_error = TextField(null=True)
    created_at = DateTimeField(default=utc_now)
    updated_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "webhook_events"
        # The claim query: due pending events, oldest due first.
        indexes = ((("status", "next_attempt_at"), False),)


class WebhookEndpointRow(BaseModel):
    """A webhook URL that answered 410 Gone: nothing more is sent to it until it is enabled
    again. Keyed by the URL's sha256 (the URL may be long and may carry a token)."""

    id = CharField(primary_key=True, max_length=64)
    disabled_at = DateTimeField()
    reason = TextField()

    class Meta:
        table_name = "webhook_endpoints"


class RecraftCallRow(BaseModel):
    """One Recraft generation call, recorded before it is sent (the call ledger): the rate
    limit and the hourly budget are counted from these rows, for every instance."""

    id = CharField(primary_key=True, max_length=32)
    story_id = CharField(max_length=32)
    attempt = IntegerField()  # the story's claim it belongs to
    call_number = IntegerField()  # 1: the claim's first request; 2, 3...: its retries
    instance = CharField(max_length=100)
    sent_at = DateTimeField(index=True)  # by the database's clock
    outcome = CharField(max_length=32, null=True)  # null until the answer is known
    credits = IntegerField(null=True)

    class Meta:
        table_name = "recraft_calls"
        indexes = ((("story_id", "attempt", "call_number"), True),)


class RecraftHoldRow(BaseModel):
    """A pause every instance respects: a 429's Retry-After (`until`), or a 402 "not enough
    credits" (`until` null: held until an operator clears it)."""

    kind = CharField(primary_key=True, max_length=32)
    until = DateTimeField(null=True)
    detail = TextField()
    set_by = CharField(max_length=100)
    set_at = DateTimeField()

    class Meta:
        table_name = "recraft_holds"


ALL_TABLES: list[type[BaseModel]] = [
    StoredFile,
    StoryRow,
    ApiTokenRow,
    SchemaVersion,
    InstanceRow,
    StoryCountRow,
    FailureCountRow,
    WebhookEventRow,
    WebhookEndpointRow,
    RecraftCallRow,
    RecraftHoldRow,
]


def db_time(moment: datetime) -> Any:
    """A naive UTC time as peewee hands it to the driver (for SQL text with parameters)."""
    return StoryRow.updated_at.db_value(moment)  # type: ignore[no-untyped-call]


def python_time(value: Any) -> datetime:
    """A time column's value as the driver returns it (text on SQLite), as an aware time."""
    moment: datetime = StoryRow.updated_at.python_value(value)  # type: ignore[no-untyped-call]
    return aware(moment)
