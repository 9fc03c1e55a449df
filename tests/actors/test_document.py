"""DocumentActor on a real SQLite file: stories, the portrait state machine, counts."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import cast

import pykka
import pytest
from peewee import Database

from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.errors import PortraitConflict, StoryNotFound
from vignette.models import StoredFile, StoryRow, open_database, release_connections, utc_now
from vignette.records import FileInfo, PortraitJob, PortraitStatus, Story, StoryDraft

TIMEOUT = 10
REPO_ROOT = Path(__file__).resolve().parents[2]


class Changes:
    """An `on_change` callback that records its calls, from whichever thread makes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[list[str]] = []
        self.event = threading.Event()

    def __call__(self, story_ids: Sequence[str]) -> None:
        with self._lock:
            self._calls.append(list(story_ids))
        self.event.set()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._calls)

    @property
    def last(self) -> list[str]:
        with self._lock:
            return self._calls[-1]


@pytest.fixture
def db_url(database_url: str) -> str:
    return database_url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    pykka.ActorRegistry.stop_all(timeout=10)
    database.close()
    release_connections(database)


@pytest.fixture
def changes() -> Changes:
    return Changes()


def start_document(db: Database, on_change: Changes | None = None) -> DocumentProxy:
    ref = DocumentActor.start(db, on_change or Changes())
    return cast(DocumentProxy, ref.proxy())


@pytest.fixture
def document(db: Database, changes: Changes) -> DocumentProxy:
    return start_document(db, changes)


def draft(n: int = 0, prompt: str | None = None) -> StoryDraft:
    return StoryDraft(
        title=f"Story {n}",
        body=f"The body of story {n}.",
        image_generation_prompt=f"A portrait for story {n}" if prompt is None else prompt,
    )


def insert(document: DocumentProxy, n: int = 0) -> Story:
    return document.insert_story(draft(n)).get(timeout=TIMEOUT)


def claim(document: DocumentProxy, story_id: str) -> PortraitJob:
    job = document.claim_portrait(story_id).get(timeout=TIMEOUT)
    assert job is not None
    return job


def pending_ids(document: DocumentProxy) -> list[str]:
    """Pending stories, oldest first: the order claims take them in."""
    stories = document.list_stories(PortraitStatus.PENDING, 1000).get(timeout=TIMEOUT)
    return [story.id for story in reversed(stories)]


def status_of(document: DocumentProxy, story_id: str) -> PortraitStatus:
    story = document.get_story(story_id).get(timeout=TIMEOUT)
    assert story is not None
    return story.portrait_status


def store(document: DocumentProxy, job: PortraitJob, sha: str = "ab" * 32) -> FileInfo | None:
    return document.store_portrait(job, sha, 123, "image/png").get(timeout=TIMEOUT)


def story_in_state(document: DocumentProxy, status: PortraitStatus, n: int = 0) -> Story:
    """A story brought to `status` through the actor's own transitions."""
    story = insert(document, n)
    if status is PortraitStatus.PENDING:
        return story
    job = claim(document, story.id)
    if status is PortraitStatus.STORED:
        assert store(document, job, f"{n:064x}") is not None
    elif status is PortraitStatus.FAILED:
        assert document.fail_portrait(job, status, "api_error: boom").get(timeout=TIMEOUT)
    elif status is PortraitStatus.SKIPPED:
        assert document.fail_portrait(job, status, "empty_prompt: no prompt").get(timeout=TIMEOUT)
    result = document.get_story(story.id).get(timeout=TIMEOUT)
    assert result is not None
    assert result.portrait_status is status
    return result


# Stories ----------------------------------------------------------------------------------


def test_an_inserted_story_is_stored_with_its_portrait_pending_in_the_same_row(
    document: DocumentProxy,
) -> None:
    before = datetime.now(UTC)

    story = document.insert_story(draft(1)).get(timeout=TIMEOUT)

    assert story.title == "Story 1"
    assert story.body == "The body of story 1."
    assert story.image_generation_prompt == "A portrait for story 1"
    assert story.portrait_status is PortraitStatus.PENDING
    assert story.portrait_error is None
    assert story.storage_id is None
    assert story.created_at.tzinfo is not None
    assert before - timedelta(seconds=5) <= story.created_at <= datetime.now(UTC)
    assert story.updated_at == story.created_at
    assert document.get_story(story.id).get(timeout=TIMEOUT) == story
    # The durable schedule is the row itself: no other table records the portrait.
    row = StoryRow.get_by_id(story.id)
    assert row.portrait_status == "pending"
    assert row.portrait_attempt == 0
    assert pending_ids(document) == [story.id]


