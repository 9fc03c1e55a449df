"""Portrait transitions on a real database: claims, outcomes, and failing what is left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from peewee import Database

from tests.models.rows import claim, get, insert, pending_ids, status_of, store, story_in_state
from vignette.models import StoredFile, StoryRow, files, portraits, stories, utc_now
from vignette.records import PortraitJob, PortraitStatus

# Claims -----------------------------------------------------------------------------------


def test_a_pending_portrait_is_claimed_exactly_once(db: Database) -> None:
    story = insert(db, 1)

    job = portraits.claim_portrait(db, story.id)
    again = portraits.claim_portrait(db, story.id)

    assert job == PortraitJob(story.id, "A portrait for story 1", 1)
    assert again is None
    claimed = get(db, story.id)
    assert claimed.portrait_status is PortraitStatus.GENERATING
    assert claimed.updated_at >= story.updated_at
    assert pending_ids() == []
    row = StoryRow.get_by_id(story.id)
    assert row.portrait_attempt == 1
    assert row.portrait_started_at is not None


@pytest.mark.parametrize(
    "status",
    [
        PortraitStatus.GENERATING,
        PortraitStatus.STORED,
        PortraitStatus.FAILED,
        PortraitStatus.SKIPPED,
    ],
)
def test_claiming_a_portrait_that_is_not_pending_returns_none(
    db: Database, status: PortraitStatus
) -> None:
    story = story_in_state(db, status)

    assert portraits.claim_portrait(db, story.id) is None
    assert status_of(db, story.id) is status


def test_claiming_an_unknown_story_returns_none(db: Database) -> None:
    assert portraits.claim_portrait(db, "no-such-story") is None


def test_each_claim_after_a_reschedule_is_a_new_attempt(db: Database) -> None:
    story = insert(db)

    attempts = []
    for _ in range(3):
        job = claim(db, story.id)
        attempts.append(job.attempt)
        portraits.fail_portrait(db, job, PortraitStatus.FAILED, "api_error: 500")
        stories.reschedule_portrait(db, story.id)

    assert attempts == [1, 2, 3]


# Outcomes ---------------------------------------------------------------------------------


def test_storing_a_claimed_portrait_records_its_file_and_settles_the_story(db: Database) -> None:
    story = insert(db)
    job = claim(db, story.id)

    info = store(db, job, "cd" * 32)

    assert info is not None
    assert files.get_file(info.id) == info
    assert (info.sha256, info.size, info.content_type) == ("cd" * 32, 123, "image/png")
    done = get(db, story.id)
    assert done.portrait_status is PortraitStatus.STORED
    assert done.storage_id == info.id
    assert done.portrait_error is None


@pytest.mark.parametrize("status", [PortraitStatus.FAILED, PortraitStatus.SKIPPED])
def test_failing_a_claimed_portrait_records_the_status_and_error(
    db: Database, status: PortraitStatus
) -> None:
    story = insert(db)
    job = claim(db, story.id)

    assert portraits.fail_portrait(db, job, status, "rate_limited: slow down")

    done = get(db, story.id)
    assert done.portrait_status is status
    assert done.portrait_error == "rate_limited: slow down"
    assert done.storage_id is None


def test_a_stale_attempt_cannot_overwrite_a_newer_one(db: Database) -> None:
    story = insert(db)
    first = claim(db, story.id)
    portraits.fail_generating("interrupted: restarted")
    stories.reschedule_portrait(db, story.id)
    second = claim(db, story.id)
    before = get(db, story.id)

    late_store = store(db, first)
    late_fail = portraits.fail_portrait(db, first, PortraitStatus.FAILED, "timeout: late")

    assert late_store is None
    assert late_fail is False
    assert get(db, story.id) == before
    assert StoredFile.select().count() == 0  # the late store left no row
    assert StoryRow.get_by_id(story.id).portrait_attempt == second.attempt == 2
    assert store(db, second) is not None


@pytest.mark.parametrize(
    "status", [PortraitStatus.STORED, PortraitStatus.FAILED, PortraitStatus.PENDING]
)
def test_an_outcome_lands_only_while_the_portrait_is_generating(
    db: Database, status: PortraitStatus
) -> None:
    story = insert(db)
    job = claim(db, story.id)
    first = None
    if status is PortraitStatus.STORED:
        first = store(db, job)
    else:
        portraits.fail_portrait(db, job, PortraitStatus.FAILED, "api_error: x")
        if status is PortraitStatus.PENDING:
            stories.reschedule_portrait(db, story.id)
    before = get(db, story.id)
    assert before.portrait_status is status
    files_before = StoredFile.select().count()

    # Storing again for the attempt that stored (a retry after a lost answer) gives back
    # the row it stored; nothing else lands.
    assert store(db, job) == first
    assert portraits.fail_portrait(db, job, PortraitStatus.FAILED, "crashed: x") is False
    assert get(db, story.id) == before
    assert StoredFile.select().count() == files_before


def test_an_outcome_for_a_deleted_story_returns_false(db: Database) -> None:
    story = insert(db)
    job = claim(db, story.id)
    stories.delete_story(db, story.id)

    assert store(db, job) is None
    assert StoredFile.select().count() == 0
    assert portraits.fail_portrait(db, job, PortraitStatus.FAILED, "api_error: x") is False


# Recovery ---------------------------------------------------------------------------------


def test_fail_generating_fails_every_generating_portrait_and_nothing_else(db: Database) -> None:
    generating = [story_in_state(db, PortraitStatus.GENERATING, n) for n in range(3)]
    pending = story_in_state(db, PortraitStatus.PENDING, 10)
    stored = story_in_state(db, PortraitStatus.STORED, 11)
    skipped = story_in_state(db, PortraitStatus.SKIPPED, 12)

    failed_ids = portraits.fail_generating("interrupted: the process stopped")

    assert sorted(failed_ids) == sorted(story.id for story in generating)
    for story in generating:
        now = get(db, story.id)
        assert now.portrait_status is PortraitStatus.FAILED
        assert now.portrait_error == "interrupted: the process stopped"
    assert status_of(db, pending.id) is PortraitStatus.PENDING
    assert status_of(db, stored.id) is PortraitStatus.STORED
    assert get(db, skipped.id) == skipped
    assert portraits.fail_generating("interrupted: again") == []


def test_fail_stale_fails_only_portraits_started_before_the_cutoff(db: Database) -> None:
    old = story_in_state(db, PortraitStatus.GENERATING, 1)
    fresh = story_in_state(db, PortraitStatus.GENERATING, 2)
    # Pretend the first claim happened an hour ago.
    StoryRow.update(portrait_started_at=utc_now() - timedelta(hours=1)).where(
        StoryRow.id == old.id
    ).execute()

    failed_ids = portraits.fail_stale("timeout: generating too long", 600)

    assert failed_ids == [old.id]
    story = get(db, old.id)
    assert story.portrait_status is PortraitStatus.FAILED
    assert story.portrait_error == "timeout: generating too long"
    assert status_of(db, fresh.id) is PortraitStatus.GENERATING
    assert portraits.fail_stale("timeout: x", 7200) == []


def test_fail_generating_accepts_an_aware_cutoff(db: Database) -> None:
    old = story_in_state(db, PortraitStatus.GENERATING, 1)
    StoryRow.update(portrait_started_at=utc_now() - timedelta(minutes=30)).where(
        StoryRow.id == old.id
    ).execute()
    fresh = story_in_state(db, PortraitStatus.GENERATING, 2)

    cutoff = datetime.now(UTC) - timedelta(minutes=5)
    failed_ids = portraits.fail_generating("interrupted: x", cutoff)

    assert failed_ids == [old.id]
    assert status_of(db, fresh.id) is PortraitStatus.GENERATING


def test_fail_generating_converts_a_cutoff_in_another_time_zone(db: Database) -> None:
    old = story_in_state(db, PortraitStatus.GENERATING, 1)
    StoryRow.update(portrait_started_at=utc_now() - timedelta(minutes=30)).where(
        StoryRow.id == old.id
    ).execute()
    fresh = story_in_state(db, PortraitStatus.GENERATING, 2)
    new_york_winter = timezone(timedelta(hours=-5))

    cutoff = datetime.now(new_york_winter) - timedelta(minutes=5)
    failed_ids = portraits.fail_generating("interrupted: x", cutoff)

    assert failed_ids == [old.id]
    assert status_of(db, fresh.id) is PortraitStatus.GENERATING
