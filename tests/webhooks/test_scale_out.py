"""Two instances on one PostgreSQL database share the webhook outbox: while both run, each
event is sent once (claims skip the rows the other instance is claiming)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tests.cli.harness import Running
from tests.fakes.recraft_server import RecraftServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.webhooks.test_outbox_crash import daemon_environment
from vignette import metrics
from vignette.config import load_settings
from vignette.system.facade import StorySystem

REPO = Path(__file__).resolve().parents[2]
EVENTS = 30


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
    env["VIGNETTE_LOGGING__LEVEL"] = "INFO"
    recraft.fake.latency_s = 0.05  # portraits spread over both instances' workers
    settings = load_settings(env=env)
    other = Running(
        subprocess.Popen(
            [sys.executable, "runner.py", "serve"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    sent_here = metrics.WEBHOOK_DELIVERIES.labels("delivered")
    before = sent_here._value.get()
    try:
        other.stderr.wait_for("Vignette is running", timeout=60)
        system = start_system(settings)
        story_ids = [
            system.submit_story(title=f"S{n}", body="B.", image_generation_prompt=f"p {n}").id
            for n in range(EVENTS)
        ]
        delivered = receiver.wait_for_delivered(EVENTS, timeout=90)
        assert other.proc.poll() is None, "the other instance ran throughout"
    finally:
        other.proc.send_signal(signal.SIGTERM)
        other.proc.wait(timeout=30)
        for reader, pipe in ((other.stdout, other.proc.stdout), (other.stderr, other.proc.stderr)):
            reader.read_to_end()
            assert pipe is not None
            pipe.close()

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