def test_an_unknown_story_is_none(document: DocumentProxy) -> None:
    assert document.get_story("no-such-story").get(timeout=TIMEOUT) is None


def test_ids_are_opaque_strings_that_sort_by_creation(document: DocumentProxy) -> None:
    ids = [insert(document, n).id for n in range(25)]

    assert all(isinstance(story_id, str) and story_id for story_id in ids)
    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids
    assert pending_ids(document) == ids


def test_list_stories_is_newest_first(document: DocumentProxy) -> None:
    ids = [insert(document, n).id for n in range(5)]

    listed = document.list_stories().get(timeout=TIMEOUT)

    assert [story.id for story in listed] == ids[::-1]


def test_list_stories_honours_the_limit(document: DocumentProxy) -> None:
    ids = [insert(document, n).id for n in range(5)]

    listed = document.list_stories(limit=2).get(timeout=TIMEOUT)

    assert [story.id for story in listed] == [ids[4], ids[3]]


def test_list_stories_filters_by_status(document: DocumentProxy) -> None:
    pending_old = story_in_state(document, PortraitStatus.PENDING, 1)
    failed = story_in_state(document, PortraitStatus.FAILED, 2)
    stored = story_in_state(document, PortraitStatus.STORED, 3)
    pending_new = story_in_state(document, PortraitStatus.PENDING, 4)

    def listed(status: PortraitStatus, limit: int = 50) -> list[str]:
        return [s.id for s in document.list_stories(status=status, limit=limit).get(timeout=10)]

    assert listed(PortraitStatus.PENDING) == [pending_new.id, pending_old.id]
    assert listed(PortraitStatus.PENDING, limit=1) == [pending_new.id]
    assert listed(PortraitStatus.FAILED) == [failed.id]
    assert listed(PortraitStatus.STORED) == [stored.id]
    assert listed(PortraitStatus.GENERATING) == []


def test_delete_story_returns_the_storage_id_of_its_portrait(
    document: DocumentProxy,
) -> None:
    stored = story_in_state(document, PortraitStatus.STORED, 1)
    plain = insert(document, 2)

    assert document.delete_story(stored.id).get(timeout=TIMEOUT) == stored.storage_id
    assert stored.storage_id is not None
    assert document.delete_story(plain.id).get(timeout=TIMEOUT) is None
    assert document.get_story(stored.id).get(timeout=TIMEOUT) is None
    assert document.list_stories().get(timeout=TIMEOUT) == []
    # The file's row is the storage actor's to delete; deleting the story leaves it.
    assert document.get_file(stored.storage_id).get(timeout=TIMEOUT) is not None


def test_deleting_an_unknown_story_raises_story_not_found(document: DocumentProxy) -> None:
    story = insert(document)
    document.delete_story(story.id).get(timeout=TIMEOUT)

    with pytest.raises(StoryNotFound) as caught:
        document.delete_story(story.id).get(timeout=TIMEOUT)

    assert caught.value.story_id == story.id
    assert isinstance(caught.value, LookupError)


# Claims -----------------------------------------------------------------------------------


def test_a_pending_portrait_is_claimed_exactly_once(document: DocumentProxy) -> None:
    story = insert(document, 1)

    job = document.claim_portrait(story.id).get(timeout=TIMEOUT)
    again = document.claim_portrait(story.id).get(timeout=TIMEOUT)

    assert job == PortraitJob(story.id, "A portrait for story 1", 1)
    assert again is None
    claimed = document.get_story(story.id).get(timeout=TIMEOUT)
    assert claimed is not None
    assert claimed.portrait_status is PortraitStatus.GENERATING
    assert claimed.updated_at >= story.updated_at
    assert pending_ids(document) == []
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
    document: DocumentProxy, status: PortraitStatus
) -> None:
    story = story_in_state(document, status)

    assert document.claim_portrait(story.id).get(timeout=TIMEOUT) is None
    assert status_of(document, story.id) is status


def test_claiming_an_unknown_story_returns_none(document: DocumentProxy) -> None:
    assert document.claim_portrait("no-such-story").get(timeout=TIMEOUT) is None


