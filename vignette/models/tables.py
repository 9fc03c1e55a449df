"""The tables: stories, stored files (Convex's `_storage`), and the schema version."""

from __future__ import annotations

from datetime import UTC, datetime

from peewee import (
    BigIntegerField,
    CharField,
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
    created_at = DateTimeField(default=utc_now, index=True)
    updated_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "stories"
        # The claim query: the oldest pending portrait.
        indexes = ((("portrait_status", "created_at"), False),)


class SchemaVersion(BaseModel):
    version = IntegerField()
    applied_at = DateTimeField(default=utc_now)

    class Meta:
        table_name = "schema_version"


ALL_TABLES: list[type[BaseModel]] = [StoredFile, StoryRow, SchemaVersion]
