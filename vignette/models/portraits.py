"""Portrait transitions: claims, leases, outcomes, and failing the portraits left behind.

Every transition is one conditional statement, so the database, not any mailbox, says
which portraits are owed: a `pending` row is a durable schedule, a claim moves it to
`generating` exactly once, and a worker's outcome lands only if its attempt still holds
the claim. Functions that fail portraits return the ids of the stories they changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from peewee import Database

from vignette.models import counts, instances
from vignette.models.deadlines import check_deadline
from vignette.models.files import get_file, insert_file
from vignette.models.sql import run, statements
from vignette.models.tables import StoryRow, db_time, utc_now
from vignette.records import FileInfo, PortraitJob, PortraitStatus

# What `str.strip()` removes, for the blank-prompt claim.
BLANK = " \t\n\r\f\v"


def claim_portrait(
    db: Database,
    story_id: str | None = None,
    owner: str = "",
    lease_s: float = 60.0,
    deadline: float | None = None,
    blank_only: bool = False,
) -> PortraitJob | None:
    """Claim the oldest `pending` portrait (or that story's; or, with `blank_only`, the
    oldest whose prompt is blank, which needs no Recraft call), for `owner`, with a lease.

    One statement moves it to `generating` and counts the attempt, so a portrait is
    claimed once however many instances ask. On PostgreSQL, rows another instance is
    claiming are skipped (`FOR UPDATE SKIP LOCKED`), not waited for; SQLite has a
    single writer, which serialises claims by itself. None when nothing is pending.
    """
    check_deadline(deadline, "claiming a portrait")
    sql = statements(db)
    now = utc_now()
    values = [
        PortraitStatus.GENERATING.value,
        db_time(now),
        owner,
        db_time(now + timedelta(seconds=lease_s)),
        db_time(now),
        PortraitStatus.PENDING.value,
    ]
    if blank_only:
        statement = sql.claim_blank
        values.append(BLANK)
    elif story_id is None:
        statement = sql.claim_oldest
    else:
        statement = sql.claim_story
        values.append(story_id)
    values.append(PortraitStatus.PENDING.value)
    row = run(db, statement, values).fetchone()
    if row is None:
        return None
    claimed_id, prompt, attempt, replaces = row
    return PortraitJob(claimed_id, prompt, attempt, replaces)


def store_portrait(
    db: Database,
    job: PortraitJob,
    sha256: str,
    size: int,
    content_type: str,
    deadline: float | None = None,
) -> FileInfo | None:
    """Record a stored image's row and settle the story on it (the seed's store and
    updateStoryImage), in one transaction; None, and no row, if the claim is gone.

    Safe to try again after an error that left unknown whether it committed: if this
    attempt already stored the story, its file row comes back.
    """
    check_deadline(deadline, "storing a portrait")
    with db.atomic() as transaction:
        info = insert_file(db, sha256, size, content_type)
        if not _settle(db, job, PortraitStatus.STORED, None, info.id):
            transaction.rollback()
            return _stored_by(job)
        check_deadline(deadline, "storing a portrait")  # raising rolls the transaction back
    return info


def _stored_by(job: PortraitJob) -> FileInfo | None:
    """The file row of the story `job`'s attempt stored already, if it did."""
    row = (
        StoryRow.select(StoryRow.storage)
        .where(
            (StoryRow.id == job.story_id)
            & (StoryRow.portrait_attempt == job.attempt)
            & (StoryRow.portrait_status == PortraitStatus.STORED)
        )
        .tuples()
        .first()
    )
    return None if row is None or row[0] is None else get_file(str(row[0]))


def unclaim(job: PortraitJob) -> bool:
    """Give back a claim no worker received (pending again, no call made); False if gone."""
    return bool(
        StoryRow.update(portrait_status=PortraitStatus.PENDING, portrait_owner=None)
        .where(
            (StoryRow.id == job.story_id)
            & (StoryRow.portrait_attempt == job.attempt)
            & (StoryRow.portrait_status == PortraitStatus.GENERATING)
        )
        .execute()
    )


def fail_portrait(
    db: Database,
    job: PortraitJob,
    status: PortraitStatus,
    error: str,
    deadline: float | None = None,
) -> bool:
    """Record a failed or skipped portrait; False if the claim is gone."""
    check_deadline(deadline, "recording a portrait's failure")
    return _settle(db, job, status, error)


def _settle(
    db: Database,
    job: PortraitJob,
    status: PortraitStatus,
    error: str | None,
    storage_id: str | None = None,
) -> bool:
    values = (
        status.value,
        error,
        storage_id,
        db_time(utc_now()),
        status is PortraitStatus.STORED,
        job.credits,
        job.story_id,
        job.attempt,
        PortraitStatus.GENERATING.value,
    )
    return bool(run(db, statements(db).settle, values).rowcount)


def renew_leases(owner: str, lease_s: float) -> int:
    """Extend the leases of the portraits `owner` is generating; return how many."""
    return int(
        StoryRow.update(portrait_lease_until=utc_now() + timedelta(seconds=lease_s))
        .where(
            (StoryRow.portrait_owner == owner)
            & (StoryRow.portrait_status == PortraitStatus.GENERATING)
        )
        .execute()
    )


def expire_leases(db: Database, error: str) -> list[str]:
    """Fail portraits whose claim's lease ran out, or whose owner's heartbeat expired."""
    return _fail_generating_where(_lease_expired(db), error)


def count_expired_leases(db: Database) -> int:
    """How many `generating` portraits `expire_leases` would fail now; changes nothing."""
    stale = _lease_expired(db) & (StoryRow.portrait_status == PortraitStatus.GENERATING)
    return int(StoryRow.select().where(stale).count())


def _lease_expired(db: Database) -> Any:
    return (
        StoryRow.portrait_lease_until.is_null()
        | (StoryRow.portrait_lease_until < utc_now())
        | StoryRow.portrait_owner.in_(instances.expired(db))
    )


def fail_orphans(owner: str, held: Iterable[str], error: str) -> list[str]:
    """Fail `owner`'s `generating` portraits other than the `held` ones."""
    condition = StoryRow.portrait_owner == owner
    kept = list(held)
    if kept:
        condition &= StoryRow.id.not_in(kept)
    return _fail_generating_where(condition, error)


def count_pending() -> int:
    return counts.by_status()[PortraitStatus.PENDING]


def fail_generating(error: str, started_before: datetime | None = None) -> list[str]:
    """Fail every `generating` portrait (those started before a moment, if given)."""
    condition = StoryRow.id.is_null(False)
    if started_before is not None:
        if started_before.tzinfo is not None:  # the table holds naive UTC times
            started_before = started_before.astimezone(UTC).replace(tzinfo=None)
        condition = StoryRow.portrait_started_at < started_before
    return _fail_generating_where(condition, error)


def fail_stale(error: str, older_than_s: float) -> list[str]:
    """Fail portraits that have been `generating` for longer than `older_than_s`."""
    return fail_generating(error, datetime.now(UTC) - timedelta(seconds=older_than_s))


def _fail_generating_where(condition: Any, error: str) -> list[str]:
    rows = (
        StoryRow.update(
            portrait_status=PortraitStatus.FAILED, portrait_error=error, updated_at=utc_now()
        )
        .where(condition & (StoryRow.portrait_status == PortraitStatus.GENERATING))
        .returning(StoryRow.id)
        .execute()
    )
    return [row.id for row in rows]