def test_each_claim_after_a_reschedule_is_a_new_attempt(document: DocumentProxy) -> None:
    story = insert(document)

    attempts = []
    for _ in range(3):
        job = claim(document, story.id)
        attempts.append(job.attempt)
        document.fail_portrait(job, PortraitStatus.FAILED, "api_error: 500").get(timeout=TIMEOUT)
        document.reschedule_portrait(story.id).get(timeout=TIMEOUT)

    assert attempts == [1, 2, 3]


# Outcomes ---------------------------------------------------------------------------------


def test_storing_a_claimed_portrait_records_its_file_and_settles_the_story(
    document: DocumentProxy,
) -> None:
    story = insert(document)
    job = claim(document, story.id)

    info = store(document, job, "cd" * 32)

    assert info is not None
    assert document.get_file(info.id).get(timeout=TIMEOUT) == info
    assert (info.sha256, info.size, info.content_type) == ("cd" * 32, 123, "image/png")
    done = document.get_story(story.id).get(timeout=TIMEOUT)
    assert done is not None
    assert done.portrait_status is PortraitStatus.STORED
    assert done.storage_id == info.id
    assert done.portrait_error is None


@pytest.mark.parametrize("status", [PortraitStatus.FAILED, PortraitStatus.SKIPPED])
def test_failing_a_claimed_portrait_records_the_status_and_error(
    document: DocumentProxy, status: PortraitStatus
) -> None:
    story = insert(document)
    job = claim(document, story.id)

    assert document.fail_portrait(job, status, "rate_limited: slow down").get(timeout=TIMEOUT)

    done = document.get_story(story.id).get(timeout=TIMEOUT)
    assert done is not None
    assert done.portrait_status is status
    assert done.portrait_error == "rate_limited: slow down"
    assert done.storage_id is None


def test_a_stale_attempt_cannot_overwrite_a_newer_one(document: DocumentProxy) -> None:
    story = insert(document)
    first = claim(document, story.id)
    document.fail_generating("interrupted: restarted").get(timeout=TIMEOUT)
    document.reschedule_portrait(story.id).get(timeout=TIMEOUT)
    second = claim(document, story.id)
    before = document.get_story(story.id).get(timeout=TIMEOUT)

    late_store = store(document, first)
    late_fail = document.fail_portrait(first, PortraitStatus.FAILED, "timeout: late")

    assert late_store is None
    assert late_fail.get(timeout=TIMEOUT) is False
    assert document.get_story(story.id).get(timeout=TIMEOUT) == before
    assert StoredFile.select().count() == 0  # the late store left no row
    assert StoryRow.get_by_id(story.id).portrait_attempt == second.attempt == 2
    assert store(document, second) is not None


@pytest.mark.parametrize(
    "status", [PortraitStatus.STORED, PortraitStatus.FAILED, PortraitStatus.PENDING]
)
def test_an_outcome_lands_only_while_the_portrait_is_generating(
    document: DocumentProxy, status: PortraitStatus
) -> None:
    story = insert(document)
    job = claim(document, story.id)
    if status is PortraitStatus.STORED:
        store(document, job)
    else:
        document.fail_portrait(job, PortraitStatus.FAILED, "api_error: x").get(timeout=TIMEOUT)
        if status is PortraitStatus.PENDING:
            document.reschedule_portrait(story.id).get(timeout=TIMEOUT)
    before = document.get_story(story.id).get(timeout=TIMEOUT)
    assert before is not None
    assert before.portrait_status is status

    assert store(document, job) is None
    assert (
        document.fail_portrait(job, PortraitStatus.FAILED, "crashed: x").get(timeout=TIMEOUT)
        is False
    )
    assert document.get_story(story.id).get(timeout=TIMEOUT) == before


def test_an_outcome_for_a_deleted_story_returns_false(document: DocumentProxy) -> None:
    story = insert(document)
    job = claim(document, story.id)
    document.delete_story(story.id).get(timeout=TIMEOUT)

    assert store(document, job) is None
    assert StoredFile.select().count() == 0
    assert (
        document.fail_portrait(job, PortraitStatus.FAILED, "api_error: x").get(timeout=TIMEOUT)
        is False
    )


# Recovery ---------------------------------------------------------------------------------


