"""The statements every story and portrait runs, as SQL text written once per dialect.

Building a statement with peewee's query builder takes 0.2-0.4 ms of CPU, four to eight
times what SQLite then takes to run it, and one DocumentActor thread runs every statement
of the process. These are therefore kept as SQL text with parameters; values go through
the model fields' `db_value` and `python_value` (`tables.db_time`, `tables.python_time`), as
peewee's own queries do. Everything else uses the query builder.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from peewee import Database, SqliteDatabase

from vignette.models.tables import StoryRow

# The fields of a Story, in the order `stories.story_from` reads them.
STORY_FIELDS = (
    StoryRow.id,
    StoryRow.title,
    StoryRow.body,
    StoryRow.image_generation_prompt,
    StoryRow.storage,
    StoryRow.portrait_status,
    StoryRow.portrait_error,
    StoryRow.portrait_credits,
    StoryRow.created_at,
    StoryRow.updated_at,
)
STORY_COLUMNS = ", ".join(field.column_name for field in STORY_FIELDS)


@dataclass(frozen=True, slots=True)
class HotStatements:
    """The hot statements' SQL text, in one database's dialect."""

    insert_story: str
    get_story: str
    insert_file: str
    # Claim the oldest pending portrait, or (with one more parameter) a given story's.
    claim_oldest: str
    claim_story: str
    # The oldest pending portrait whose prompt is blank (it needs no Recraft call).
    claim_blank: str
    # Settle a claimed portrait: only if the attempt still holds the claim; a stored one
    # takes the credits Recraft's answer reported.
    settle: str


def statements(db: Database) -> HotStatements:
    """The hot statements in `db`'s dialect."""
    return _written(db.param, isinstance(db, SqliteDatabase))


@functools.cache
def _written(p: str, sqlite: bool) -> HotStatements:
    # SQLite has a single writer, which serialises claims by itself; PostgreSQL skips the
    # rows another instance is claiming instead of waiting for them.
    skip_locked = "" if sqlite else " FOR UPDATE SKIP LOCKED"
    # `id = (subquery)`, not `id IN (subquery)`: PostgreSQL may run an IN subquery once
    # per row it scans, and claim many rows with one statement.
    claim = (
        f"UPDATE stories SET portrait_status = {p}, portrait_error = NULL, "
        "portrait_attempt = portrait_attempt + 1, "
        f"portrait_started_at = {p}, portrait_owner = {p}, portrait_lease_until = {p}, "
        f"updated_at = {p} "
        f"WHERE id = (SELECT id FROM stories WHERE portrait_status = {p}{{story}} "
        f"ORDER BY created_at, id LIMIT 1{skip_locked}) AND portrait_status = {p} "
        "RETURNING id, image_generation_prompt, portrait_attempt, storage_id"
    )
    insert_story = (
        "INSERT INTO stories (id, title, body, image_generation_prompt, portrait_status, "
        "portrait_attempt, created_at, updated_at) "
        f"VALUES ({p}, {p}, {p}, {p}, {p}, 0, {p}, {p})"
    )
    return HotStatements(
        insert_story=insert_story if sqlite else notifying(insert_story),
        get_story=f"SELECT {STORY_COLUMNS} FROM stories WHERE id = {p}",
        insert_file=(
            "INSERT INTO stored_files (id, sha256, size, content_type, created_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})"
        ),
        claim_oldest=claim.format(story=""),
        claim_story=claim.format(story=f" AND id = {p}"),
        claim_blank=claim.format(
            story=f" AND {'trim' if sqlite else 'btrim'}(image_generation_prompt, {p}) = ''"
        ),
        # A failure keeps the portrait a regeneration would have replaced (storage NULL).
        settle=(
            f"UPDATE stories SET portrait_status = {p}, portrait_error = {p}, "
            f"storage_id = COALESCE({p}, storage_id), updated_at = {p}, "
            f"portrait_credits = CASE WHEN {p} THEN {p} ELSE portrait_credits END "
            f"WHERE id = {p} AND portrait_attempt = {p} AND portrait_status = {p}"
        ),
    )


def notifying(insert: str) -> str:
    """PostgreSQL: the insert, and a NOTIFY to every listening instance, in one statement
    (`notify.py`); the notification is delivered at commit."""
    return f"WITH inserted AS ({insert} RETURNING id) SELECT pg_notify('vignette_pending', '')"


def run(db: Database, sql: str, params: Sequence[Any]) -> Any:
    """Run one of the hot statements on this thread's connection; return the cursor."""
    return db.execute_sql(sql, params)  # type: ignore[no-untyped-call]
