"""Stories by portrait state and by failure code, kept up to date by the database itself.

Counting a million rows, even over an index, takes a fraction of a second; the gallery,
`status` and the housekeeping tick ask for the counts all the time. So `story_counts` holds
them (`failure_counts` the codes of `portrait_error`, for `status`), and triggers on
`stories` change them inside the statement that changes a story: every insert, claim,
settle, reschedule, delete and sweep, whichever code runs it, in its own transaction, and
rolled back with it. No statement of Vignette's has to remember to.

SQLite has one writer at a time: one row. On PostgreSQL one row for everybody would make
every writer wait for the previous one's commit, so the counts are spread over `SHARDS`
rows: a connection updates the row of its backend's process id, and a read sums them.
A statement-level trigger (with transition tables) updates its row once per statement,
whatever the number of rows the statement changed, and not at all when no state changed
(lease renewals). Each transaction touches one counter row, so counters add no deadlock.

The counts are built once, from the stories themselves, when the table is new or empty,
in the migration's transaction, after the triggers are in place (on PostgreSQL creating a
trigger locks out writers until that transaction commits, so no change is missed).
"""

from __future__ import annotations

from typing import cast

from peewee import Database, SqliteDatabase, fn

from vignette.models.tables import FailureCountRow, StoryCountRow, StoryRow
from vignette.records import PortraitStatus

SHARDS = 16
STATES = [status.value for status in PortraitStatus]


def install(db: Database) -> None:
    """Create the triggers and build the counts, if the counts table is empty. Run in the
    migration's transaction."""
    if StoryCountRow.select().exists():
        return
    sqlite = isinstance(db, SqliteDatabase)
    if not sqlite:
        # Counting a large table once may take longer than a statement may otherwise.
        db.execute_sql("SET LOCAL statement_timeout = 0")  # type: ignore[no-untyped-call]
    for statement in _sqlite_triggers() if sqlite else _postgres_triggers():
        db.execute_sql(statement)  # type: ignore[no-untyped-call]
    shards = 1 if sqlite else SHARDS
    rows = [{"shard": shard, **dict.fromkeys(STATES, 0)} for shard in range(shards)]
    query = StoryRow.select(StoryRow.portrait_status, fn.COUNT(StoryRow.id))
    found = cast("list[tuple[str, int]]", list(query.group_by(StoryRow.portrait_status).tuples()))
    for status, count in found:
        rows[0][status] = count
    StoryCountRow.insert_many(rows).execute()
    code = _code(sqlite, "portrait_error")
    FailureCountRow.delete().execute()
    db.execute_sql(  # type: ignore[no-untyped-call]
        "INSERT INTO failure_counts (code, shard, stories) "
        f"SELECT {code}, 0, COUNT(*) FROM stories WHERE portrait_error IS NOT NULL GROUP BY 1"
    )


def by_status() -> dict[PortraitStatus, int]:
    """How many stories are in each portrait state: a sum over at most `SHARDS` rows."""
    sums = [fn.COALESCE(fn.SUM(getattr(StoryCountRow, state)), 0) for state in STATES]
    row = StoryCountRow.select(*sums).tuples().first() or (0,) * len(STATES)
    return {PortraitStatus(state): int(count) for state, count in zip(STATES, row, strict=True)}


def failures_by_code() -> dict[str, int]:
    """How many stories carry each error code: a sum over a few rows per code."""
    total = fn.SUM(FailureCountRow.stories)
    query = (
        FailureCountRow.select(FailureCountRow.code, total)
        .group_by(FailureCountRow.code)
        .having(total > 0)
    )
    rows = cast("list[tuple[str, int]]", list(query.tuples()))
    return {code: int(count) for code, count in rows}


def _code(sqlite: bool, error: str) -> str:
    """SQL for the code of an error message: the text before its first colon."""
    if sqlite:
        return f"substr({error}, 1, instr({error} || ':', ':') - 1)"
    return f"split_part({error}, ':', 1)"


