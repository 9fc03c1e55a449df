"""Stories on a real database: insert, read, list, delete, schedule again, count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from peewee import Database

from tests.models.rows import (
    claim,
    draft,
    get,
    insert,
    pending_ids,
    status_of,
    story_in_state,
)
from vignette.errors import PortraitConflict, StoryNotFound
from vignette.models import StoryRow, files, portraits, stories
from vignette.records import PortraitStatus

# Stories ----------------------------------------------------------------------------------


def test_an_inserted_story_is_stored_with_its_portrait_pending_in_the_same_row(
    db: Database,
) -> None:
    before = datetime.now(UTC)

    story = stories.insert_story(db, draft(1))

    assert story.title == "Story 1"
    assert story.body == "The body of story 1."
    assert story.image_generation_prompt == "A portrait for story 1"
    assert story.portrait_status is PortraitStatus.PENDING
    assert story.portrait_error is None
    assert story.storage_id is None
    assert story.created_at.tzinfo is not None
    assert before - timedelta(seconds=5) <= story.created_at <= datetime.now(UTC)
    assert story.updated_at == story.created_at
    assert stories.get_story(db, story.id) == story
    # The durable schedule is the row itself: no other table records the portrait.
    row = StoryRow.get_by_id(story.id)
    assert row.portrait_status == "pending"
    assert row.portrait_attempt == 0
    assert pending_ids() == [story.id]


def test_an_unknown_story_is_none(db: Database) -> None:
    assert stories.get_story(db, "no-such-story") is None


def test_ids_are_opaque_strings_that_sort_by_creation(db: Database) -> None:
    ids = [insert(db, n).id for n in range(25)]

    assert all(isinstance(story_id, str) and story_id for story_id in ids)
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids
    assert pending_ids() == ids


def test_list_stories_is_newest_first(db: Database) -> None:
    ids = [insert(db, n).id for n in range(5)]

    listed = stories.list_stories()

    assert [story.id for story in listed] == ids[::-1]


def test_list_stories_honours_the_limit(db: Database) -> None:
    ids = [insert(db, n).id for n in range(5)]

    listed = stories.list_stories(limit=2)

    assert [story.id for story in listed] == [ids[4], ids[3]]


def test_list_stories_filters_by_status(db: Database) -> None:
    pending_old = story_in_state(db, PortraitStatus.PENDING, 1)
    failed = story_in_state(db, PortraitStatus.FAILED, 2)
    stored = story_in_state(db, PortraitStatus.STORED, 3)
    pending_new = story_in_state(db, PortraitStatus.PENDING, 4)

    def listed(status: PortraitStatus, limit: int = 50) -> list[str]:
        return [s.id for s in stories.list_stories(status=status, limit=limit)]

    assert listed(PortraitStatus.PENDING) == [pending_new.id, pending_old.id]
    assert listed(PortraitStatus.PENDING, limit=1) == [pending_new.id]
    assert listed(PortraitStatus.FAILED) == [failed.id]
    assert listed(PortraitStatus.STORED) == [stored.id]
    assert listed(PortraitStatus.GENERATING) == []


def test_delete_story_returns_the_storage_id_of_its_portrait(db: Database) -> None:
    stored = story_in_state(db, PortraitStatus.STORED, 1)
    plain = insert(db, 2)

    assert stories.delete_story(db, stored.id) == stored.storage_id
    assert stored.storage_id is not None
    assert stories.delete_story(db, plain.id) is None
    assert stories.get_story(db, stored.id) is None
    assert stories.list_stories() == []
    # The file's row is the storage actor's to delete; deleting the story leaves it.
    assert files.get_file(stored.storage_id) is not None


def test_deleting_an_unknown_story_raises_story_not_found(db: Database) -> None:
    story = insert(db)
    stories.delete_story(db, story.id)

    with pytest.raises(StoryNotFound) as caught:
        stories.delete_story(db, story.id)

    assert caught.value.story_id == story.id
    assert isinstance(caught.value, LookupError)


# Rescheduling -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [PortraitStatus.FAILED, PortraitStatus.SKIPPED])
def test_a_failed_or_skipped_portrait_can_be_rescheduled(
    db: Database, status: PortraitStatus
) -> None:
    story = story_in_state(db, status)

    again = stories.reschedule_portrait(db, story.id)

    assert again.portrait_status is PortraitStatus.PENDING
    assert again.portrait_error is None
    assert stories.get_story(db, story.id) == again
    assert pending_ids() == [story.id]
    assert claim(db, story.id).attempt == 2


def test_a_stored_portrait_is_rescheduled_only_with_force(db: Database) -> None:
    story = story_in_state(db, PortraitStatus.STORED)

    with pytest.raises(PortraitConflict):
        stories.reschedule_portrait(db, story.id)
    assert status_of(db, story.id) is PortraitStatus.STORED

    again = stories.reschedule_portrait(db, story.id, force=True)
    assert again.portrait_status is PortraitStatus.PENDING
    assert status_of(db, story.id) is PortraitStatus.PENDING


@pytest.mark.parametrize("status", [PortraitStatus.PENDING, PortraitStatus.GENERATING])
@pytest.mark.parametrize("force", [False, True])
def test_a_pending_or_generating_portrait_cannot_be_rescheduled(
    db: Database, status: PortraitStatus, force: bool
) -> None:
    story = story_in_state(db, status)
    before = get(db, story.id)

    with pytest.raises(PortraitConflict):
        stories.reschedule_portrait(db, story.id, force=force)

    assert get(db, story.id) == before


def test_rescheduling_an_unknown_story_raises_story_not_found(db: Database) -> None:
    with pytest.raises(StoryNotFound):
        stories.reschedule_portrait(db, "no-such-story")


# Counts -----------------------------------------------------------------------------------


def test_count_by_status_counts_every_state(db: Database) -> None:
    assert stories.count_by_status() == dict.fromkeys(PortraitStatus, 0)

    for n in range(3):
        story_in_state(db, PortraitStatus.PENDING, n)
    for n in range(10, 12):
        story_in_state(db, PortraitStatus.FAILED, n)
    story_in_state(db, PortraitStatus.STORED, 20)
    story_in_state(db, PortraitStatus.GENERATING, 30)

    assert stories.count_by_status() == {
        PortraitStatus.PENDING: 3,
        PortraitStatus.GENERATING: 1,
        PortraitStatus.STORED: 1,
        PortraitStatus.FAILED: 2,
        PortraitStatus.SKIPPED: 0,
    }


def test_count_failures_by_code_groups_errors_by_their_code(db: Database) -> None:
    errors = [
        (PortraitStatus.FAILED, "api_error: 500 from Recraft"),
        (PortraitStatus.FAILED, "api_error: 502 from Recraft"),
        (PortraitStatus.FAILED, "timeout: no answer in 120 s"),
        (PortraitStatus.SKIPPED, "empty_prompt: the prompt is blank"),
    ]
    for n, (status, error) in enumerate(errors):
        job = claim(db, insert(db, n).id)
        portraits.fail_portrait(db, job, status, error)
    story_in_state(db, PortraitStatus.STORED, 99)
    insert(db, 100)

    assert stories.count_failures_by_code() == {
        "api_error": 2,
        "timeout": 1,
        "empty_prompt": 1,
    }
