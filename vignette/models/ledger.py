"""The Recraft call ledger and the holds every instance respects.

Every Recraft generation call (a claim's first request or a retry) is recorded in
`recraft_calls` before it is sent, in the transaction that decides it may be sent: the
per-minute rate limit and the hourly budget are counted from these rows over their windows,
so they hold for every instance on the database and across restarts. On PostgreSQL the
check-and-record is serialised by a transaction-level advisory lock; SQLite's IMMEDIATE
transaction (its single writer) serialises it by itself. Times are the database's own, so
the clocks of the machines sharing it never need to agree.

`recraft_holds` holds pauses asked for by Recraft: a 429's Retry-After (until a time) and a
402 "not enough credits" (until an operator clears it, `vignette holds clear`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from peewee import Database, SqliteDatabase

from vignette.models import portraits
from vignette.models.deadlines import check_deadline
from vignette.models.sql import run
from vignette.models.tables import aware, db_time, new_id, python_time
from vignette.records import PortraitJob, PortraitStatus

# The advisory lock every instance takes to check and record a call (an arbitrary key).
LEDGER_LOCK_KEY = 0x5649474E
RATE_WINDOW_S = 60.0
BUDGET_WINDOW_S = 3600.0


class HoldReason(StrEnum):
    RATE_LIMIT = "rate_limit"
    BUDGET = "budget"
    RETRY_AFTER = "retry_after"
    NOT_ENOUGH_CREDITS = "not_enough_credits"
    CLAIM_LOST = "claim_lost"


@dataclass(frozen=True, slots=True)
class Limits:
    """`portraits.rate_limit_per_minute` and `portraits.max_calls_per_hour` (0: no cap)."""

    per_minute: int
    per_hour: int = 0


@dataclass(frozen=True, slots=True)
class Held:
    """Why no Recraft call may start now, and for how long (None: until an operator
    clears it); `until` is by the database's clock."""

    reason: HoldReason
    detail: str
    wait_s: float | None
    until: datetime | None


def clock_now(db: Database, lock: bool) -> datetime:
    """The database's current UTC time (naive); with `lock`, after taking the ledger's lock."""
    if isinstance(db, SqliteDatabase):
        text = run(db, "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')", ()).fetchone()[0]
        return datetime.fromisoformat(text)
    if lock:
        run(db, "SELECT pg_advisory_xact_lock(%s)", (LEDGER_LOCK_KEY,))
    moment: datetime = run(db, "SELECT clock_timestamp() AT TIME ZONE 'UTC'", ()).fetchone()[0]
    return moment


def _naive(value: Any) -> datetime:
    return python_time(value).replace(tzinfo=None)


def _window_full(
    db: Database, now: datetime, limit: int, window_s: float
) -> tuple[float, datetime] | None:
    """(seconds to wait, until) if `limit` calls were recorded in the last `window_s`."""
    p = db.param
    row = run(
        db,
        f"SELECT sent_at FROM recraft_calls WHERE sent_at > {p} "
        f"ORDER BY sent_at DESC LIMIT 1 OFFSET {p}",
        (db_time(now - timedelta(seconds=window_s)), limit - 1),
    ).fetchone()
    if row is None:
        return None
    until = _naive(row[0]) + timedelta(seconds=window_s)
    return max(0.001, (until - now).total_seconds()), until


def _holds(db: Database, now: datetime, limits: Limits | None) -> list[Held]:
    """Everything holding calls back at `now`: holds asked for by Recraft, then the windows."""
    p = db.param
    held = []
    rows = run(
        db,
        f"SELECT kind, until, detail FROM recraft_holds WHERE until IS NULL OR until > {p}",
        (db_time(now),),
    ).fetchall()
    for kind, until, detail in rows:
        end = None if until is None else _naive(until)
        wait = None if end is None else (end - now).total_seconds()
        held.append(Held(HoldReason(kind), detail, wait, None if end is None else aware(end)))
    if limits is None:
        return held
    windows = [(HoldReason.RATE_LIMIT, limits.per_minute, RATE_WINDOW_S)]
    if limits.per_hour:
        windows.append((HoldReason.BUDGET, limits.per_hour, BUDGET_WINDOW_S))
    for reason, limit, window_s in windows:
        full = _window_full(db, now, limit, window_s)
        if full is not None:
            setting = (
                "rate_limit_per_minute"
                if reason is HoldReason.RATE_LIMIT
                else ("max_calls_per_hour")
            )
            detail = (
                f"{limit} Recraft calls in the last {window_s / 60:g} min, by every instance "
                f"(portraits.{setting} = {limit})"
            )
            held.append(Held(reason, detail, full[0], aware(full[1])))
    return held