def _sqlite_triggers() -> list[str]:
    def change(sign: str, row: str) -> str:
        return ", ".join(f"{s} = {s} {sign} ({row}.portrait_status = '{s}')" for s in STATES)

    def both() -> str:
        return ", ".join(
            f"{s} = {s} + (NEW.portrait_status = '{s}') - (OLD.portrait_status = '{s}')"
            for s in STATES
        )

    def add(row: str) -> str:
        # `WHERE` before `ON CONFLICT`: SQLite's parser needs it after a SELECT.
        return (
            f"INSERT INTO failure_counts (code, shard, stories) "
            f"SELECT {_code(True, f'{row}.portrait_error')}, 0, 1 "
            f"WHERE {row}.portrait_error IS NOT NULL "
            "ON CONFLICT (code, shard) DO UPDATE SET stories = stories + 1;"
        )

    def remove(row: str) -> str:
        return (
            "UPDATE failure_counts SET stories = stories - 1 "
            f"WHERE {row}.portrait_error IS NOT NULL "
            f"AND code = {_code(True, f'{row}.portrait_error')} AND shard = 0;"
        )

    return [
        "CREATE TRIGGER IF NOT EXISTS story_counts_insert AFTER INSERT ON stories BEGIN "
        f"UPDATE story_counts SET {change('+', 'NEW')} WHERE shard = 0; {add('NEW')} END",
        "CREATE TRIGGER IF NOT EXISTS story_counts_update "
        "AFTER UPDATE OF portrait_status ON stories "
        "WHEN OLD.portrait_status IS NOT NEW.portrait_status BEGIN "
        f"UPDATE story_counts SET {both()} WHERE shard = 0; END",
        "CREATE TRIGGER IF NOT EXISTS failure_counts_update "
        "AFTER UPDATE OF portrait_error ON stories "
        "WHEN OLD.portrait_error IS NOT NEW.portrait_error BEGIN "
        f"{remove('OLD')} {add('NEW')} END",
        "CREATE TRIGGER IF NOT EXISTS story_counts_delete AFTER DELETE ON stories BEGIN "
        f"UPDATE story_counts SET {change('-', 'OLD')} WHERE shard = 0; {remove('OLD')} END",
    ]


def _postgres_triggers() -> list[str]:
    def apply(changes: str) -> str:
        sums = ", ".join(f"COALESCE(SUM(k) FILTER (WHERE s = '{s}'), 0) AS {s}" for s in STATES)
        moved = " OR ".join(f"d.{s} <> 0" for s in STATES)
        # Codes in a fixed order: two statements on one shard lock its rows alike.
        return (
            f"UPDATE story_counts c SET {', '.join(f'{s} = c.{s} + d.{s}' for s in STATES)} "
            f"FROM (SELECT {sums} FROM ({changes}) t) d "
            f"WHERE c.shard = mod(pg_backend_pid(), {SHARDS}) AND ({moved}); "
            "INSERT INTO failure_counts AS f (code, shard, stories) "
            f"SELECT code, mod(pg_backend_pid(), {SHARDS}), SUM(k) FROM ({changes}) t "
            "WHERE code IS NOT NULL GROUP BY code HAVING SUM(k) <> 0 ORDER BY code "
            "ON CONFLICT (code, shard) DO UPDATE SET stories = f.stories + EXCLUDED.stories;"
        )

    code = _code(False, "portrait_error")
    new = f"SELECT portrait_status AS s, {code} AS code, 1 AS k FROM new_rows"
    old = f"SELECT portrait_status AS s, {code} AS code, -1 AS k FROM old_rows"
    function = (
        "CREATE OR REPLACE FUNCTION story_counts_apply() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN {apply(new)} "
        f"ELSIF TG_OP = 'DELETE' THEN {apply(old)} "
        f"ELSE {apply(f'{new} UNION ALL {old}')} END IF; "
        "RETURN NULL; END $$"
    )
    statements = [function]
    for event, tables in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        name = f"story_counts_{event.lower()}"
        statements += [
            f"DROP TRIGGER IF EXISTS {name} ON stories",
            f"CREATE TRIGGER {name} AFTER {event} ON stories REFERENCING {tables} "
            "FOR EACH STATEMENT EXECUTE FUNCTION story_counts_apply()",
        ]
    return statements
