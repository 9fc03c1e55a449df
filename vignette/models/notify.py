"""Pick-up without polling on PostgreSQL: a NOTIFY when a story's portrait becomes
`pending`, and a LISTEN on a dedicated connection in every instance.

Inserting a story sends the notification in the insert's own statement (`sql.py`);
scheduling a portrait again, or giving back a claim no worker took, sends it after its
update. PostgreSQL delivers a notification at commit, to every listening session. The
listener calls `on_pending` for each (and once each time it starts listening, for what
it may have missed); polling stays the fallback. SQLite has no notifications: there the
supervisor polls, at a short interval while work is likely (`actors/supervisor.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
from loguru import logger
from peewee import Database, SqliteDatabase

from vignette.models.sql import run

CHANNEL = "vignette_pending"
# How often the listener looks at its stop flag while no notification comes.
LISTEN_TICK_S = 0.5
RECONNECT_FIRST_S = 0.5
RECONNECT_CAP_S = 10.0


def is_sqlite(db: Database) -> bool:
    return isinstance(db, SqliteDatabase)


def notify_pending(db: Database) -> None:
    """Tell every listening instance that a portrait is pending (no-op on SQLite)."""
    if not isinstance(db, SqliteDatabase):
        run(db, "SELECT pg_notify(%s, '')", (CHANNEL,))


class PendingListener:
    """A daemon thread holding one autocommit connection that LISTENs for pending portraits."""

    def __init__(self, db: Database, on_pending: Callable[[], None]) -> None:
        params: dict[str, Any] = dict(db.connect_params)
        params.pop("options", None)  # the statement timeout is for the pool's sessions
        self._params = {"dbname": db.database, **params}
        self._on_pending = on_pending
        self._stopped = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pending-listener", daemon=True)

    @classmethod
    def start_for(cls, db: Database, on_pending: Callable[[], None]) -> PendingListener | None:
        """A running listener for `db`; None for SQLite, which has no notifications."""
        if isinstance(db, SqliteDatabase):
            return None
        listener = cls(db, on_pending)
        listener._thread.start()
        return listener

    def stop(self, wait_s: float = 0.0) -> None:
        """Stop listening: the thread ends within `LISTEN_TICK_S` (it is a daemon, so it
        never holds the process); wait at most `wait_s` for it."""
        self._stopped.set()
        if wait_s > 0:
            self._thread.join(timeout=wait_s)

    def _run(self) -> None:
        wait = RECONNECT_FIRST_S
        while not self._stopped.is_set():
            try:
                self._listen()
                wait = RECONNECT_FIRST_S
            except (psycopg.Error, OSError) as error:
                self.listening.clear()
                logger.bind(step="listen", cause=type(error).__name__).warning(
                    "not listening for new portraits (polling goes on): {}; again in {:g} s",
                    str(error).strip() or type(error).__name__,
                    wait,
                )
                self._stopped.wait(wait)
                wait = min(RECONNECT_CAP_S, wait * 2)

    def _listen(self) -> None:
        with psycopg.connect(autocommit=True, **self._params) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            self._on_pending()  # whatever was inserted while nobody listened
            while not self._stopped.is_set():
                for _ in connection.notifies(timeout=LISTEN_TICK_S):
                    self._on_pending()
                    if self._stopped.is_set():
                        break
        self.listening.clear()
