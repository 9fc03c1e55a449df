"""Stories whose portrait has settled (stored, failed, skipped) since a moment: what
completion subscriptions read, from every instance on the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from vignette.models.sql import STORY_FIELDS
from vignette.models.stories import story_from
from vignette.models.tables import StoryRow
from vignette.records import PortraitStatus, Story

SETTLED = (PortraitStatus.STORED, PortraitStatus.FAILED, PortraitStatus.SKIPPED)


def settled_since(since: datetime, story_id: str | None = None) -> list[Story]:
    """Stories in a terminal state whose last change is at or after `since` (an aware time),
    oldest change first; only `story_id`'s when given.

    The stories table has no index on `updated_at`: each call reads the settled rows.
    """
    moment = since.astimezone(UTC).replace(tzinfo=None)  # the table holds naive UTC
    condition = StoryRow.portrait_status.in_([s.value for s in SETTLED]) & (
        StoryRow.updated_at >= moment
    )
    if story_id is not None:
        condition &= StoryRow.id == story_id
    query = (
        StoryRow.select(*STORY_FIELDS)
        .where(condition)
        .order_by(StoryRow.updated_at, StoryRow.id)
        .tuples()
    )
    rows = cast("list[tuple[Any, ...]]", list(query))
    return [story_from(values) for values in rows]
