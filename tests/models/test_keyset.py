"""Pages of stories on a real database: the keyset on (created_at, id), ties included."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from peewee import Database

from tests.models.rows import insert
from vignette.models import StoryRow, stories
from vignette.paging import InvalidCursor, decode_cursor, encode_cursor, page_of, position_of
from vignette.records import PortraitStatus, Story


def every_page(limit: int, status: PortraitStatus | None = None) -> list[list[Story]]:
    pages: list[list[Story]] = []
    cursor: str | None = None
    while True:
        after = None if cursor is None else decode_cursor(cursor)
        page = page_of(stories.list_stories(status, limit + 1, after), limit)
        pages.append(page.stories)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_pages_cover_every_story_once_newest_first_even_when_times_tie(db: Database) -> None:
    made = [insert(db, n) for n in range(9)]
    # Four stories share one creation time: the id breaks the tie, on both sides of a page.
    tied = datetime(2026, 1, 2, 3, 4, 5, 678901)
    StoryRow.update(created_at=tied).where(StoryRow.id.in_([s.id for s in made[2:6]])).execute()
    everything = stories.list_stories(None, 100)

    pages = every_page(limit=2)

    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    assert [s.id for page in pages for s in page] == [s.id for s in everything]
    assert len({s.id for s in everything}) == 9
    # Newest first: the tied ones (older than the rest) last, by id, descending.
    assert [s.id for s in everything[-4:]] == sorted((s.id for s in made[2:6]), reverse=True)


def test_a_time_without_microseconds_pages_like_any_other(db: Database) -> None:
    made = [insert(db, n) for n in range(3)]
    StoryRow.update(created_at=datetime(2026, 1, 1, 0, 0, 0)).where(
        StoryRow.id == made[1].id
    ).execute()

    pages = every_page(limit=1)

    assert [s.id for page in pages for s in page] == [made[2].id, made[0].id, made[1].id]


def test_a_state_filter_pages_through_its_own_stories(db: Database) -> None:
    made = [insert(db, n) for n in range(5)]
    StoryRow.update(portrait_status=PortraitStatus.FAILED).where(
        StoryRow.id.in_([made[0].id, made[2].id, made[4].id])
    ).execute()

    pages = every_page(limit=2, status=PortraitStatus.FAILED)

    assert [[s.id for s in page] for page in pages] == [[made[4].id, made[2].id], [made[0].id]]


def test_a_cursor_round_trips_and_a_made_up_one_is_refused_by_name(db: Database) -> None:
    story = insert(db)
    position = position_of(story)
    assert decode_cursor(encode_cursor(position)) == position
    cursor = encode_cursor(position)
    assert re.fullmatch(r"[0-9a-f]+\.[0-9a-f]{32}", cursor)
    for bad in [
        "",
        "not a cursor!",
        "12.",
        ".abc",
        "xyz.abc",
        "1234567890abcdef.ab",
        f"{cursor}\n",
    ]:
        with pytest.raises(InvalidCursor, match="cursor") as caught:
            decode_cursor(bad)
        assert repr(bad) in str(caught.value)
