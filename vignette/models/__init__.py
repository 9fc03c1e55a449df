"""peewee: tables, database set-up, SQL and migrations. The only package that imports peewee;
the rest of Vignette sees `Database` and `DatabaseError` through it.

`stories`, `portraits` and `files` hold the functions that read and write rows, each run in
its caller's thread (the DocumentActor's); `sql` holds the text of the hot statements.
"""

from peewee import Database, DatabaseError

from vignette.models.database import (
    DATABASE_ERRORS,
    closing_lost_connection,
    open_database,
    release_connections,
)
from vignette.models.migrations import SCHEMA_VERSION, SchemaTooNew, migrate
from vignette.models.tables import SchemaVersion, StoredFile, StoryRow, database, utc_now

__all__ = [
    "DATABASE_ERRORS",
    "SCHEMA_VERSION",
    "Database",
    "DatabaseError",
    "SchemaTooNew",
    "SchemaVersion",
    "StoredFile",
    "StoryRow",
    "closing_lost_connection",
    "database",
    "migrate",
    "open_database",
    "release_connections",
    "utc_now",
]
