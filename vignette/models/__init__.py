"""peewee models and database set-up; only `actors.document` uses them."""

from vignette.models.database import (
    SCHEMA_VERSION,
    SchemaTooNew,
    migrate,
    open_database,
    release_connections,
)
from vignette.models.tables import SchemaVersion, StoredFile, StoryRow, database, utc_now

__all__ = [
    "SCHEMA_VERSION",
    "SchemaTooNew",
    "SchemaVersion",
    "StoredFile",
    "StoryRow",
    "database",
    "migrate",
    "open_database",
    "release_connections",
    "utc_now",
]
