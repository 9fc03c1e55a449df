"""Opening the database named by `database.url`, creating tables, recording the schema."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from peewee import Database, SqliteDatabase, fn
from playhouse.db_url import connect

from models.tables import ALL_TABLES, SchemaVersion, database

SCHEMA_VERSION = 1

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 5000,
    "synchronous": "normal",
    "foreign_keys": 1,
}


class SchemaTooNew(RuntimeError):
    """The database was written by a newer Vignette than this one."""


# The models reach the database through one process-wide proxy. Opening the database the
# proxy already serves returns that same Database: a new one would take the models away
# from actors still running on the old one, whose `atomic()` blocks would then hold a write
# lock on one connection while their statements wait for it on another.
_opening = threading.Lock()


def open_database(url: str) -> Database:
    """Connect the models to `url` (SQLite or PostgreSQL) and bring the schema up to date."""
    with _opening:
        db: Database = connect(url, **_options(url))
        if isinstance(db, SqliteDatabase) and db.database != ":memory:":
            Path(db.database).parent.mkdir(parents=True, exist_ok=True)
        current = database.obj
        if current is not None and _same_database(current, db):
            db = current
        else:
            database.initialize(db)
    with db.connection_context():
        migrate(db)
    return db


def _same_database(a: Database, b: Database) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, SqliteDatabase):
        memory = ":memory:" in (a.database, b.database)
        return not memory and os.path.abspath(a.database) == os.path.abspath(b.database)
    return bool(a.database == b.database and a.connect_params == b.connect_params)


def _options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # IMMEDIATE takes the write lock when a transaction begins, so two processes
        # writing at once wait on busy_timeout instead of failing on upgrade.
        return {"pragmas": SQLITE_PRAGMAS, "lock_type": "IMMEDIATE"}
    return {}


def migrate(db: Database) -> None:
    """Create missing tables and record the schema version; refuse a newer schema."""
    with db.atomic():
        db.create_tables(ALL_TABLES, safe=True)
        current = SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar()
        if current is None:
            SchemaVersion.create(version=SCHEMA_VERSION)
        elif current > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the database's schema is version {current}; this Vignette knows up to "
                f"{SCHEMA_VERSION}: upgrade Vignette"
            )
        # Later schema versions add their migration steps here, from `current` up.