def test_fail_generating_fails_every_generating_portrait_and_nothing_else(
    document: DocumentProxy,
) -> None:
    generating = [story_in_state(document, PortraitStatus.GENERATING, n) for n in range(3)]
    pending = story_in_state(document, PortraitStatus.PENDING, 10)
    stored = story_in_state(document, PortraitStatus.STORED, 11)
    skipped = story_in_state(document, PortraitStatus.SKIPPED, 12)

    failed_ids = document.fail_generating("interrupted: the process stopped").get(timeout=10)

    assert sorted(failed_ids) == sorted(story.id for story in generating)
    for story in generating:
        now = document.get_story(story.id).get(timeout=TIMEOUT)
        assert now is not None
        assert now.portrait_status is PortraitStatus.FAILED
        assert now.portrait_error == "interrupted: the process stopped"
    assert status_of(document, pending.id) is PortraitStatus.PENDING
    assert status_of(document, stored.id) is PortraitStatus.STORED
    assert document.get_story(skipped.id).get(timeout=TIMEOUT) == skipped
    assert document.fail_generating("interrupted: again").get(timeout=TIMEOUT) == []


def test_fail_stale_fails_only_portraits_started_before_the_cutoff(
    document: DocumentProxy,
) -> None:
    old = story_in_state(document, PortraitStatus.GENERATING, 1)
    fresh = story_in_state(document, PortraitStatus.GENERATING, 2)
    # Pretend the first claim happened an hour ago.
    StoryRow.update(portrait_started_at=utc_now() - timedelta(hours=1)).where(
        StoryRow.id == old.id
    ).execute()

    failed_ids = document.fail_stale("timeout: generating too long", 600).get(timeout=TIMEOUT)

    assert failed_ids == [old.id]
    story = document.get_story(old.id).get(timeout=TIMEOUT)
    assert story is not None
    assert story.portrait_status is PortraitStatus.FAILED
    assert story.portrait_error == "timeout: generating too long"
    assert status_of(document, fresh.id) is PortraitStatus.GENERATING
    assert document.fail_stale("timeout: x", 7200).get(timeout=TIMEOUT) == []


def test_fail_generating_accepts_an_aware_cutoff(document: DocumentProxy) -> None:
    old = story_in_state(document, PortraitStatus.GENERATING, 1)
    StoryRow.update(portrait_started_at=utc_now() - timedelta(minutes=30)).where(
        StoryRow.id == old.id
    ).execute()
    fresh = story_in_state(document, PortraitStatus.GENERATING, 2)

    cutoff = datetime.now(UTC) - timedelta(minutes=5)
    failed_ids = document.fail_generating("interrupted: x", cutoff).get(timeout=TIMEOUT)

    assert failed_ids == [old.id]
    assert status_of(document, fresh.id) is PortraitStatus.GENERATING


def test_fail_generating_converts_a_cutoff_in_another_time_zone(document: DocumentProxy) -> None:
    old = story_in_state(document, PortraitStatus.GENERATING, 1)
    StoryRow.update(portrait_started_at=utc_now() - timedelta(minutes=30)).where(
        StoryRow.id == old.id
    ).execute()
    fresh = story_in_state(document, PortraitStatus.GENERATING, 2)
    new_york_winter = timezone(timedelta(hours=-5))

    cutoff = datetime.now(new_york_winter) - timedelta(minutes=5)
    failed_ids = document.fail_generating("interrupted: x", cutoff).get(timeout=TIMEOUT)

    assert failed_ids == [old.id]
    assert status_of(document, fresh.id) is PortraitStatus.GENERATING


# Rescheduling -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [PortraitStatus.FAILED, PortraitStatus.SKIPPED])
def test_a_failed_or_skipped_portrait_can_be_rescheduled(
    document: DocumentProxy, status: PortraitStatus
) -> None:
    story = story_in_state(document, status)

    again = document.reschedule_portrait(story.id).get(timeout=TIMEOUT)

    assert again.portrait_status is PortraitStatus.PENDING
    assert again.portrait_error is None
    assert document.get_story(story.id).get(timeout=TIMEOUT) == again
    assert pending_ids(document) == [story.id]
    assert claim(document, story.id).attempt == 2


def test_a_stored_portrait_is_rescheduled_only_with_force(document: DocumentProxy) -> None:
    story = story_in_state(document, PortraitStatus.STORED)

    with pytest.raises(PortraitConflict):
        document.reschedule_portrait(story.id).get(timeout=TIMEOUT)
    assert status_of(document, story.id) is PortraitStatus.STORED

    again = document.reschedule_portrait(story.id, force=True).get(timeout=TIMEOUT)
    assert again.portrait_status is PortraitStatus.PENDING
    assert status_of(document, story.id) is PortraitStatus.PENDING


