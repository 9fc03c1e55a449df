"""The Recraft call ledger on a real database: the rate limit and the budget counted from it
over their windows, for every instance; holds; retries; outcomes and credits."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

from peewee import Database

from tests.models.rows import draft, get, insert
from vignette.models import calls, ledger, portraits, stories
from vignette.models.ledger import Held, HoldReason, Limits
from vignette.models.tables import RecraftCallRow
from vignette.records import PortraitJob, PortraitStatus

NO_CAP = Limits(per_minute=100_000)


def claim(db: Database, limits: Limits, owner: str = "a") -> PortraitJob | Held | None:
    return ledger.claim_within_limits(db, limits, owner=owner, lease_s=60)


def ledger_rows() -> list[RecraftCallRow]:
    return list(RecraftCallRow.select().order_by(RecraftCallRow.sent_at))


def age_calls(seconds: float) -> None:
    """Move every recorded call `seconds` into the past."""
    for row in RecraftCallRow.select():
        RecraftCallRow.update(sent_at=row.sent_at - timedelta(seconds=seconds)).where(
            RecraftCallRow.id == row.id
        ).execute()


def test_the_budget_counts_every_instance_and_holds_the_rest_pending(db: Database) -> None:
    for n in range(5):
        insert(db, n)
    budget = Limits(per_minute=100, per_hour=3)

    answers = [claim(db, budget, owner=f"instance-{n % 3}") for n in range(5)]

    jobs = [a for a in answers if isinstance(a, PortraitJob)]
    assert len(jobs) == 3
    held = answers[3]
    assert isinstance(held, Held)
    assert held.reason is HoldReason.BUDGET
    assert held.wait_s is not None
    assert 3500 < held.wait_s <= 3600
    assert "max_calls_per_hour = 3" in held.detail
    assert answers[4] == dataclasses.replace(held, wait_s=answers[4].wait_s)  # type: ignore[union-attr]
    assert portraits.count_pending() == 2
    rows = ledger_rows()
    assert [(r.story_id, r.attempt, r.call_number) for r in rows] == [
        (job.story_id, 1, 1) for job in jobs
    ]
    assert {r.instance for r in rows} == {"instance-0", "instance-1", "instance-2"}


def test_the_rate_limit_counts_the_last_minute_only(db: Database) -> None:
    for n in range(30):
        insert(db, n)
    rate = Limits(per_minute=12)

    first = [claim(db, rate) for _ in range(13)]
    assert sum(isinstance(a, PortraitJob) for a in first) == 12
    held = first[12]
    assert isinstance(held, Held)
    assert held.reason is HoldReason.RATE_LIMIT
    assert held.wait_s is not None
    assert 0 < held.wait_s <= 60

    age_calls(59)  # still inside the minute
    assert isinstance(claim(db, rate), Held)
    age_calls(2)  # now 61 s old: out of the window
    second = [claim(db, rate) for _ in range(13)]
    assert sum(isinstance(a, PortraitJob) for a in second) == 12
    assert isinstance(second[12], Held)
    assert len(ledger_rows()) == 24


def test_claims_from_many_threads_at_once_never_pass_the_limit(db: Database) -> None:
    for n in range(40):
        insert(db, n)
    rate = Limits(per_minute=12)
    start = threading.Barrier(4)
    answers: list[PortraitJob | Held | None] = []

    def instance(name: str) -> None:
        start.wait(timeout=30)
        with db.connection_context():
            for _ in range(10):
                answers.append(claim(db, rate, owner=name))

    threads = [threading.Thread(target=instance, args=(f"i{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(isinstance(a, PortraitJob) for a in answers) == 12
    assert len(ledger_rows()) == 12
    assert portraits.count_pending() == 28


def test_retries_are_recorded_only_within_the_budget_and_while_the_claim_holds(
    db: Database,
) -> None:
    insert(db, 1)
    budget = Limits(per_minute=100, per_hour=2)
    job = claim(db, budget)
    assert isinstance(job, PortraitJob)

    assert ledger.admit_call(db, job, 2, "a", budget) is None
    refused = ledger.admit_call(db, job, 3, "a", budget)

    assert isinstance(refused, Held)
    assert refused.reason is HoldReason.BUDGET
    assert [r.call_number for r in ledger_rows()] == [1, 2]
    portraits.fail_portrait(db, job, PortraitStatus.FAILED, "api_error: boom")
    gone = ledger.admit_call(db, job, 3, "a", NO_CAP)
    assert isinstance(gone, Held)
    assert gone.reason is HoldReason.CLAIM_LOST
    assert len(ledger_rows()) == 2


def test_a_retry_after_hold_stops_every_instance_until_it_ends(db: Database) -> None:
    insert(db, 1)
    blank = stories.insert_story(db, draft(2, prompt="  \n"))

    ledger.set_hold(db, HoldReason.RETRY_AFTER, 30, "Recraft answered 429", "instance-a")
    ledger.set_hold(db, HoldReason.RETRY_AFTER, 5, "a shorter one", "instance-c")
    skipped = claim(db, NO_CAP, owner="instance-b")
    held = claim(db, NO_CAP, owner="instance-b")

    # A blank prompt needs no call: it is still claimed (and will be skipped).
    assert isinstance(skipped, PortraitJob)
    assert skipped.story_id == blank.id
    assert isinstance(held, Held)
    assert held.reason is HoldReason.RETRY_AFTER
    assert held.wait_s is not None
    assert 25 < held.wait_s <= 30
    assert ledger_rows() == []

    assert ledger.clear_holds(db, HoldReason.RETRY_AFTER) == 1
    assert isinstance(claim(db, NO_CAP), PortraitJob)


def test_not_enough_credits_holds_until_cleared(db: Database) -> None:
    insert(db, 1)
    ledger.set_hold(db, HoldReason.NOT_ENOUGH_CREDITS, None, "402", "instance-a")

    held = claim(db, NO_CAP)

    assert isinstance(held, Held)
    assert held.wait_s is None
    assert held.until is None
    assert [h.reason for h in ledger.holds(db, NO_CAP)] == [HoldReason.NOT_ENOUGH_CREDITS]
    assert ledger.clear_holds(db) == 1
    assert ledger.holds(db, NO_CAP) == []
    assert isinstance(claim(db, NO_CAP), PortraitJob)


def test_outcomes_and_credits_are_summed_by_hour_and_day_and_land_on_the_story(
    db: Database,
) -> None:
    first, second = insert(db, 1), insert(db, 2)
    jobs = [claim(db, NO_CAP), claim(db, NO_CAP)]
    assert all(isinstance(job, PortraitJob) for job in jobs)
    one, two = (job for job in jobs if isinstance(job, PortraitJob))
    assert ledger.record_outcome(db, one, 1, "ok", 40)
    assert ledger.record_outcome(db, two, 1, "http_500", None)
    age_calls(2 * 3600)  # out of the hour, still in the day
    third = insert(db, 3)
    job = claim(db, NO_CAP)
    assert isinstance(job, PortraitJob)
    assert job.story_id == third.id
    assert ledger.record_outcome(db, job, 1, "ok", 8)

    usage = calls.usage(db)
    assert portraits.store_portrait(db, dataclasses.replace(one, credits=40), "ab" * 32, 1, "x")

    assert (usage.calls_hour, usage.credits_hour) == (1, 8)
    assert (usage.calls_day, usage.credits_day) == (3, 48)
    assert get(db, first.id).portrait_credits == 40
    assert get(db, second.id).portrait_credits is None
    assert {r.outcome for r in ledger_rows()} == {"ok", "http_500"}


def test_calls_older_than_a_week_are_forgotten(db: Database) -> None:
    insert(db, 1)
    insert(db, 2)
    assert isinstance(claim(db, NO_CAP), PortraitJob)
    age_calls(8 * 86_400)
    assert isinstance(claim(db, NO_CAP), PortraitJob)

    assert calls.forget_old_calls(db) == 1
    assert len(ledger_rows()) == 1


def test_a_claim_given_back_before_any_call_leaves_no_call_in_the_ledger(db: Database) -> None:
    insert(db, 1)
    job = claim(db, NO_CAP)
    assert isinstance(job, PortraitJob)

    assert portraits.unclaim(job)
    assert calls.forget_unsent(db, job)

    assert ledger_rows() == []
    assert portraits.count_pending() == 1
