"""Stories whose portrait has settled (stored, failed, skipped) since a moment: what
completion subscriptions read, from every instance on the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from vignette.models.sql import STORY_FIELDS
from vignette.models.stories import story_from
from vignette.models.tables import StoryRow
from vignette.records import PortraitStatus, Story

# A portrait not (yet) in a terminal state.
UNSETTLED = [PortraitStatus.PENDING.value, PortraitStatus.GENERATING.value]


def settled_since(since: datetime, story_id: str | None = None) -> list[Story]:
    """Stories in a terminal state whose last change is at or after `since` (an aware time),
    oldest change first; only `story_id`'s when given. A range of the `updated_at` index:
    the cost follows what changed since `since`, not the size of the table."""
    moment = since.astimezone(UTC).replace(tzinfo=None)  # the table holds naive UTC
    # "Neither pending nor generating", not "stored, failed or skipped": NOT IN cannot use
    # the state's index, so the planner takes the `updated_at` range (SQLite has no
    # statistics to weigh a state that nearly every row has).
    condition = StoryRow.portrait_status.not_in(UNSETTLED) & (StoryRow.updated_at >= moment)
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