@pytest.mark.parametrize("status", [PortraitStatus.PENDING, PortraitStatus.GENERATING])
@pytest.mark.parametrize("force", [False, True])
def test_a_pending_or_generating_portrait_cannot_be_rescheduled(
    document: DocumentProxy, status: PortraitStatus, force: bool
) -> None:
    story = story_in_state(document, status)
    before = document.get_story(story.id).get(timeout=TIMEOUT)

    with pytest.raises(PortraitConflict):
        document.reschedule_portrait(story.id, force=force).get(timeout=TIMEOUT)

    assert document.get_story(story.id).get(timeout=TIMEOUT) == before


def test_rescheduling_an_unknown_story_raises_story_not_found(document: DocumentProxy) -> None:
    with pytest.raises(StoryNotFound):
        document.reschedule_portrait("no-such-story").get(timeout=TIMEOUT)


def test_the_actor_lives_on_after_an_error_it_raises(document: DocumentProxy) -> None:
    with pytest.raises(StoryNotFound):
        document.delete_story("no-such-story").get(timeout=TIMEOUT)

    assert insert(document).portrait_status is PortraitStatus.PENDING


# Counts -----------------------------------------------------------------------------------


def test_count_by_status_counts_every_state(document: DocumentProxy) -> None:
    assert document.count_by_status().get(timeout=TIMEOUT) == dict.fromkeys(PortraitStatus, 0)

    for n in range(3):
        story_in_state(document, PortraitStatus.PENDING, n)
    for n in range(10, 12):
        story_in_state(document, PortraitStatus.FAILED, n)
    story_in_state(document, PortraitStatus.STORED, 20)
    story_in_state(document, PortraitStatus.GENERATING, 30)

    assert document.count_by_status().get(timeout=TIMEOUT) == {
        PortraitStatus.PENDING: 3,
        PortraitStatus.GENERATING: 1,
        PortraitStatus.STORED: 1,
        PortraitStatus.FAILED: 2,
        PortraitStatus.SKIPPED: 0,
    }


def test_count_failures_by_code_groups_errors_by_their_code(document: DocumentProxy) -> None:
    errors = [
        (PortraitStatus.FAILED, "api_error: 500 from Recraft"),
        (PortraitStatus.FAILED, "api_error: 502 from Recraft"),
        (PortraitStatus.FAILED, "timeout: no answer in 120 s"),
        (PortraitStatus.SKIPPED, "empty_prompt: the prompt is blank"),
    ]
    for n, (status, error) in enumerate(errors):
        job = claim(document, insert(document, n).id)
        document.fail_portrait(job, status, error).get(timeout=TIMEOUT)
    story_in_state(document, PortraitStatus.STORED, 99)
    insert(document, 100)

    assert document.count_failures_by_code().get(timeout=TIMEOUT) == {
        "api_error": 2,
        "timeout": 1,
        "empty_prompt": 1,
    }


# Change notifications ---------------------------------------------------------------------


def test_on_change_is_called_once_for_each_change_and_never_for_a_read(
    document: DocumentProxy, changes: Changes
) -> None:
    story = insert(document)
    assert changes.event.is_set()
    assert (changes.count, changes.last) == (1, [story.id])

    document.get_story(story.id).get(timeout=TIMEOUT)
    document.list_stories().get(timeout=TIMEOUT)
    document.count_by_status().get(timeout=TIMEOUT)
    assert changes.count == 1

    job = claim(document, story.id)
    assert (changes.count, changes.last) == (2, [story.id])
    document.claim_portrait(story.id).get(timeout=TIMEOUT)  # not pending: no change
    assert changes.count == 2

    document.fail_portrait(job, PortraitStatus.FAILED, "api_error: x").get(timeout=TIMEOUT)
    assert changes.count == 3
    document.fail_portrait(job, PortraitStatus.FAILED, "api_error: x").get(timeout=TIMEOUT)
    assert changes.count == 3  # stale: no change

    document.reschedule_portrait(story.id).get(timeout=TIMEOUT)
    assert changes.count == 4
    job = claim(document, story.id)
    assert changes.count == 5
    store(document, job)
    assert (changes.count, changes.last) == (6, [story.id])

    other = insert(document, 2)
    claim(document, other.id)
    assert (changes.count, changes.last) == (8, [other.id])
    document.fail_generating("interrupted: x").get(timeout=TIMEOUT)
    assert (changes.count, changes.last) == (9, [other.id])
    document.fail_generating("interrupted: x").get(timeout=TIMEOUT)  # nothing to fail
    assert changes.count == 9

    document.delete_story(story.id).get(timeout=TIMEOUT)
    assert changes.count == 10


