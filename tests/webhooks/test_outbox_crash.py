"""kill -9 of a daemon whose webhook events are undelivered (the receiver is down), then a
restart with the receiver up: every event is delivered, none lost, none invented."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

from tests.conftest import API_KEY
from tests.fakes.recraft_server import RecraftServer
from tests.fakes.webhook_receiver import SECRET, WebhookReceiver
from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.config import Settings, load_settings
from vignette.models import open_database
from vignette.records import StoryDraft
from vignette.system.facade import StorySystem

REPO = Path(__file__).resolve().parents[2]
STORIES = 10


def daemon_environment(
    database_url: str, tmp_path: Path, recraft: str, hook: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGNETTE_")}
    return env | {
        "VIGNETTE_DATABASE__URL": database_url,
        "VIGNETTE_STORAGE__PATH": str(tmp_path / "files"),
        "VIGNETTE_SERVER__PORT": "0",
        "VIGNETTE_RECRAFT__BASE_URL": recraft,
        "VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS": "true",
        "VIGNETTE_PORTRAITS__POLL_INTERVAL_S": "0.2",
        # The killed daemon's heartbeat expires this long after its last tick, and with it
        # its claims on events it was sending.
        "VIGNETTE_PORTRAITS__LEASE_S": "2",
        "VIGNETTE_WEBHOOKS__URL": hook,
        "VIGNETTE_WEBHOOKS__ALLOW_INSECURE_URLS": "true",
        "VIGNETTE_WEBHOOKS__RETRY_DELAYS_S": "[" + ", ".join(["0.1"] * 200) + "]",
        "VIGNETTE_LOGGING__LEVEL": "WARNING",
        "VIGNETTE_WEBHOOK_SECRET": SECRET,
        "RECRAFT_API_KEY": API_KEY,
    }


def pending_stories(settings: Settings) -> list[str]:
    ref = DocumentActor.start(open_database(settings.database.url))
    document = cast(DocumentProxy, ref.proxy())
    try:
        return [
            document.insert_story(StoryDraft(f"Story {n}", "Body.", f"portrait {n}"))
            .get(timeout=10)
            .id
            for n in range(STORIES)
        ]
    finally:
        ref.stop()


def test_a_killed_daemon_loses_no_event_and_the_restart_delivers_every_one(
    database_url: str,
    tmp_path: Path,
    recraft: RecraftServer,
    receiver: WebhookReceiver,
    start_system: Callable[..., StorySystem],
) -> None:
    receiver.answer = lambda event_id, attempt: 503
    env = daemon_environment(database_url, tmp_path, recraft.base_url, receiver.url)
    settings = load_settings(env=env)
    story_ids = pending_stories(settings)
    daemon = subprocess.Popen(
        [sys.executable, "runner.py", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        receiver.wait_for_ids(STORIES, timeout=60)  # every event written, none delivered
        receiver.__exit__()  # the receiver goes down: connections refused
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
    seen_before_kill = set(receiver.attempts)

    receiver.answer = lambda event_id, attempt: 200
    receiver.__enter__()  # up again, on the same port
    system = start_system(settings)
    delivered = receiver.wait_for_delivered(STORIES, timeout=60)

    print(
        f"\nkill -9 with {len(seen_before_kill)} events undelivered; "
        f"{len(receiver.received)} requests in all"
    )
    assert receiver.invalid == []
    assert set(delivered) == seen_before_kill
    assert {event.body["data"]["story_id"] for event in delivered.values()} == set(story_ids)
    twice = [
        i
        for i in delivered
        if sum(1 for r in receiver.received if r.event_id == i and r.status == 200) > 1
    ]
    assert twice == [], "no event was delivered twice: none was in flight to a live receiver"
    stories = [system.wait_for_portrait(story_id, timeout=30) for story_id in story_ids]
    assert {story.portrait_status for story in stories} == {"stored"}
