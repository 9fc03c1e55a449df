"""The counts by portrait state stay equal to the stories' states: after every kind of
change, under concurrent writers, across a rollback, and when built for an existing
database."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import pytest
from peewee import Database, SqliteDatabase, fn

from tests.models.rows import claim, insert, store, story_in_state
from vignette.errors import PortraitConflict, StoryNotFound
from vignette.models import counts, migrate, portraits, stories
from vignette.models.tables import FailureCountRow, StoryCountRow, StoryRow
from vignette.records import PortraitStatus

WORKERS = 4
ROUNDS = 12
TIMEOUT_S = 60


def truth() -> dict[PortraitStatus, int]:
    """The counts as the stories themselves give them."""
    found = dict.fromkeys(PortraitStatus, 0)
    query = StoryRow.select(StoryRow.portrait_status, fn.COUNT(StoryRow.id))
    rows = cast("list[tuple[str, int]]", list(query.group_by(StoryRow.portrait_status).tuples()))
    for status, count in rows:
        found[PortraitStatus(status)] = count
    return found


def code_truth() -> dict[str, int]:
    """The failure codes as the stories themselves give them."""
    found: dict[str, int] = {}
    query = StoryRow.select(StoryRow.portrait_error).where(StoryRow.portrait_error.is_null(False))
    for (error,) in cast("list[tuple[str]]", list(query.tuples())):
        code = error.partition(":")[0]
        found[code] = found.get(code, 0) + 1
    return found


def test_every_kind_of_change_keeps_the_counts_right(db: Database) -> None:
    assert counts.by_status() == dict.fromkeys(PortraitStatus, 0)
    made = [story_in_state(db, status, n) for n, status in enumerate(PortraitStatus)]
    made += [insert(db, 10 + n) for n in range(3)]
    assert counts.by_status() == truth()
    assert counts.by_status()[PortraitStatus.PENDING] == 4
    assert counts.failures_by_code() == code_truth() == {"api_error": 1, "empty_prompt": 1}

    stories.reschedule_portrait(db, made[3].id)  # failed -> pending
    stories.reschedule_portrait(db, made[2].id, force=True)  # stored -> pending
    job = claim(db, made[0].id)
    assert portraits.unclaim(job)  # generating -> pending
    stories.delete_story(db, made[4].id)  # a skipped one
    story_in_state(db, PortraitStatus.FAILED, 20)
    stories.delete_story(db, stories.list_stories(PortraitStatus.FAILED, 1)[0].id)
    for n in range(3):
        claim(db, made[5 + n].id)
    assert portraits.fail_generating("interrupted: stopped") != []  # several rows at once
    portraits.renew_leases("nobody", 60)  # changes no state

    assert counts.by_status() == truth()
    assert counts.by_status()[PortraitStatus.GENERATING] == 0
    assert counts.failures_by_code() == code_truth() == {"interrupted": 4}


def test_a_rolled_back_change_leaves_the_counts_as_they_were(db: Database) -> None:
    insert(db, 1)
    before = counts.by_status()
    with db.atomic() as transaction:
        insert(db, 2)
        claim(db, stories.list_stories(PortraitStatus.PENDING, 1)[0].id)
        transaction.rollback()

    assert counts.by_status() == before == truth()


def _work(db: Database, seed: int) -> None:
    """One writer: inserts, claims, settles, reschedules and deletes, in a random mix."""
    chance = random.Random(seed)
    with db.connection_context():
        for n in range(ROUNDS):
            story = insert(db, seed * 1000 + n)
            job = portraits.claim_portrait(db, owner=f"writer-{seed}")
            if job is not None:
                if chance.random() < 0.5:
                    store(db, job, f"{seed:032x}{n:032x}")
                else:
                    portraits.fail_portrait(db, job, PortraitStatus.FAILED, "api_error: no")
            try:
                if chance.random() < 0.3:
                    stories.delete_story(db, story.id)
                elif chance.random() < 0.3:
                    stories.reschedule_portrait(db, story.id, force=True)
            except (PortraitConflict, StoryNotFound):
                pass  # another writer claimed or settled it in between


def test_concurrent_writers_keep_the_counts_right(db: Database) -> None:
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(_work, db, seed) for seed in range(WORKERS)]
        for future in futures:
            future.result(timeout=TIMEOUT_S)

    assert counts.by_status() == truth()
    assert sum(truth().values()) > 0
    assert counts.failures_by_code() == code_truth()


def test_an_existing_database_gets_its_counts_built_once_on_start(db: Database) -> None:
    for n, status in enumerate([*PortraitStatus, PortraitStatus.STORED]):
        story_in_state(db, status, n)
    _forget_counts(db)  # as a database written before the counts existed

    migrate(db)
    built = counts.by_status()
    migrate(db)  # a second start builds nothing again

    assert built == truth() == counts.by_status()
    assert built[PortraitStatus.STORED] == 2
    assert counts.failures_by_code() == code_truth() == {"api_error": 1, "empty_prompt": 1}
    insert(db, 99)  # and the triggers keep them from there
    assert counts.by_status()[PortraitStatus.PENDING] == built[PortraitStatus.PENDING] + 1


def _forget_counts(db: Database) -> None:
    on = "" if isinstance(db, SqliteDatabase) else " ON stories"
    for event in ("insert", "update", "delete"):
        db.execute_sql(f"DROP TRIGGER story_counts_{event}{on}")
    if isinstance(db, SqliteDatabase):
        db.execute_sql("DROP TRIGGER failure_counts_update")
    db.drop_tables([StoryCountRow, FailureCountRow])


@pytest.mark.parametrize("state", list(PortraitStatus))
def test_counts_read_the_state_a_story_was_brought_to(db: Database, state: PortraitStatus) -> None:
    story_in_state(db, state)

    assert counts.by_status() == {s: int(s is state) for s in PortraitStatus}
