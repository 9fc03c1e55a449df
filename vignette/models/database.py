"""Opening the database named by `database.url`, creating tables, recording the schema."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from peewee import Database, SqliteDatabase, fn
from playhouse.db_url import connect
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migrations
from playhouse.pool import PooledDatabase

from vignette.models.tables import ALL_TABLES, SchemaVersion, StoryRow, database

SCHEMA_VERSION = 2
# The PostgreSQL advisory lock held while the schema is created or migrated.
MIGRATION_LOCK_KEY = 0x56494E47  # "VING"

# Connections to PostgreSQL per process: one per DocumentActor (a StorySystem has one; the
# read-only commands start one more), with room to spare.
POOL_SIZE = 8
POOL_STALE_TIMEOUT_S = 300
POOL_WAIT_S = 10

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
        db: Database = _connect(url)
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


def release_connections(db: Database) -> None:
    """Close a pool's idle connections (those of stopped actors); no-op for SQLite."""
    if isinstance(db, PooledDatabase):
        db.close_idle()


def _same_database(a: Database, b: Database) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, SqliteDatabase):
        memory = ":memory:" in (a.database, b.database)
        return not memory and os.path.abspath(a.database) == os.path.abspath(b.database)
    return bool(a.database == b.database and a.connect_params == b.connect_params)


def _connect(url: str) -> Database:
    if url.startswith("sqlite"):
        # IMMEDIATE takes the write lock when a transaction begins, so two processes
        # writing at once wait on busy_timeout instead of failing on upgrade.
        database: Database = connect(url, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")
        return database
    # PostgreSQL through a pool: a connection per DocumentActor thread, returned to the
    # pool when the actor stops (its on_stop closes it).
    scheme, _, rest = url.partition("://")
    pooled: Database = connect(
        f"{scheme}+pool://{rest}",
        max_connections=POOL_SIZE,
        stale_timeout=POOL_STALE_TIMEOUT_S,
        timeout=POOL_WAIT_S,
    )
    return pooled


def migrate(db: Database) -> None:
    """Create missing tables, bring an older schema up to date, refuse a newer one."""
    with db.atomic():
        if not isinstance(db, SqliteDatabase):
            # Instances starting together must not create or migrate tables at once;
            # SQLite's IMMEDIATE transaction already serialises them.
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))  # type: ignore[no-untyped-call]
        fresh = not db.table_exists(SchemaVersion._meta.table_name)
        db.create_tables(ALL_TABLES, safe=True)
        current = SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar()
        if fresh or current is None:
            SchemaVersion.create(version=SCHEMA_VERSION)
            return
        if current > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the database's schema is version {current}; this Vignette knows up to "
                f"{SCHEMA_VERSION}: upgrade Vignette"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](db)
            SchemaVersion.create(version=version)


def _add_portrait_leases(db: Database) -> None:
    """Version 2: portraits are claimed by an instance with a lease."""
    migrator = SchemaMigrator.from_database(db)
    run_migrations(
        migrator.add_column("stories", "portrait_owner", StoryRow.portrait_owner),
        migrator.add_column("stories", "portrait_lease_until", StoryRow.portrait_lease_until),
        migrator.add_index("stories", ("portrait_status", "created_at"), False),
    )


# The step that brings the schema from the version before up to each version.
MIGRATIONS: dict[int, Callable[[Database], None]] = {2: _add_portrait_leases}
