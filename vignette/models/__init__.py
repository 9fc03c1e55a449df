"""peewee: tables, database set-up, SQL and migrations. The only package that imports peewee;
the rest of Vignette sees `Database` and `DatabaseError` through it."""

from peewee import Database, DatabaseError

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
    "Database",
    "DatabaseError",
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
