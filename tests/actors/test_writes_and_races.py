"""Writes that cannot outlive their caller, and races between instances on one database.

A write carries its caller's deadline: one that reaches the DocumentActor after it is
refused and changes nothing. Rescheduling and deleting are single conditional statements:
two DocumentActors (two connections, as two instances have) racing reschedules against
claims never produce two claims under one attempt number.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, cast

import pykka
import pytest

from tests.models.rows import draft
from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.errors import DeadlineExpired, PortraitConflict
from vignette.models import StoredFile, open_database
from vignette.records import PortraitJob, PortraitStatus

TIMEOUT = 10
ROUNDS = 40


@pytest.fixture
def documents(database_url: str) -> Iterator[tuple[DocumentProxy, DocumentProxy]]:
    """Two DocumentActors on one database, each with its own connection."""
    db = open_database(database_url)
    refs = [DocumentActor.start(db), DocumentActor.start(db)]
    yield cast(DocumentProxy, refs[0].proxy()), cast(DocumentProxy, refs[1].proxy())
    for ref in refs:
        ref.stop()


def test_a_write_that_reaches_the_actor_after_its_deadline_changes_nothing(
    documents: tuple[DocumentProxy, DocumentProxy],
) -> None:
    document, _ = documents
    story = document.insert_story(draft()).get(timeout=TIMEOUT)
    past = time.monotonic() - 0.001

    with pytest.raises(DeadlineExpired):
        document.claim_portrait(story.id, owner="me", deadline=past).get(timeout=TIMEOUT)
    with pytest.raises(DeadlineExpired):
        document.delete_story(story.id, deadline=past).get(timeout=TIMEOUT)
    job = document.claim_portrait(story.id, owner="me").get(timeout=TIMEOUT)
    assert job is not None
    with pytest.raises(DeadlineExpired):
        document.store_portrait(job, "ab" * 32, 10, "image/png", deadline=past).get(timeout=TIMEOUT)
    with pytest.raises(DeadlineExpired):
        document.fail_portrait(job, PortraitStatus.FAILED, "api_error: x", deadline=past).get(
            timeout=TIMEOUT
        )

    after = document.get_story(story.id).get(timeout=TIMEOUT)
    assert after is not None
    assert after.portrait_status is PortraitStatus.GENERATING
    assert StoredFile.select().count() == 0


def test_racing_reschedules_and_claims_never_give_two_claims_one_attempt(
    documents: tuple[DocumentProxy, DocumentProxy],
) -> None:
    first, second = documents
    story = first.insert_story(draft()).get(timeout=TIMEOUT)
    claims: list[PortraitJob] = []
    most_in_a_round = 0
    for _ in range(ROUNDS):
        before = len(claims)
        # Both instances reschedule and claim at once, in both orders.
        futures: list[pykka.Future[Any]] = [
            first.reschedule_portrait(story.id, force=True),
            second.claim_portrait(story.id, owner="second"),
            second.reschedule_portrait(story.id, force=True),
            first.claim_portrait(story.id, owner="first"),
        ]
        for future in futures:
            try:
                result = future.get(timeout=TIMEOUT)
            except PortraitConflict:
                continue  # rescheduling a portrait that is generating is refused
            if isinstance(result, PortraitJob):
                claims.append(result)
        most_in_a_round = max(most_in_a_round, len(claims) - before)
        # Settle whatever is generating, so the next round can reschedule it.
        for job in claims[before:]:
            first.fail_portrait(job, PortraitStatus.FAILED, "api_error: round over").get(
                timeout=TIMEOUT
            )

    # One reschedule lands per round (the row is then pending or generating, which neither
    # reschedule may overwrite), so one claim at most: one paid call per regeneration.
    assert claims, "no claim was made"
    assert most_in_a_round == 1
    attempts = [job.attempt for job in claims]
    assert attempts == sorted(set(attempts)), f"two claims under one attempt: {attempts}"
    print(f"{ROUNDS} racing rounds: {len(claims)} claims, at most {most_in_a_round} in one")


def test_a_delete_racing_a_store_leaves_no_row_and_reports_the_stored_file(
    documents: tuple[DocumentProxy, DocumentProxy],
) -> None:
    first, second = documents
    for _ in range(ROUNDS // 4):
        story = first.insert_story(draft()).get(timeout=TIMEOUT)
        job = first.claim_portrait(story.id, owner="first").get(timeout=TIMEOUT)
        assert job is not None
        stored = first.store_portrait(job, "cd" * 32, 10, "image/png")
        deleted = second.delete_story(story.id)
        info = stored.get(timeout=TIMEOUT)
        storage_id = deleted.get(timeout=TIMEOUT)
        # Either the store came first (the delete names its file) or it found no row.
        assert (info is None and storage_id is None) or (info is not None and storage_id == info.id)
        assert first.get_story(story.id).get(timeout=TIMEOUT) is None
