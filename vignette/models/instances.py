"""Instances' heartbeats, by the database's clock: which instances are alive.

Each instance renews its row at every housekeeping tick; an instance whose row has expired
is gone, whatever its host name or process id says (two containers on one host may share
both). Times here are the database's own (`now()` / SQLite's 'now', in UTC), so the clocks
of the machines sharing a database never need to agree.
"""

from __future__ import annotations

from typing import Any

from peewee import EXCLUDED, SQL, Database, SqliteDatabase

from vignette.models.tables import InstanceRow

# Rows of instances gone this long are removed, so the table stays small.
FORGET_AFTER_S = 86_400.0


def database_now(db: Database, plus_s: float = 0.0) -> Any:
    """The database's current UTC time, plus `plus_s` seconds, as an SQL expression."""
    if isinstance(db, SqliteDatabase):
        return SQL("strftime('%Y-%m-%d %H:%M:%f', 'now', ?)", [f"{plus_s:+.3f} seconds"])
    return SQL("((now() AT TIME ZONE 'UTC') + %s * interval '1 second')", [plus_s])


def beat(db: Database, instance: str, ttl_s: float) -> None:
    """Say `instance` is alive for `ttl_s` seconds more, from the database's now."""
    expires = database_now(db, ttl_s)
    (
        InstanceRow.insert(id=instance, expires_at=expires)
        .on_conflict(
            conflict_target=[InstanceRow.id],
            update={InstanceRow.expires_at: EXCLUDED.expires_at},
        )
        .execute()
    )
    InstanceRow.delete().where(InstanceRow.expires_at < database_now(db, -FORGET_AFTER_S)).execute()


def expired(db: Database) -> Any:
    """A subquery: the ids of instances whose heartbeat has expired."""
    return InstanceRow.select(InstanceRow.id).where(InstanceRow.expires_at < database_now(db))
