"""open_database on real SQLite files: tables, schema version, pragmas, refusals; and what
happens to a connection found lost. One test checks PostgreSQL sessions' timeouts."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from peewee import Database, IntegrityError, OperationalError
from playhouse.pool import PooledDatabase

from tests.postgres import drop_database, fresh_database
from vignette.actors.messages import STATEMENT_MARGIN_S
from vignette.models import (
    SCHEMA_VERSION,
    SchemaTooNew,
    SchemaVersion,
    closing_lost_connection,
    database,
    open_database,
)
from vignette.models.database import CONNECT_TIMEOUT_S, STATEMENT_TIMEOUT_S


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vignette.sqlite3"


@pytest.fixture
def opened() -> Iterator[list[Database]]:
    """Databases a test opens; each is closed at teardown."""
    databases: list[Database] = []
    yield databases
    for db in databases:
        db.close()


def open_and_keep(url: str, opened: list[Database]) -> Database:
    db = open_database(url)
    opened.append(db)
    return db


def schema_rows(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as raw:
        return [row[0] for row in raw.execute("SELECT version FROM schema_version")]


def test_opening_a_new_file_creates_the_tables_and_records_the_schema_version(
    db_path: Path, opened: list[Database]
) -> None:
    db = open_and_keep(sqlite_url(db_path), opened)

    assert db_path.is_file()
    assert {"stories", "stored_files", "schema_version"} <= set(db.get_tables())
    assert schema_rows(db_path) == [SCHEMA_VERSION]
    with db.connection_context():
        assert [row.version for row in SchemaVersion.select()] == [SCHEMA_VERSION]


def test_opening_the_same_file_twice_keeps_one_schema_row(
    db_path: Path, opened: list[Database]
) -> None:
    open_and_keep(sqlite_url(db_path), opened)
    open_and_keep(sqlite_url(db_path), opened)
    open_and_keep(sqlite_url(db_path), opened)

    assert schema_rows(db_path) == [SCHEMA_VERSION]


def test_opening_the_file_in_use_again_returns_the_same_database(
    db_path: Path, opened: list[Database]
) -> None:
    first = open_and_keep(sqlite_url(db_path), opened)

    again = open_and_keep(sqlite_url(db_path), opened)

    # A new Database would take the models away from actors running on the first one.
    assert again is first
    assert database.obj is first


def test_opening_another_file_points_the_models_at_it(
    tmp_path: Path, opened: list[Database]
) -> None:
    first = open_and_keep(sqlite_url(tmp_path / "one.sqlite3"), opened)

    second = open_and_keep(sqlite_url(tmp_path / "two.sqlite3"), opened)

    assert second is not first
    assert database.obj is second
    with second.connection_context():
        assert SchemaVersion.select().count() == 1
    assert schema_rows(tmp_path / "two.sqlite3") == [SCHEMA_VERSION]


def test_the_tables_have_the_columns_the_actors_rely_on(
    db_path: Path, opened: list[Database]
) -> None:
    db = open_and_keep(sqlite_url(db_path), opened)

    stories = {column.name for column in db.get_columns("stories")}
    files = {column.name for column in db.get_columns("stored_files")}

    assert {
        "id",
        "title",
        "body",
        "image_generation_prompt",
        "storage_id",
        "portrait_status",
        "portrait_error",
        "portrait_attempt",
        "portrait_started_at",
        "created_at",
        "updated_at",
    } <= stories
    assert {"id", "sha256", "size", "content_type", "created_at"} <= files


def test_the_journal_is_wal_and_foreign_keys_are_enforced(
    db_path: Path, opened: list[Database]
) -> None:
    db = open_and_keep(sqlite_url(db_path), opened)

    with db.connection_context():
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 1000
        # FULL (2): a committed claim survives a power loss.
        assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2
        # Enforced, not only reported: a story cannot point at a file that does not exist.
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            db.execute_sql(
                "INSERT INTO stories (id, title, body, image_generation_prompt, storage_id, "
                "portrait_status, portrait_attempt, created_at, updated_at) "
                "VALUES ('s1', 't', 'b', 'p', 'no-such-file', 'stored', 1, "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
    # WAL is a property of the file: a plain connection sees it too.
    with closing(sqlite3.connect(db_path)) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_database_from_a_newer_vignette_is_refused_naming_both_versions(
    db_path: Path, opened: list[Database]
) -> None:
    open_and_keep(sqlite_url(db_path), opened)
    newer = SCHEMA_VERSION + 7
    with closing(sqlite3.connect(db_path)) as raw, raw:
        raw.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, '2030-01-01 00:00:00')",
            (newer,),
        )

    with pytest.raises(SchemaTooNew) as caught:
        open_and_keep(sqlite_url(db_path), opened)

    numbers = {int(n) for n in re.findall(r"\d+", str(caught.value))}
    assert {newer, SCHEMA_VERSION} <= numbers
    # Nothing was written by the refused open.
    assert sorted(schema_rows(db_path)) == [SCHEMA_VERSION, newer]


def test_the_parent_directory_of_the_file_is_created(
    tmp_path: Path, opened: list[Database]
) -> None:
    path = tmp_path / "deep" / "er" / "vignette.sqlite3"

    open_and_keep(sqlite_url(path), opened)

    assert path.parent.is_dir()
    assert path.is_file()
    assert schema_rows(path) == [SCHEMA_VERSION]


def test_a_relative_path_is_resolved_from_the_working_directory(
    tmp_path: Path, opened: list[Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    open_and_keep("sqlite:///data/vignette.sqlite3", opened)

    assert (tmp_path / "data" / "vignette.sqlite3").is_file()


SCHEMA_V1 = """
CREATE TABLE stored_files (id VARCHAR(32) PRIMARY KEY, sha256 VARCHAR(64) NOT NULL,
    size BIGINT NOT NULL, content_type VARCHAR(100) NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE stories (id VARCHAR(32) PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL,
    image_generation_prompt TEXT NOT NULL,
    storage_id VARCHAR(32) REFERENCES stored_files (id) ON DELETE SET NULL,
    portrait_status VARCHAR(16) NOT NULL, portrait_error TEXT,
    portrait_attempt INTEGER NOT NULL, portrait_started_at DATETIME,
    created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
CREATE TABLE schema_version (id INTEGER PRIMARY KEY, version INTEGER NOT NULL,
    applied_at DATETIME NOT NULL);
INSERT INTO schema_version (version, applied_at) VALUES (1, '2026-11-01 00:00:00');
INSERT INTO stories VALUES ('s1', 'Kept', 'Body', 'prompt', NULL, 'pending', NULL, 0, NULL,
    '2026-11-01 00:00:00', '2026-11-01 00:00:00');
"""


def test_a_version_1_database_is_migrated_keeping_its_stories(
    db_path: Path, opened: list[Database]
) -> None:
    with closing(sqlite3.connect(db_path)) as raw:
        raw.executescript(SCHEMA_V1)

    open_and_keep(sqlite_url(db_path), opened)

    assert schema_rows(db_path) == [1, *range(2, SCHEMA_VERSION + 1)]
    with closing(sqlite3.connect(db_path)) as raw:
        columns = {row[1] for row in raw.execute("PRAGMA table_info(stories)")}
        kept = raw.execute(
            "SELECT title, portrait_status, portrait_credits FROM stories"
        ).fetchall()
    assert {"portrait_owner", "portrait_lease_until", "portrait_credits"} <= columns
    assert kept == [("Kept", "pending", None)]


def test_a_lost_connection_is_closed_so_the_next_statement_opens_a_new_one(
    db_path: Path, opened: list[Database]
) -> None:
    db = open_and_keep(sqlite_url(db_path), opened)
    db.connect(reuse_if_open=True)

    with pytest.raises(OperationalError), closing_lost_connection(db):
        raise OperationalError("server closed the connection unexpectedly")

    assert db.is_closed()
    assert db.execute_sql("SELECT 1").fetchone() == (1,)  # reconnects on its own


def test_other_errors_leave_the_connection_open(db_path: Path, opened: list[Database]) -> None:
    db = open_and_keep(sqlite_url(db_path), opened)
    db.connect(reuse_if_open=True)

    with pytest.raises(IntegrityError), closing_lost_connection(db):
        raise IntegrityError("a constraint failed")

    assert not db.is_closed()


def indexes(path: Path) -> list[tuple[str, str]]:
    """Each index of the stories table: its name and the columns it covers."""
    with closing(sqlite3.connect(path)) as raw:
        names = [row[1] for row in raw.execute("PRAGMA index_list(stories)")]
        return sorted(
            (name, ",".join(r[2] for r in raw.execute(f"PRAGMA index_info('{name}')")))
            for name in names
        )


def test_a_migrated_database_has_the_indexes_of_a_fresh_one(
    tmp_path: Path, opened: list[Database]
) -> None:
    migrated, fresh = tmp_path / "migrated.sqlite3", tmp_path / "fresh.sqlite3"
    with closing(sqlite3.connect(migrated)) as raw:
        raw.executescript(SCHEMA_V1)

    open_and_keep(sqlite_url(migrated), opened)
    open_and_keep(sqlite_url(fresh), opened)

    assert indexes(migrated) == indexes(fresh)
    covered = [columns for _, columns in indexes(migrated)]
    assert len(covered) == len(set(covered)), f"an index is duplicated: {indexes(migrated)}"
    assert "updated_at" in covered  # what subscriptions read by (version 4)


def test_postgresql_sessions_have_a_statement_timeout_below_a_writes_margin(
    postgres_url: str, opened: list[Database]
) -> None:
    name = f"vignette_timeouts_{os.getpid()}"
    url = fresh_database(postgres_url, name)
    try:
        db = open_and_keep(url, opened)
        with db.connection_context():
            shown = db.execute_sql("SHOW statement_timeout").fetchone()[0]
        assert shown == f"{STATEMENT_TIMEOUT_S}s"
        assert STATEMENT_TIMEOUT_S + CONNECT_TIMEOUT_S < STATEMENT_MARGIN_S
        assert db.connect_params["connect_timeout"] == CONNECT_TIMEOUT_S
    finally:
        for db in opened:
            db.close()
        if isinstance(database.obj, PooledDatabase):
            database.obj.close_all()
        drop_database(postgres_url, name)
