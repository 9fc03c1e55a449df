"""Webhook events reach a real receiver, signed as Standard Webhooks has it, at least once."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from tests.fakes.webhook_receiver import OTHER_SECRET, SECRET, WebhookReceiver
from tests.webhooks.conftest import Outcomes
from vignette.cli.status import status
from vignette.config import Settings
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem

if TYPE_CHECKING:
    from loguru import Record

MAX_PAYLOAD_BYTES = 20_000


def submit(system: StorySystem, count: int, prompt: str = "a portrait") -> list[str]:
    return [
        system.submit_story(title=f"Story {n}", body="Body.", image_generation_prompt=prompt).id
        for n in range(count)
    ]


def test_twenty_portraits_give_twenty_signed_stored_events(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
    outcomes: Outcomes,
) -> None:
    system = start_system(hooked_settings())
    ids = submit(system, 20)
    stories = [system.wait_for_portrait(story_id, timeout=60) for story_id in ids]

    delivered = receiver.wait_for_delivered(20)
    outcomes.wait("delivered", 20)

    assert {story.portrait_status for story in stories} == {PortraitStatus.STORED}
    assert receiver.invalid == []
    assert len(receiver.received) == 20  # each sent once
    by_story = {event.body["data"]["story_id"]: event for event in delivered.values()}
    assert set(by_story) == set(ids)
    for story in stories:
        event = by_story[story.id]
        assert event.body["type"] == "portrait.stored"
        assert event.body["timestamp"].endswith("Z")
        assert event.body["data"] == {
            "story_id": story.id,
            "portrait_status": "stored",
            "portrait_error": None,
            "image_url": f"/api/files/{story.storage_id}",
            "portrait_credits": story.portrait_credits,
        }
        assert event.headers["content-type"] == "application/json"
        assert event.headers["webhook-signature"].startswith("v1,")
        assert int(event.headers["content-length"]) < MAX_PAYLOAD_BYTES
    listed = system.webhooks.list(status="delivered", limit=100)
    assert {item.id for item in listed} == set(delivered)
    assert {(item.attempts, item.last_status_code) for item in listed} == {(1, 200)}


def test_an_event_answered_503_twice_is_delivered_on_the_third_attempt_with_one_id(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
    outcomes: Outcomes,
    logs: list[Record],
) -> None:
    receiver.answer = lambda event_id, attempt: 503 if attempt <= 2 else 200
    system = start_system(hooked_settings())
    ids = submit(system, 3)

    delivered = receiver.wait_for_delivered(3)
    outcomes.wait("delivered", 3)
    retried = [r for r in logs if r["extra"].get("outcome") == "retried"]
    assert len(retried) == 6
    assert {r["extra"]["cause"] for r in retried} == {"HTTP 503: {}"}  # the receiver's body
    assert all(r["extra"]["story_id"] in ids for r in retried)
    shown = "".join(f"{r['message']}{r['extra']}" for r in logs)
    assert SECRET[6:] not in shown
    assert SECRET[6:] not in "".join(f"{item.last_error}" for item in system.webhooks.list())

    assert receiver.invalid == []
    assert {event.attempt for event in delivered.values()} == {3}
    assert sorted(receiver.attempts.values()) == [3, 3, 3]
    assert len({item.event_id for item in receiver.received}) == 3  # same id every time
    assert {event.body["data"]["story_id"] for event in delivered.values()} == set(ids)
    listed = system.webhooks.list()
    assert {(item.status, item.attempts, item.last_status_code) for item in listed} == {
        ("delivered", 3, 200)
    }


def test_every_signature_verifies_with_either_secret_while_rotating(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
) -> None:
    receiver.secret = OTHER_SECRET  # the receiver holds only the previous secret
    system = start_system(hooked_settings(webhook_secret_previous=OTHER_SECRET))
    submit(system, 2)

    delivered = receiver.wait_for_delivered(2)

    assert receiver.invalid == []
    assert all(len(e.headers["webhook-signature"].split(" ")) == 2 for e in delivered.values())


@pytest.mark.sqlite_only
def test_failed_skipped_and_deleted_stories_send_their_events(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
) -> None:
    system = start_system(hooked_settings(api_key=None))
    failed, skipped = submit(system, 1)[0], submit(system, 1, prompt="  ")[0]
    for story_id in (failed, skipped):
        system.wait_for_portrait(story_id, timeout=30)
    system.delete_story(failed)

    delivered = receiver.wait_for_delivered(3)

    by_type = {event.body["type"]: event.body["data"] for event in delivered.values()}
    assert set(by_type) == {"portrait.failed", "portrait.skipped", "story.deleted"}
    assert by_type["portrait.failed"]["story_id"] == failed
    assert by_type["portrait.failed"]["portrait_error"].startswith("missing_api_key")
    assert by_type["portrait.skipped"]["portrait_error"].startswith("empty_prompt")
    assert by_type["story.deleted"] == by_type["portrait.failed"]


@pytest.mark.sqlite_only
def test_only_the_configured_event_types_are_written(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
) -> None:
    system = start_system(hooked_settings(webhooks__events='["portrait.skipped"]'))
    stored, skipped = submit(system, 1)[0], submit(system, 1, prompt=" ")[0]
    for story_id in (stored, skipped):
        system.wait_for_portrait(story_id, timeout=30)
    system.delete_story(stored)

    receiver.wait_for_delivered(1)

    assert [(item.type, item.story_id) for item in system.webhooks.list()] == [
        ("portrait.skipped", skipped)
    ]


def test_a_410_disables_the_endpoint_until_an_event_is_retried(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
    outcomes: Outcomes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    receiver.answer = lambda event_id, attempt: 410 if not receiver.received else 200
    system = start_system(hooked_settings())
    submit(system, 1)
    outcomes.wait("disabled")
    second = submit(system, 1)[0]  # written while the endpoint is disabled
    system.wait_for_portrait(second, timeout=30)

    disabled = system.webhooks.endpoint_disabled()
    assert disabled is not None
    assert "410" in disabled.reason
    events = system.webhooks.list()
    assert {event.status for event in events} == {"pending"}
    assert len(receiver.received) == 1, "nothing more is sent once disabled"
    [gone] = [event for event in events if event.last_status_code == 410]
    capsys.readouterr()
    assert status(system.settings, argparse.Namespace()) == 0
    assert "webhook endpoint disabled since" in capsys.readouterr().out

    retried = system.webhooks.retry(gone.id)
    delivered = receiver.wait_for_delivered(2)

    assert retried is not None
    assert set(delivered) == {event.id for event in events}
    assert system.webhooks.endpoint_disabled() is None


@pytest.mark.sqlite_only
def test_an_event_whose_schedule_is_spent_is_failed_and_kept_and_can_be_sent_again(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
    outcomes: Outcomes,
) -> None:
    answers = {"status": 500}
    receiver.answer = lambda event_id, attempt: answers["status"]
    system = start_system(hooked_settings(webhooks__retry_delays_s="[0.01]"))
    submit(system, 1)

    [event_id] = outcomes.wait("failed")
    failed = system.webhooks.get(event_id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.last_status_code) == ("failed", 2, 500)
    assert failed.next_attempt_at is None

    answers["status"] = 200
    assert system.webhooks.retry(failed.id) is not None
    delivered = receiver.wait_for_delivered(1)

    assert list(delivered) == [failed.id]
    assert receiver.attempts[failed.id] == 3
