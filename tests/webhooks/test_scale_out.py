"""Two instances on one PostgreSQL database share the webhook outbox: while both run, each
event is sent once (claims skip the rows the other instance is claiming)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.recraft_server import RecraftServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.postgres import drop_database, fresh_database
from tests.webhooks.test_outbox_crash import daemon_environment, pending_stories
from vignette import metrics
from vignette.config import load_settings
from vignette.system.facade import StorySystem

REPO = Path(__file__).resolve().parents[2]
EVENTS = 30


@pytest.fixture
def shared_database(postgres_url: str) -> Iterator[str]:
    name = f"vignette_hooks_{uuid.uuid4().hex[:12]}"
    yield fresh_database(postgres_url, name)
    drop_database(postgres_url, name)


def test_two_instances_send_each_event_once_while_both_run(
    shared_database: str,
    tmp_path: Path,
    recraft: RecraftServer,
    receiver: WebhookReceiver,
    start_system: Callable[..., StorySystem],
) -> None:
    answered = threading.Event()

    def slow_answer(event_id: str, attempt: int) -> int:
        answered.wait(0.02)  # a receiver taking a little time widens every overlap
        return 200

    receiver.answer = slow_answer
    env = daemon_environment(shared_database, tmp_path, recraft.base_url, receiver.url)
    env["VIGNETTE_PORTRAITS__LEASE_S"] = "30"
    settings = load_settings(env=env)
    story_ids = pending_stories(settings) + pending_stories(settings) + pending_stories(settings)
    other = subprocess.Popen(
        [sys.executable, "runner.py", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sent_here = metrics.WEBHOOK_DELIVERIES.labels("delivered")
    before = sent_here._value.get()
    try:
        system = start_system(settings)
        delivered = receiver.wait_for_delivered(EVENTS, timeout=90)
        assert other.poll() is None, "the other instance ran throughout"
    finally:
        other.send_signal(signal.SIGTERM)
        other.wait(timeout=30)

    here = int(sent_here._value.get() - before)
    print(
        f"\ntwo instances: {len(receiver.received)} requests for {len(delivered)} events, "
        f"{here} sent by this one, {EVENTS - here} by the other"
    )
    assert receiver.invalid == []
    assert {event.body["data"]["story_id"] for event in delivered.values()} == set(story_ids)
    assert len(receiver.received) == EVENTS, "each event was sent exactly once"
    assert receiver.max_in_flight_per_id == 1
    assert len(system.webhooks.list(status="delivered", limit=100)) <= EVENTS
