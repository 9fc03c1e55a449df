"""The webhook dispatcher is supervised: when it dies, the root starts a new one, which
gives back the claim the dead one held and sends the event again (at least once)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.fakes.webhook_receiver import WebhookReceiver
from tests.webhooks.conftest import Outcomes
from vignette.actors import webhooks
from vignette.actors.webhooks import Outcome, WebhookDispatcher
from vignette.config import Settings
from vignette.models.outbox import OutboxEvent
from vignette.system.facade import StorySystem
from vignette.webhooks.sender import Answer, WebhookSender

pytestmark = pytest.mark.sqlite_only


def test_a_dispatcher_that_dies_before_recording_is_restarted_and_sends_again(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crashed = threading.Event()
    outcome = WebhookDispatcher._outcome

    def crash_once(self: WebhookDispatcher, event: OutboxEvent, answer: Answer) -> Outcome:
        if not crashed.is_set():
            crashed.set()
            raise RuntimeError("a bug in the dispatcher")
        return outcome(self, event, answer)

    monkeypatch.setattr(WebhookDispatcher, "_outcome", crash_once)
    system = start_system(hooked_settings(portraits__restart_backoff_s=0.05))
    story = system.submit_story(title="T", body="B.", image_generation_prompt="a portrait")

    receiver.wait_for_delivered(1)
    outcomes = receiver.wait_for_requests(2)  # the attempt the crash cut short came first

    assert crashed.is_set()
    assert len({item.event_id for item in outcomes}) == 1, "the same webhook-id both times"
    assert {item.body["data"]["story_id"] for item in outcomes} == {story.id}
    assert system.health().ok


def test_a_bug_while_sending_is_recorded_as_a_failed_attempt_and_retried(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failed = threading.Event()
    send = WebhookSender.send

    def fail_once(self: WebhookSender, event_id: str, body: str) -> Answer:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("a bug in the sender")
        return send(self, event_id, body)

    monkeypatch.setattr(WebhookSender, "send", fail_once)
    system = start_system(hooked_settings())
    system.submit_story(title="T", body="B.", image_generation_prompt="a portrait")

    [event_id] = receiver.wait_for_delivered(1)
    delivery = system.webhooks.get(event_id)

    assert failed.is_set()
    assert delivery is not None
    assert delivery.attempts == 2


def test_an_attempt_without_a_whole_answer_in_time_fails_and_the_event_is_sent_again(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
    outcomes: Outcomes,
) -> None:
    released = threading.Event()
    monkeypatch.setattr(webhooks, "DELIVERY_TIMEOUT_S", 0.1)

    def hang_first(event_id: str, attempt: int) -> int:
        if attempt == 1:
            released.wait(10)  # far past the dispatcher's deadline
        return 200

    receiver.answer = hang_first
    system = start_system(hooked_settings())
    system.submit_story(title="T", body="B.", image_generation_prompt="a portrait")

    [retried] = outcomes.wait("retried")
    receiver.wait_for_ids(1)
    delivered = receiver.wait_for_delivered(1)
    released.set()

    assert list(delivered) == [retried]
    assert delivered[retried].attempt == 2
    event = system.webhooks.get(retried)
    assert event is not None
    assert event.attempts == 2