def _longest(held: list[Held]) -> Held | None:
    if not held:
        return None
    return max(held, key=lambda h: float("inf") if h.wait_s is None else h.wait_s)


def _record(
    db: Database, story_id: str, attempt: int, call: int, owner: str, now: datetime
) -> None:
    p = db.param
    run(
        db,
        "INSERT INTO recraft_calls (id, story_id, attempt, call_number, instance, sent_at) "
        f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
        (new_id(), story_id, attempt, call, owner, db_time(now)),
    )


def claim_within_limits(
    db: Database,
    limits: Limits,
    owner: str,
    lease_s: float,
    record_call: bool = True,
    deadline: float | None = None,
) -> PortraitJob | Held | None:
    """Claim the oldest pending portrait if no hold, rate limit or budget stops it, and
    record its first Recraft call, all in one transaction. Without `record_call` (no API
    key: no call will be made) the limits do not apply; while a hold is in place, only a
    blank prompt (no call either) is claimed. `Held` says why not; None: none pending."""
    check_deadline(deadline, "claiming a portrait")
    with db.atomic():
        now = clock_now(db, lock=record_call)
        held = _longest(_holds(db, now, limits)) if record_call else None
        # While calls are held, a portrait whose prompt is blank is still settled (skipped).
        job = portraits.claim_portrait(
            db, owner=owner, lease_s=lease_s, blank_only=held is not None
        )
        if job is None and held is not None:
            return held
        if job is not None and record_call and job.prompt.strip():
            _record(db, job.story_id, job.attempt, 1, owner, now)
        check_deadline(deadline, "claiming a portrait")  # raising rolls it all back
    return job


def admit_call(
    db: Database,
    job: PortraitJob,
    call: int,
    owner: str,
    limits: Limits,
    deadline: float | None = None,
) -> Held | None:
    """Record call number `call` (a retry) of `job`'s claim if the limits allow it and the
    claim is still held; otherwise say why not (nothing recorded)."""
    check_deadline(deadline, "recording a Recraft call")
    p = db.param
    with db.atomic():
        now = clock_now(db, lock=True)
        held = _longest(_holds(db, now, limits))
        if held is not None:
            return held
        holding = run(
            db,
            f"SELECT 1 FROM stories WHERE id = {p} AND portrait_attempt = {p} "
            f"AND portrait_status = {p}",
            (job.story_id, job.attempt, PortraitStatus.GENERATING.value),
        ).fetchone()
        if holding is None:
            return Held(HoldReason.CLAIM_LOST, "the story's claim is gone", None, None)
        _record(db, job.story_id, job.attempt, call, owner, now)
        check_deadline(deadline, "recording a Recraft call")
    return None


def record_outcome(
    db: Database, job: PortraitJob, call: int, outcome: str, credits: int | None
) -> bool:
    """Write what a recorded call came to (`ok`, `http_500`, `error`...) and its credits."""
    p = db.param
    cursor = run(
        db,
        f"UPDATE recraft_calls SET outcome = {p}, credits = {p} "
        f"WHERE story_id = {p} AND attempt = {p} AND call_number = {p}",
        (outcome[:32], credits, job.story_id, job.attempt, call),
    )
    return bool(cursor.rowcount)


def set_hold(
    db: Database, reason: HoldReason, hold_s: float | None, detail: str, owner: str
) -> Held:
    """Hold every instance's calls for `hold_s` seconds (None: until cleared); a hold of the
    same kind already in place lasts until the later of the two ends."""
    p = db.param
    with db.atomic():
        now = clock_now(db, lock=False)
        until = None if hold_s is None else now + timedelta(seconds=hold_s)
        run(
            db,
            "INSERT INTO recraft_holds (kind, until, detail, set_by, set_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (kind) DO UPDATE SET "
            "until = CASE WHEN recraft_holds.until > excluded.until "
            "THEN recraft_holds.until ELSE excluded.until END, "
            "detail = excluded.detail, set_by = excluded.set_by, set_at = excluded.set_at",
            (
                reason.value,
                None if until is None else db_time(until),
                detail,
                owner,
                db_time(now),
            ),
        )
    return Held(reason, detail, hold_s, None if until is None else aware(until))


def clear_holds(db: Database, reason: HoldReason | None = None) -> int:
    """Remove the holds Recraft asked for (of one kind, or all); return how many."""
    p = db.param
    if reason is None:
        return int(run(db, "DELETE FROM recraft_holds", ()).rowcount)
    return int(run(db, f"DELETE FROM recraft_holds WHERE kind = {p}", (reason.value,)).rowcount)


def holds(db: Database, limits: Limits | None) -> list[Held]:
    """Everything holding Recraft calls back now, for every instance (reads only)."""
    return _holds(db, clock_now(db, lock=False), limits)
