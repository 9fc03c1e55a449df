"""The schema's version: tables created on start, an older schema migrated step by step,
a newer one refused."""

from __future__ import annotations

from collections.abc import Callable

from peewee import Database, SqliteDatabase, fn
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migrations

from vignette.models import counts
from vignette.models.tables import ALL_TABLES, SchemaVersion, StoryRow

SCHEMA_VERSION = 4
# The PostgreSQL advisory lock held while the schema is created or migrated.
MIGRATION_LOCK_KEY = 0x56494E47  # "VING"


class SchemaTooNew(RuntimeError):
    """The database was written by a newer Vignette than this one."""


def migrate(db: Database) -> None:
    """Create missing tables, bring an older schema up to date, refuse a newer one."""
    with db.atomic():
        if not isinstance(db, SqliteDatabase):
            # Instances starting together must not create or migrate tables at once;
            # SQLite's IMMEDIATE transaction already serialises them.
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))  # type: ignore[no-untyped-call]
        fresh = not db.table_exists(SchemaVersion._meta.table_name)
        current = None if fresh else SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar()
        if current is not None and current > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the database's schema is version {current}; this Vignette knows up to "
                f"{SCHEMA_VERSION}: upgrade Vignette"
            )
        if current is not None:
            # Migrate first: creating the tables' indexes before would duplicate the ones
            # a migration adds, and a migrated database would differ from a fresh one.
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](db)
                SchemaVersion.create(version=version)
        # Tables (and their indexes) a fresh database lacks, and tables added since; after a
        # migration, the indexes it relies on too. A schema already current gets only its
        # missing tables: on PostgreSQL, CREATE INDEX IF NOT EXISTS still locks its table,
        # and would deadlock with another instance's claim (stories, then its call's row).
        migrated = current is not None and current < SCHEMA_VERSION
        tables = [t for t in ALL_TABLES if migrated or not db.table_exists(t._meta.table_name)]
        db.create_tables(tables, safe=True)
        if current is None:
            SchemaVersion.create(version=SCHEMA_VERSION)
        # The counts by portrait state, and the triggers that keep them (once).
        counts.install(db)


def _add_portrait_leases(db: Database) -> None:
    """Version 2: portraits are claimed by an instance with a lease. (The claim's index on
    (portrait_status, created_at) comes with the tables' indexes, created after migrating.)"""
    migrator = SchemaMigrator.from_database(db)
    run_migrations(
        migrator.add_column("stories", "portrait_owner", StoryRow.portrait_owner),
        migrator.add_column("stories", "portrait_lease_until", StoryRow.portrait_lease_until),
    )


def _add_portrait_credits(db: Database) -> None:
    """Version 3: what each stored portrait cost, in Recraft credits."""
    migrator = SchemaMigrator.from_database(db)
    run_migrations(migrator.add_column("stories", "portrait_credits", StoryRow.portrait_credits))


def _index_updated_at(db: Database) -> None:
    """Version 4: subscriptions read the stories settled since a moment, by `updated_at`.
    The index comes with the tables' indexes, created (under peewee's name for it) right
    after migrating; nothing else changes."""


# The step that brings the schema from the version before up to each version.
MIGRATIONS: dict[int, Callable[[Database], None]] = {
    2: _add_portrait_leases,
    3: _add_portrait_credits,
    4: _index_updated_at,
}