# Concurrency ------------------------------------------------------------------------------


def test_two_actors_inserting_at_once_into_one_file_lose_no_rows(db: Database) -> None:
    first, second = start_document(db), start_document(db)
    per_actor = 100

    futures = []
    for n in range(per_actor):
        futures.append(first.insert_story(draft(n)))
        futures.append(second.insert_story(draft(1000 + n)))
    stories = [future.get(timeout=30) for future in futures]

    assert len({story.id for story in stories}) == 2 * per_actor
    listed = first.list_stories(limit=10 * per_actor).get(timeout=TIMEOUT)
    assert {story.id for story in listed} == {story.id for story in stories}
    assert second.count_by_status().get(timeout=TIMEOUT)[PortraitStatus.PENDING] == 2 * per_actor


def test_a_second_actor_opened_on_the_same_file_works_alongside_the_first(
    db: Database, db_url: str
) -> None:
    first = start_document(db)
    story = insert(first, 1)
    other_db = open_database(db_url)  # what a second system, or read_counts, does
    try:
        second = start_document(other_db)

        assert second.get_story(story.id).get(timeout=TIMEOUT) == story
        from_second = insert(second, 2)
        # The first actor's transactions must still work: each one takes the write lock.
        assert first.delete_story(from_second.id).get(timeout=TIMEOUT) is None
        job = claim(first, story.id)
        second.fail_portrait(job, PortraitStatus.FAILED, "api_error: x").get(timeout=TIMEOUT)
        again = first.reschedule_portrait(story.id).get(timeout=TIMEOUT)
        assert again.portrait_status is PortraitStatus.PENDING
        assert second.fail_generating("interrupted: x").get(timeout=TIMEOUT) == []
        assert [s.id for s in second.list_stories().get(timeout=TIMEOUT)] == [story.id]
    finally:
        other_db.close()


def test_two_actors_claiming_the_same_portraits_claim_each_exactly_once(db: Database) -> None:
    first, second = start_document(db), start_document(db)
    ids = [insert(first, n).id for n in range(60)]

    first_claims = [first.claim_portrait(story_id) for story_id in ids]
    second_claims = [second.claim_portrait(story_id) for story_id in reversed(ids)]
    jobs = [f.get(timeout=30) for f in first_claims + second_claims]

    won = [job for job in jobs if job is not None]
    assert sorted(job.story_id for job in won) == sorted(ids)
    assert {job.attempt for job in won} == {1}
    assert first.count_by_status().get(timeout=TIMEOUT)[PortraitStatus.GENERATING] == len(ids)


CHILD_WRITER = """
import sys
from vignette.actors.document import DocumentActor
from vignette.records import StoryDraft
from vignette.models import open_database

url, count = sys.argv[1], int(sys.argv[2])
ref = DocumentActor.start(open_database(url))
proxy = ref.proxy()
print("ready", flush=True)
sys.stdin.readline()
futures = [
    proxy.insert_story(StoryDraft(f"child {n}", "body", "prompt")) for n in range(count)
]
for future in futures:
    future.get(timeout=60)
ref.stop()
print("done", flush=True)
"""


def test_another_process_inserting_at_the_same_time_loses_no_rows(
    db: Database, db_url: str
) -> None:
    document = start_document(db)
    count = 150
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_WRITER, db_url, str(count)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        futures = [document.insert_story(draft(n)) for n in range(count)]
        ours = [future.get(timeout=60) for future in futures]
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()

    assert child.returncode == 0, err
    assert out.strip() == "done"
    listed = document.list_stories(limit=10 * count).get(timeout=TIMEOUT)
    titles = [story.title for story in listed]
    assert len(titles) == 2 * count
    assert sorted(t for t in titles if t.startswith("child ")) == sorted(
        f"child {n}" for n in range(count)
    )
    assert {story.id for story in ours} <= {story.id for story in listed}
