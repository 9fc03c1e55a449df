"""Pages of stories, newest first, and the cursors that name where the next page starts.

A cursor is the position of the last story a page showed, `(created_at, id)`, encoded as
an opaque URL-safe string. The next page holds the stories strictly before it in the order
`created_at DESC, id DESC` (a keyset, not an offset), so a story inserted meanwhile never
shifts a page: new stories are newer than any cursor, and appear only on the first page.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from vignette.records import Story

_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_SEPARATOR = "|"


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
    moment = position.created_at.astimezone(UTC).replace(tzinfo=None)
    text = f"{moment.isoformat(timespec='microseconds')}{_SEPARATOR}{position.story_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; `InvalidCursor`, naming it, when it names none."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidCursor(cursor, "not base64url text") from None
    moment, separator, story_id = text.partition(_SEPARATOR)
    if not separator or not _ID.match(story_id):
        raise InvalidCursor(cursor, "no story id in it")
    try:
        created = datetime.fromisoformat(moment)
    except ValueError:
        raise InvalidCursor(cursor, "no time in it") from None
    if created.tzinfo is not None:
        raise InvalidCursor(cursor, "a time with a zone")
    return Position(created.replace(tzinfo=UTC), story_id)


def page_of(stories: list[Story], limit: int) -> StoryPage:
    """A page from up to `limit + 1` stories read: the extra one says a next page exists."""
    shown = stories[:limit]
    more = len(stories) > limit
    return StoryPage(shown, encode_cursor(position_of(shown[-1])) if more else None)
