"""Opening the database named by `database.url` (bringing its schema up to date), and
giving back connections: a pool's idle ones, and one the server dropped."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from peewee import Database, DatabaseError, InterfaceError, OperationalError, SqliteDatabase
from playhouse.db_url import connect
from playhouse.pool import MaxConnectionsExceeded, PooledDatabase

from vignette.models.migrations import migrate
from vignette.models.tables import database

# Connections to PostgreSQL per process: one per DocumentActor (a StorySystem has one; the
# read-only commands start one more), with room to spare.
POOL_SIZE = 8
POOL_STALE_TIMEOUT_S = 300
POOL_WAIT_S = 10
# A PostgreSQL server that does not answer: how long to wait for a connection, and the
# longest any statement may run. Both stay well below the margin a caller's wait keeps
# past a write's deadline (`vignette.actors.messages.STATEMENT_MARGIN_S`), so a write the
# caller gave up on can never commit after it stopped waiting.
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_S = 10

# What a database that is locked, unreachable or restarting raises: worth trying again later.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DatabaseError,
    InterfaceError,
    MaxConnectionsExceeded,
)

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 5000,
    # FULL: a committed claim survives a power loss too (NORMAL in WAL mode may roll the
    # last commits back, and a claim rolled back after its Recraft call is paid twice).
    "synchronous": "full",
    "foreign_keys": 1,
}


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


@contextlib.contextmanager
def closing_lost_connection(db: Database) -> Iterator[None]:
    """Run a block; if it finds the connection lost, close it (out of the pool, if pooled)
    so that the thread's next statement opens a new one, and let the error go on.

    The server may drop a connection (restart, failover, an idle timeout). The call that
    finds out fails, and is not retried: a write may already have committed.
    """
    try:
        yield
    except (OperationalError, InterfaceError):
        with contextlib.suppress(Exception):
            if isinstance(db, PooledDatabase):
                db.manual_close()
            else:
                db.close()
        raise


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
        connect_timeout=CONNECT_TIMEOUT_S,
        options=f"-c statement_timeout={STATEMENT_TIMEOUT_S * 1000}",
    )
    return pooled
