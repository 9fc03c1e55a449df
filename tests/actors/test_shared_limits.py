"""The call ledger and Recraft's holds, seen from a running system: every call (retries
too) is recorded before it is sent and counted for every instance; a 429's Retry-After
and a 402 hold every instance; credits reach the story; the holds show in `/healthz`,
`/metrics` and `status`.

A second instance is the models' own claim, run in the test's thread on the same
database with another owner: it sees exactly what another process would.
"""

from __future__ import annotations

import argparse
import json
from typing import cast

import pytest
from fastapi.testclient import TestClient

from tests.fakes.recraft_server import Answer, RecraftServer
from vignette import metrics
from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.actors.leases import Housekeeping
from vignette.api.app import create_app
from vignette.cli.holds import holds
from vignette.cli.status import status
from vignette.models import database, ledger, open_database, stories
from vignette.models.ledger import Held, HoldReason, Limits
from vignette.models.tables import RecraftCallRow
from vignette.records import PortraitJob, PortraitStatus, StoryDraft
from vignette.system.facade import StorySystem
from vignette.system.wiring import recraft_client_factory

LOCAL = "http://127.0.0.1"


def submit(system: StorySystem, prompt: str) -> str:
    return system.submit_story(title=prompt, body="A story.", image_generation_prompt=prompt).id


def ledger_calls() -> list[RecraftCallRow]:
    return list(RecraftCallRow.select().order_by(RecraftCallRow.sent_at))


def other_instance_claims(limits: Limits) -> object:
    """A claim by another instance on the same database."""
    return ledger.claim_within_limits(database.obj, limits, owner="other:1:x", lease_s=60)


def test_a_429s_retry_after_holds_every_instance_until_it_ends(
    local_settings, start_system, recraft: RecraftServer
) -> None:
    recraft.fake.generation_script = [
        Answer(429, headers={"Retry-After": "3"}, body=b'{"code": "too_many_requests"}')
    ]
    system = start_system(local_settings())

    limited = system.wait_for_portrait(submit(system, "meets a 429"), timeout=30)
    next_id = submit(system, "after the pause")
    side = system.portrait_side()  # the supervisor has tried to claim it meanwhile
    held_by_other = other_instance_claims(Limits(per_minute=1000))
    with TestClient(create_app(system), base_url=LOCAL) as client:
        health = client.get("/healthz").json()
        exposition = client.get("/metrics").text
    after = system.wait_for_portrait(next_id, timeout=30)

    assert limited.portrait_status is PortraitStatus.FAILED
    assert "Retry-After: 3 s" in (limited.portrait_error or "")
    assert isinstance(held_by_other, Held)
    assert held_by_other.reason is HoldReason.RETRY_AFTER
    assert [h.reason for h in side.held] == [HoldReason.RETRY_AFTER]
    assert health["portraits"]["held"][0]["reason"] == "retry_after"
    assert health["portraits"]["held"][0]["until"] is not None
    assert 'vignette_recraft_calls_held_by{reason="retry_after"} 1.0' in exposition
    assert after.portrait_status is PortraitStatus.STORED
    first_call, second_call = recraft.fake.calls
    assert second_call.at - first_call.at >= 2.9  # nobody called Recraft during the pause
    assert [(c.outcome, c.credits) for c in ledger_calls()] == [("http_429", None), ("ok", 40)]
    assert after.portrait_credits == 40


def test_retries_against_a_failing_recraft_never_pass_the_budget(
    local_settings, start_system, recraft: RecraftServer
) -> None:
    settings = local_settings(portraits__max_attempts=3, portraits__max_calls_per_hour=4)
    recraft.fake.error = (500, "text/plain", b"down for maintenance")
    no_wait = recraft_client_factory(settings, sleep=lambda seconds: None)
    system = start_system(settings, client_factory=no_wait)

    ids = [submit(system, f"story {n}") for n in range(3)]
    settled = [system.wait_for_portrait(story_id, timeout=30) for story_id in ids]
    held_id = submit(system, "held by the budget")
    side = system.portrait_side()

    assert {story.portrait_status for story in settled} == {PortraitStatus.FAILED}
    assert recraft.fake.call_count == 4
    assert len(ledger_calls()) == 4
    refusals = [s for s in settled if "retry not sent: budget" in (s.portrait_error or "")]
    assert refusals, [s.portrait_error for s in settled]
    assert side.held_for_s > 3000
    held = system.get_story(held_id)
    assert held is not None
    assert held.portrait_status is PortraitStatus.PENDING


def test_not_enough_credits_holds_every_call_until_an_operator_clears_it(
    local_settings,
    start_system,
    recraft: RecraftServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = local_settings()
    recraft.fake.generation_script = [
        Answer(402, body=json.dumps({"code": "not_enough_credits", "message": "Top up"}).encode())
    ]
    system = start_system(settings)
    broke = system.wait_for_portrait(submit(system, "no credits left"), timeout=30)
    waiting = submit(system, "waits for a top-up")
    system.portrait_side()
    capsys.readouterr()

    assert status(settings, argparse.Namespace()) == 0
    shown = capsys.readouterr().out
    assert holds(settings, argparse.Namespace(holds_command="list")) == 0
    listed = capsys.readouterr().out
    assert holds(settings, argparse.Namespace(holds_command="clear", reason=None)) == 0
    cleared = capsys.readouterr().err
    stored = system.wait_for_portrait(waiting, timeout=30)
    with TestClient(create_app(system), base_url=LOCAL) as client:
        gallery = client.get("/").text

    assert broke.portrait_status is PortraitStatus.FAILED
    assert "calls held (not_enough_credits) until cleared" in shown
    assert "1 pending portrait held until then" in shown
    assert "last hour" in shown
    assert "calls held (not_enough_credits) until cleared" in listed
    assert "cleared 1 hold" in cleared
    assert stored.portrait_status is PortraitStatus.STORED
    assert stored.portrait_credits == 40
    assert '<span class="credits">40 credits</span>' in gallery
    assert recraft.fake.call_count == 2
    assert metrics.REGISTRY.get_sample_value("vignette_recraft_credits_total") is not None


def test_the_accounts_calls_and_credits_reach_the_metrics_at_each_housekeeping_tick(
    local_settings,
) -> None:
    settings = local_settings()
    db = open_database(settings.database.url)
    with db.connection_context():
        stories.insert_story(db, StoryDraft("A story", "Its body.", "a portrait"))
        job = ledger.claim_within_limits(db, Limits(100), owner="other:1:x", lease_s=60)
        assert isinstance(job, PortraitJob)
        ledger.record_outcome(db, job, 1, "ok", 40)
    ref = DocumentActor.start(db)
    document = cast(DocumentProxy, ref.proxy())

    Housekeeping(document, "this:2:y", settings.portraits).tick([])

    def sample(name: str, window: str) -> float | None:
        return metrics.REGISTRY.get_sample_value(name, {"window": window})

    assert sample("vignette_recraft_account_calls", "hour") == 1
    assert sample("vignette_recraft_account_credits", "day") == 40
