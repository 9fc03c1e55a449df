"""The webhook dispatcher is supervised: when it dies, the root starts a new one, which
gives back the claim the dead one held and sends the event."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.fakes.webhook_receiver import WebhookReceiver
from vignette.config import Settings
from vignette.system.facade import StorySystem
from vignette.webhooks.sender import Answer, WebhookSender

pytestmark = pytest.mark.sqlite_only


def test_a_dispatcher_that_dies_mid_attempt_is_restarted_and_the_event_delivered(
    hooked_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crashed = threading.Event()
    send = WebhookSender.send

    def crash_once(self: WebhookSender, event_id: str, body: str) -> Answer:
        if not crashed.is_set():
            crashed.set()
            raise RuntimeError("a bug in the dispatcher")
        return send(self, event_id, body)

    monkeypatch.setattr(WebhookSender, "send", crash_once)
    system = start_system(hooked_settings(portraits__restart_backoff_s=0.05))
    story = system.submit_story(title="T", body="B.", image_generation_prompt="a portrait")

    delivered = receiver.wait_for_delivered(1)

    assert crashed.is_set()
    [event] = delivered.values()
    assert event.body["data"]["story_id"] == story.id
    assert len(receiver.received) == 1
    assert system.health().ok
