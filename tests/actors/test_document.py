"""DocumentActor on a real database: its answers, change notices and concurrent use.

What each message does to the rows is tested on the models' functions (tests/models); here,
what the actor adds: the calls reach them through its thread, each change is announced to
`on_change`, an error goes back to the caller, and actors and processes share a database.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

import pykka
import pytest
from peewee import Database

from tests.models.rows import draft
from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.errors import StoryNotFound
from vignette.models import open_database, release_connections
from vignette.records import FileInfo, PortraitJob, PortraitStatus, Story

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


def insert(document: DocumentProxy, n: int = 0) -> Story:
    return document.insert_story(draft(n)).get(timeout=TIMEOUT)


def claim(document: DocumentProxy, story_id: str) -> PortraitJob:
    job = document.claim_portrait(story_id).get(timeout=TIMEOUT)
    assert job is not None
    return job


def store(document: DocumentProxy, job: PortraitJob, sha: str = "ab" * 32) -> FileInfo | None:
    return document.store_portrait(job, sha, 123, "image/png").get(timeout=TIMEOUT)


# The actor ------------------------------------------------------------------------------


def test_the_actor_lives_on_after_an_error_it_raises(document: DocumentProxy) -> None:
    with pytest.raises(StoryNotFound):
        document.delete_story("no-such-story").get(timeout=TIMEOUT)

    assert insert(document).portrait_status is PortraitStatus.PENDING


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
