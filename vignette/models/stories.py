"""Stories: insert, read, list, count, delete, and schedule a portrait again.

A story is inserted with its portrait `pending`: that row is the portrait's durable schedule.
Every function runs in its caller's thread, on that thread's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any, cast

from peewee import Database

from vignette.errors import PortraitConflict, StoryNotFound
from vignette.models import counts
from vignette.models.deadlines import check_deadline
from vignette.models.notify import notify_pending
from vignette.models.sql import STORY_FIELDS, run, statements
from vignette.models.tables import StoryRow, aware, db_time, new_id, python_time, utc_now
from vignette.paging import Position
from vignette.records import PortraitStatus, Story, StoryDraft


def story_from(values: Sequence[Any]) -> Story:
    """A Story from a row's values, in the order of `sql.STORY_FIELDS`."""
    story_id, title, body, prompt, storage_id, status, error, credits, created, updated = values
    return Story(
        id=story_id,
        title=title,
        body=body,
        image_generation_prompt=prompt,
        storage_id=storage_id,
        portrait_status=PortraitStatus(status),
        portrait_error=error,
        created_at=python_time(created),
        updated_at=python_time(updated),
        portrait_credits=credits,
    )


def insert_story(db: Database, draft: StoryDraft, deadline: float | None = None) -> Story:
    """Insert a story with its portrait `pending`, in one statement."""
    check_deadline(deadline, "storing a story")
    now = utc_now()
    story = Story(
        id=new_id(),
        title=draft.title,
        body=draft.body,
        image_generation_prompt=draft.image_generation_prompt,
        storage_id=None,
        portrait_status=PortraitStatus.PENDING,
        portrait_error=None,
        created_at=aware(now),
        updated_at=aware(now),
    )
    stamp = db_time(now)
    values = (story.id, story.title, story.body, story.image_generation_prompt)
    run(db, statements(db).insert_story, (*values, PortraitStatus.PENDING.value, stamp, stamp))
    return story


def get_story(db: Database, story_id: str) -> Story | None:
    row = run(db, statements(db).get_story, (story_id,)).fetchone()
    return None if row is None else story_from(row)


def list_stories(
    status: PortraitStatus | None = None, limit: int = 50, after: Position | None = None
) -> list[Story]:
    """Stories, newest first, optionally only those whose portrait is in `status`, and only
    those after `after` in that order (a keyset: the cost does not grow with the pages)."""
    query = StoryRow.select(*STORY_FIELDS).order_by(StoryRow.created_at.desc(), StoryRow.id.desc())
    if status is not None:
        query = query.where(StoryRow.portrait_status == status)
    if after is not None:
        created = after.created_at.astimezone(UTC).replace(tzinfo=None)
        # `created_at <= c` alone bounds the index range; the rest breaks ties by id.
        query = query.where(
            (StoryRow.created_at <= created)
            & ((StoryRow.created_at < created) | (StoryRow.id < after.story_id))
        )
    rows = cast("list[tuple[Any, ...]]", list(query.limit(limit).tuples()))
    return [story_from(values) for values in rows]


def count_by_status() -> dict[PortraitStatus, int]:
    """Stories by portrait state, from the counters the database keeps (`counts`)."""
    return counts.by_status()


def count_failures_by_code() -> dict[str, int]:
    """How many failed or skipped portraits carry each error code (`counts`)."""
    return counts.failures_by_code()


def delete_story(db: Database, story_id: str, deadline: float | None = None) -> str | None:
    """Delete a story in one statement; return the storage id its portrait had, if any.

    A portrait stored at the same moment either committed first (its storage id comes
    back, so its file is removed) or finds no row to settle (and takes its file back).
    """
    check_deadline(deadline, "deleting a story")
    rows = list(
        StoryRow.delete().where(StoryRow.id == story_id).returning(StoryRow.storage).tuples()
    )
    if not rows:
        raise StoryNotFound(story_id)
    return cast("str | None", rows[0][0])


def reschedule_portrait(
    db: Database, story_id: str, force: bool = False, deadline: float | None = None
) -> Story:
    """Make a failed or skipped portrait `pending` again (a stored one too, with `force`).

    One conditional statement: a claim by another instance in between makes it change
    nothing (and say why), never overwrite the claim.
    """
    allowed = [PortraitStatus.FAILED, PortraitStatus.SKIPPED]
    if force:
        allowed.append(PortraitStatus.STORED)
    check_deadline(deadline, "scheduling a portrait again")
    rows = list(
        StoryRow.update(
            portrait_status=PortraitStatus.PENDING, portrait_error=None, updated_at=utc_now()
        )
        .where((StoryRow.id == story_id) & StoryRow.portrait_status.in_(allowed))
        .returning(*STORY_FIELDS)
        .tuples()
    )
    if rows:
        notify_pending(db)
        return story_from(rows[0])
    story = get_story(db, story_id)  # only to say why nothing changed
    if story is None:
        raise StoryNotFound(story_id)
    hint = " (force regenerates a stored one)" if not force else ""
    raise PortraitConflict(f"story {story_id}'s portrait is {story.portrait_status}{hint}")
