"""Stories: insert, read, list, count, delete, and schedule a portrait again.

A story is inserted with its portrait `pending`: that row is the portrait's durable schedule.
Every function runs in its caller's thread, on that thread's connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, cast

from peewee import Database, fn

from vignette.errors import PortraitConflict, StoryNotFound
from vignette.models.sql import STORY_FIELDS, run, statements
from vignette.models.tables import StoryRow, aware, db_time, new_id, python_time, utc_now
from vignette.records import PortraitStatus, Story, StoryDraft


def story_from(values: Sequence[Any]) -> Story:
    """A Story from a row's values, in the order of `sql.STORY_FIELDS`."""
    story_id, title, body, prompt, storage_id, status, error, created, updated = values
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
    )


def insert_story(db: Database, draft: StoryDraft) -> Story:
    """Insert a story with its portrait `pending`, in one statement."""
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


def list_stories(status: PortraitStatus | None = None, limit: int = 50) -> list[Story]:
    """Stories, newest first, optionally only those whose portrait is in `status`."""
    query = StoryRow.select(*STORY_FIELDS).order_by(StoryRow.created_at.desc(), StoryRow.id.desc())
    if status is not None:
        query = query.where(StoryRow.portrait_status == status)
    rows = cast("list[tuple[Any, ...]]", list(query.limit(limit).tuples()))
    return [story_from(values) for values in rows]


def count_by_status() -> dict[PortraitStatus, int]:
    query = StoryRow.select(StoryRow.portrait_status, fn.COUNT(StoryRow.id))
    counts = {status: 0 for status in PortraitStatus}
    rows = cast("list[tuple[str, int]]", list(query.group_by(StoryRow.portrait_status).tuples()))
    for status, count in rows:
        counts[PortraitStatus(status)] = count
    return counts


def count_failures_by_code() -> dict[str, int]:
    """How many failed or skipped portraits carry each error code."""
    query = StoryRow.select(StoryRow.portrait_error).where(StoryRow.portrait_error.is_null(False))
    counts: dict[str, int] = {}
    for (error,) in query.tuples().iterator():
        code = error.partition(":")[0]
        counts[code] = counts.get(code, 0) + 1
    return counts


def delete_story(db: Database, story_id: str) -> str | None:
    """Delete a story; return the storage id its portrait had, if any."""
    with db.atomic():
        row = StoryRow.get_or_none(StoryRow.id == story_id)
        if row is None:
            raise StoryNotFound(story_id)
        row.delete_instance()
    return row.storage_id


def reschedule_portrait(db: Database, story_id: str, force: bool = False) -> Story:
    """Make a failed or skipped portrait `pending` again (a stored one too, with `force`)."""
    allowed = [PortraitStatus.FAILED, PortraitStatus.SKIPPED]
    if force:
        allowed.append(PortraitStatus.STORED)
    with db.atomic():
        values = StoryRow.select(*STORY_FIELDS).where(StoryRow.id == story_id).tuples().first()
        if values is None:
            raise StoryNotFound(story_id)
        story = story_from(values)
        if story.portrait_status not in allowed:
            hint = " (force regenerates a stored one)" if not force else ""
            raise PortraitConflict(f"story {story_id}'s portrait is {story.portrait_status}{hint}")
        now = utc_now()
        StoryRow.update(
            portrait_status=PortraitStatus.PENDING, portrait_error=None, updated_at=now
        ).where(StoryRow.id == story_id).execute()
    return dataclasses.replace(
        story, portrait_status=PortraitStatus.PENDING, portrait_error=None, updated_at=aware(now)
    )
