"""DocumentActor: the only code that reads or writes the database.

Every portrait transition is one conditional statement, so the database, not any mailbox,
says which portraits are owed: a `pending` row is a durable schedule, a claim moves it to
`generating` exactly once, and a worker's outcome lands only if its attempt still holds
the claim.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import pykka
from peewee import Database, InterfaceError, OperationalError, SqliteDatabase, fn
from playhouse.pool import PooledDatabase
from pykka.typing import ActorMemberMixin, proxy_method

from vignette.errors import PortraitConflict, StoryNotFound
from vignette.models import StoredFile, StoryRow, utc_now
from vignette.records import FileInfo, PortraitJob, PortraitStatus, Story, StoryDraft

T = TypeVar("T")


def new_id() -> str:
    """An opaque id that sorts by creation time: 16 hex digits of nanoseconds, 16 random."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


def _story(row: StoryRow) -> Story:
    return Story(
        id=row.id,
        title=row.title,
        body=row.body,
        image_generation_prompt=row.image_generation_prompt,
        storage_id=row.storage_id,
        portrait_status=PortraitStatus(row.portrait_status),
        portrait_error=row.portrait_error,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


def _file(row: StoredFile) -> FileInfo:
    return FileInfo(
        id=row.id,
        sha256=row.sha256,
        size=row.size,
        content_type=row.content_type,
        created_at=_aware(row.created_at),
    )


# The columns of a Story, in the order the hand-written statements below read them.
STORY_COLUMNS = (
    "id, title, body, image_generation_prompt, storage_id, portrait_status, portrait_error, "
    "created_at, updated_at"
)


class HotStatements:
    """The statements every story and portrait runs, written once for the database's dialect.

    Building a statement with peewee's query builder takes 0.2-0.4 ms of CPU, four to eight
    times what SQLite then takes to run it, and the DocumentActor runs every statement of
    the process one at a time. These five are therefore kept as SQL text with parameters;
    values go through the model fields' `db_value` and `python_value`, as peewee's own
    queries do. Everything else uses the query builder.
    """

    def __init__(self, db: Database) -> None:
        p = db.param
        skip_locked = "" if isinstance(db, SqliteDatabase) else " FOR UPDATE SKIP LOCKED"
        self.insert_story = (
            "INSERT INTO stories (id, title, body, image_generation_prompt, portrait_status, "
            "portrait_attempt, created_at, updated_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, 0, {p}, {p})"
        )
        self.get_story = f"SELECT {STORY_COLUMNS} FROM stories WHERE id = {p}"
        self.insert_file = (
            "INSERT INTO stored_files (id, sha256, size, content_type, created_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})"
        )
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
        self.claim_oldest = claim.format(story="")
        self.claim_story = claim.format(story=f" AND id = {p}")
        # A failure keeps the portrait a regeneration would have replaced (storage NULL).
        self.settle = (
            f"UPDATE stories SET portrait_status = {p}, portrait_error = {p}, "
            f"storage_id = COALESCE({p}, storage_id), updated_at = {p} "
            f"WHERE id = {p} AND portrait_attempt = {p} AND portrait_status = {p}"
        )


def _story_from(values: Sequence[Any]) -> Story:
    """A Story from a row read with `STORY_COLUMNS`."""
    story_id, title, body, prompt, storage_id, status, error, created, updated = values
    return Story(
        id=story_id,
        title=title,
        body=body,
        image_generation_prompt=prompt,
        storage_id=storage_id,
        portrait_status=PortraitStatus(status),
        portrait_error=error,
        created_at=_python_time(created),
        updated_at=_python_time(updated),
    )


def _db_time(moment: datetime) -> Any:
    """A naive UTC time as peewee hands it to the driver."""
    return StoryRow.updated_at.db_value(moment)  # type: ignore[no-untyped-call]


def _python_time(value: Any) -> datetime:
    """A time column's value (text on SQLite), as an aware UTC datetime."""
    moment: datetime = StoryRow.updated_at.python_value(value)  # type: ignore[no-untyped-call]
    return _aware(moment)


class DocumentActor(pykka.ThreadingActor):
    def __init__(
        self, db: Database, on_change: Callable[[Sequence[str]], None] = lambda ids: None
    ) -> None:
        super().__init__()
        self._db = db
        self._on_change = on_change
        self._sql = HotStatements(db)

    def on_start(self) -> None:
        self._db.connect(reuse_if_open=True)

    def on_stop(self) -> None:
        self._db.close()

    def _execute(self, sql: str, params: Sequence[Any]) -> Any:
        """Run one of the `HotStatements`; return the driver's cursor."""
        return self._db.execute_sql(sql, params)  # type: ignore[no-untyped-call]

    def _reset_connection(self) -> None:
        """Close this thread's connection (out of the pool, if pooled): the next call reconnects."""
        with contextlib.suppress(Exception):
            if isinstance(self._db, PooledDatabase):
                self._db.manual_close()
            else:
                self._db.close()

    # Stories ------------------------------------------------------------------------------

    def insert_story(self, draft: StoryDraft) -> Story:
        """Insert a story with its portrait `pending`: the row is the portrait's schedule."""
        now = utc_now()
        story = Story(
            id=new_id(),
            title=draft.title,
            body=draft.body,
            image_generation_prompt=draft.image_generation_prompt,
            storage_id=None,
            portrait_status=PortraitStatus.PENDING,
            portrait_error=None,
            created_at=_aware(now),
            updated_at=_aware(now),
        )
        stamp = _db_time(now)
        values = (story.id, story.title, story.body, story.image_generation_prompt)
        self._execute(self._sql.insert_story, (*values, PortraitStatus.PENDING.value, stamp, stamp))
        self._on_change([story.id])
        return story

    def get_story(self, story_id: str) -> Story | None:
        row = self._execute(self._sql.get_story, (story_id,)).fetchone()
        return None if row is None else _story_from(row)

    def list_stories(self, status: PortraitStatus | None = None, limit: int = 50) -> list[Story]:
        query = StoryRow.select().order_by(StoryRow.created_at.desc(), StoryRow.id.desc())
        if status is not None:
            query = query.where(StoryRow.portrait_status == status)
        return [_story(row) for row in query.limit(limit)]

    def count_by_status(self) -> dict[PortraitStatus, int]:
        query = StoryRow.select(StoryRow.portrait_status, fn.COUNT(StoryRow.id))
        counts = {status: 0 for status in PortraitStatus}
        rows = cast(
            "list[tuple[str, int]]", list(query.group_by(StoryRow.portrait_status).tuples())
        )
        for status, count in rows:
            counts[PortraitStatus(status)] = count
        return counts

    def count_failures_by_code(self) -> dict[str, int]:
        """How many failed or skipped portraits carry each error code."""
        query = StoryRow.select(StoryRow.portrait_error).where(
            StoryRow.portrait_error.is_null(False)
        )
        counts: dict[str, int] = {}
        for (error,) in query.tuples().iterator():
            code = error.partition(":")[0]
            counts[code] = counts.get(code, 0) + 1
        return counts

    def delete_story(self, story_id: str) -> str | None:
        """Delete a story; return the storage id its portrait had, if any."""
        with self._db.atomic():
            row = StoryRow.get_or_none(StoryRow.id == story_id)
            if row is None:
                raise StoryNotFound(story_id)
            row.delete_instance()
        self._on_change([story_id])
        return row.storage_id

    # Portrait transitions -----------------------------------------------------------------

    def claim_portrait(
        self, story_id: str | None = None, owner: str = "", lease_s: float = 60.0
    ) -> PortraitJob | None:
        """Claim the oldest `pending` portrait (or that story's), for `owner`, with a lease.

        One statement moves it to `generating` and counts the attempt, so a portrait is
        claimed once however many instances ask. On PostgreSQL, rows another instance is
        claiming are skipped (`FOR UPDATE SKIP LOCKED`), not waited for; SQLite has a
        single writer, which serialises claims by itself. None when nothing is pending.
        """
        now = utc_now()
        values = [
            PortraitStatus.GENERATING.value,
            _db_time(now),
            owner,
            _db_time(now + timedelta(seconds=lease_s)),
            _db_time(now),
            PortraitStatus.PENDING.value,
        ]
        if story_id is None:
            sql = self._sql.claim_oldest
        else:
            sql = self._sql.claim_story
            values.append(story_id)
        values.append(PortraitStatus.PENDING.value)
        row = self._execute(sql, values).fetchone()
        if row is None:
            return None
        claimed_id, prompt, attempt, replaces = row
        self._on_change([claimed_id])
        return PortraitJob(claimed_id, prompt, attempt, replaces)

    def renew_leases(self, owner: str, lease_s: float) -> int:
        """Extend the leases of the portraits `owner` is generating; return how many."""
        return int(
            StoryRow.update(portrait_lease_until=utc_now() + timedelta(seconds=lease_s))
            .where(
                (StoryRow.portrait_owner == owner)
                & (StoryRow.portrait_status == PortraitStatus.GENERATING)
            )
            .execute()
        )

    def expire_leases(self, error: str, dead_owners: Iterable[str] = ()) -> list[str]:
        """Fail portraits whose claim's lease ran out, or whose owner is known dead."""
        condition = StoryRow.portrait_lease_until.is_null() | (
            StoryRow.portrait_lease_until < utc_now()
        )
        dead = list(dead_owners)
        if dead:
            condition |= StoryRow.portrait_owner.in_(dead)
        return self._fail_generating_where(condition, error)

    def generating_owners(self) -> list[str]:
        """The instances holding `generating` portraits."""
        query = (
            StoryRow.select(StoryRow.portrait_owner)
            .where(
                (StoryRow.portrait_status == PortraitStatus.GENERATING)
                & StoryRow.portrait_owner.is_null(False)
            )
            .distinct()
        )
        return [str(row.portrait_owner) for row in query]

    def count_pending(self) -> int:
        return int(
            StoryRow.select().where(StoryRow.portrait_status == PortraitStatus.PENDING).count()
        )

    def store_portrait(
        self, job: PortraitJob, sha256: str, size: int, content_type: str
    ) -> FileInfo | None:
        """Record a stored image's row and settle the story on it (the seed's store and
        updateStoryImage), in one transaction; None, and no row, if the claim is gone."""
        with self._db.atomic() as transaction:
            info = self._insert_file(sha256, size, content_type)
            if not self._settle(job, PortraitStatus.STORED, None, info.id, notify=False):
                transaction.rollback()
                return None
        self._on_change([job.story_id])
        return info

    def fail_portrait(self, job: PortraitJob, status: PortraitStatus, error: str) -> bool:
        """Record a failed or skipped portrait; False if the claim is gone."""
        return self._settle(job, status, error)

    def _settle(
        self,
        job: PortraitJob,
        status: PortraitStatus,
        error: str | None,
        storage_id: str | None = None,
        notify: bool = True,
    ) -> bool:
        values = (
            status.value,
            error,
            storage_id,
            _db_time(utc_now()),
            job.story_id,
            job.attempt,
            PortraitStatus.GENERATING.value,
        )
        updated = self._execute(self._sql.settle, values).rowcount
        if updated and notify:
            self._on_change([job.story_id])
        return bool(updated)

    def fail_generating(self, error: str, started_before: datetime | None = None) -> list[str]:
        """Fail every `generating` portrait (those started before a moment, if given)."""
        condition = StoryRow.id.is_null(False)
        if started_before is not None:
            if started_before.tzinfo is not None:  # the table holds naive UTC times
                started_before = started_before.astimezone(UTC).replace(tzinfo=None)
            condition = StoryRow.portrait_started_at < started_before
        return self._fail_generating_where(condition, error)

    def _fail_generating_where(self, condition: Any, error: str) -> list[str]:
        rows = (
            StoryRow.update(
                portrait_status=PortraitStatus.FAILED, portrait_error=error, updated_at=utc_now()
            )
            .where(condition & (StoryRow.portrait_status == PortraitStatus.GENERATING))
            .returning(StoryRow.id)
            .execute()
        )
        ids = [row.id for row in rows]
        if ids:
            self._on_change(ids)
        return ids

    def fail_stale(self, error: str, older_than_s: float) -> list[str]:
        """Fail portraits that have been `generating` for longer than `older_than_s`."""
        return self.fail_generating(error, datetime.now(UTC) - timedelta(seconds=older_than_s))

    def reschedule_portrait(self, story_id: str, force: bool = False) -> Story:
        """Make a failed or skipped portrait `pending` again (a stored one too, with `force`)."""
        allowed = [PortraitStatus.FAILED, PortraitStatus.SKIPPED]
        if force:
            allowed.append(PortraitStatus.STORED)
        with self._db.atomic():
            row = StoryRow.get_or_none(StoryRow.id == story_id)
            if row is None:
                raise StoryNotFound(story_id)
            if row.portrait_status not in allowed:
                hint = " (force regenerates a stored one)" if not force else ""
                raise PortraitConflict(
                    f"story {story_id}'s portrait is {row.portrait_status}{hint}"
                )
            row.portrait_status = PortraitStatus.PENDING
            row.portrait_error = None
            row.updated_at = utc_now()
            row.save()
        self._on_change([story_id])
        return _story(row)

    # Stored files -------------------------------------------------------------------------

    def _insert_file(self, sha256: str, size: int, content_type: str) -> FileInfo:
        now = utc_now()
        info = FileInfo(
            id=new_id(), sha256=sha256, size=size, content_type=content_type, created_at=_aware(now)
        )
        self._execute(self._sql.insert_file, (info.id, sha256, size, content_type, _db_time(now)))
        return info

    def get_file(self, storage_id: str) -> FileInfo | None:
        row = StoredFile.get_or_none(StoredFile.id == storage_id)
        return None if row is None else _file(row)

    def delete_file(self, storage_id: str) -> tuple[FileInfo, bool] | None:
        """Delete a file's row; return it and whether another row still has its content."""
        with self._db.atomic():
            row = StoredFile.get_or_none(StoredFile.id == storage_id)
            if row is None:
                return None
            row.delete_instance()
            shared = StoredFile.select().where(StoredFile.sha256 == row.sha256).exists()
        return _file(row), shared


def _giving_up_broken_connections(method: Callable[..., T]) -> Callable[..., T]:
    """Wrap a DocumentActor method: a lost connection is closed, so the next call reconnects.

    The server may drop a connection (restart, failover, an idle timeout). The call that
    finds out fails, and is not retried: a write may already have committed.
    """

    @functools.wraps(method)
    def call(self: DocumentActor, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except (OperationalError, InterfaceError):
            self._reset_connection()
            raise

    return call


for _name, _member in list(vars(DocumentActor).items()):
    if callable(_member) and not _name.startswith("_") and not _name.startswith("on_"):
        setattr(DocumentActor, _name, _giving_up_broken_connections(_member))


class DocumentProxy(ActorMemberMixin, pykka.ActorProxy[DocumentActor]):
    """The typed face of a DocumentActor's proxy."""

    insert_story = proxy_method(DocumentActor.insert_story)
    get_story = proxy_method(DocumentActor.get_story)
    list_stories = proxy_method(DocumentActor.list_stories)
    count_by_status = proxy_method(DocumentActor.count_by_status)
    count_failures_by_code = proxy_method(DocumentActor.count_failures_by_code)
    delete_story = proxy_method(DocumentActor.delete_story)
    claim_portrait = proxy_method(DocumentActor.claim_portrait)
    renew_leases = proxy_method(DocumentActor.renew_leases)
    expire_leases = proxy_method(DocumentActor.expire_leases)
    generating_owners = proxy_method(DocumentActor.generating_owners)
    count_pending = proxy_method(DocumentActor.count_pending)
    store_portrait = proxy_method(DocumentActor.store_portrait)
    fail_portrait = proxy_method(DocumentActor.fail_portrait)
    fail_generating = proxy_method(DocumentActor.fail_generating)
    fail_stale = proxy_method(DocumentActor.fail_stale)
    reschedule_portrait = proxy_method(DocumentActor.reschedule_portrait)
    get_file = proxy_method(DocumentActor.get_file)
    delete_file = proxy_method(DocumentActor.delete_file)
