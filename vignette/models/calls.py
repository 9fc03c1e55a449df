"""The call ledger's reads and upkeep: calls and credits by hour and day (`vignette
status`), and forgetting calls that are old or were never sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from peewee import Database

from vignette.models.ledger import BUDGET_WINDOW_S, clock_now
from vignette.models.notify import notify_pending
from vignette.models.sql import run
from vignette.models.tables import db_time
from vignette.records import PortraitJob

DAY_S = 86_400.0
# Ledger rows older than this are removed (at housekeeping ticks), so the table stays small.
KEEP_CALLS_S = 7 * DAY_S


@dataclass(frozen=True, slots=True)
class Usage:
    """Recraft calls recorded, and the credits their answers reported, for every instance."""

    calls_hour: int
    credits_hour: int
    calls_day: int
    credits_day: int


def usage(db: Database) -> Usage:
    """Calls recorded and credits reported in the last hour and the last day."""
    now = clock_now(db, lock=False)
    p = db.param
    sums = []
    for window_s in (BUDGET_WINDOW_S, DAY_S):
        calls, credits = run(
            db,
            f"SELECT COUNT(*), COALESCE(SUM(credits), 0) FROM recraft_calls WHERE sent_at > {p}",
            (db_time(now - timedelta(seconds=window_s)),),
        ).fetchone()
        sums += [int(calls), int(credits)]
    return Usage(*sums)


def forget_old_calls(db: Database) -> int:
    """Remove ledger rows older than `KEEP_CALLS_S`; return how many."""
    p = db.param
    cutoff = clock_now(db, lock=False) - timedelta(seconds=KEEP_CALLS_S)
    sql = f"DELETE FROM recraft_calls WHERE sent_at < {p}"
    return int(run(db, sql, (db_time(cutoff),)).rowcount)


def forget_unsent(db: Database, job: PortraitJob) -> bool:
    """Remove the first call recorded with a claim that was given back before any worker
    took it (no request was sent), and tell the listening instances it is pending again."""
    p = db.param
    sql = (
        f"DELETE FROM recraft_calls WHERE story_id = {p} AND attempt = {p} "
        "AND call_number = 1 AND outcome IS NULL"
    )
    forgotten = bool(run(db, sql, (job.story_id, job.attempt)).rowcount)
    notify_pending(db)
    return forgotten
