"""Pages of stories, newest first, and the cursors that name where the next page starts.

A cursor is the position of the last story a page showed, `(created_at, id)`, written as a
short URL-safe string (treat it as opaque). The next page holds the stories strictly before
it in the order `created_at DESC, id DESC` (a keyset, not an offset), so a story inserted
meanwhile never shifts a page: new stories are newer than any cursor, and appear only on
the first page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vignette.records import Story

# Microseconds since 1970 in hexadecimal (14 digits reach past the year 4000), a dot, the id:
# every string that matches names a position, so the HTTP API checks cursors with it alone.
CURSOR_PATTERN = r"^([0-9a-f]{1,14})\.([0-9A-Za-z_-]{1,64})$"
_CURSOR = re.compile(CURSOR_PATTERN)
_SEPARATOR = "."
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidCursor(ValueError):
    """A cursor that no page gave out: unreadable, or naming no possible position."""

    def __init__(self, cursor: str, why: str) -> None:
        shown = cursor if len(cursor) <= 80 else cursor[:77] + "..."
        super().__init__(
            f"the cursor {shown!r} is not one a page gave out ({why}); "
            "take next_cursor from the previous answer, or leave it out for the newest"
        )


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last story's creation time (UTC) and id."""

    created_at: datetime
    story_id: str


@dataclass(frozen=True, slots=True)
class StoryPage:
    """One page of stories, newest first, and the cursor of the next (None at the end)."""

    stories: list[Story]
    next_cursor: str | None


def position_of(story: Story) -> Position:
    return Position(story.created_at.astimezone(UTC), story.id)


def encode_cursor(position: Position) -> str:
    since_epoch = position.created_at.astimezone(UTC) - EPOCH
    micros = since_epoch // timedelta(microseconds=1)
    return f"{micros:x}{_SEPARATOR}{position.story_id}"


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; `InvalidCursor`, naming it, when it names none."""
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        raise InvalidCursor(cursor, f"a cursor matches {CURSOR_PATTERN}")
    micros, story_id = match.groups()
    return Position(EPOCH + timedelta(microseconds=int(micros, 16)), story_id)


def page_of(stories: list[Story], limit: int) -> StoryPage:
    """A page from up to `limit + 1` stories read: the extra one says a next page exists."""
    shown = stories[:limit]
    more = len(stories) > limit
    return StoryPage(shown, encode_cursor(position_of(shown[-1])) if more else None)
