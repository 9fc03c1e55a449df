"""One Recraft account, several instances on one PostgreSQL: the budget holds for all of
them and across restarts (separate `serve` processes), and a NOTIFY wakes an idle instance
long before its next poll."""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import psycopg
import pytest

from tests.conftest import process_env
from tests.fakes.recraft_server import Answer, RecraftServer
from vignette.cli.status import status
from vignette.config import Settings, load_settings
from vignette.models import open_database, stories
from vignette.records import PortraitStatus, StoryDraft
from vignette.system.facade import StorySystem

REPO = Path(__file__).resolve().parents[1]
INSTANCES = 3
BUDGET = 10
STORIES = 30
HELD_LINE = "portrait calls held: {reason}"


@pytest.fixture
def account_env(shared_database: str, recraft: RecraftServer, tmp_path: Path) -> dict[str, str]:
    return process_env(
        shared_database,
        tmp_path / "shared-files",
        recraft,
        VIGNETTE_PORTRAITS__MAX_CALLS_PER_HOUR=str(BUDGET),
        VIGNETTE_SERVER__PORT="0",
        VIGNETTE_LOGGING__LEVEL="INFO",
    )


def insert_stories(settings: Settings, count: int) -> list[str]:
    """Stories made pending by some other instance: rows in the shared database."""
    db = open_database(settings.database.url)
    with db.connection_context():
        return [
            stories.insert_story(db, StoryDraft(f"Story {n}", "A story.", f"portrait {n}")).id
            for n in range(count)
        ]


def statuses(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT portrait_status, COUNT(*) FROM stories GROUP BY portrait_status"
        ).fetchall()
    return {state: int(count) for state, count in rows}


class Instance:
    """`python runner.py serve` in a process; `held` is set once it says calls are held."""

    def __init__(self, env: dict[str, str], reason: str) -> None:
        self._held_line = HELD_LINE.format(reason=reason)
        self.held = threading.Event()
        self.ready = threading.Event()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "runner.py", "serve"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        self._stderr = self.process.stderr
        self._reader = threading.Thread(target=self._read, args=(self._stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)
            if self._held_line in line:
                self.held.set()
            if "Vignette is running at" in line:
                self.ready.set()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=10)  # the pipe's end was read
        self._stderr.close()


def run_until_held(env: dict[str, str], reason: str = "budget") -> None:
    """Run the instances until each says new calls are held for `reason`, then stop them."""
    instances = [Instance(env, reason) for _ in range(INSTANCES)]
    try:
        for instance in instances:
            assert instance.held.wait(timeout=60), "".join(instance.lines[-20:])
    finally:
        for instance in instances:
            instance.process.terminate()  # all at once: they stop side by side
        for instance in instances:
            instance.stop()


def test_three_instances_share_one_budget_across_restarts(
    account_env: dict[str, str],
    recraft: RecraftServer,
    shared_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = load_settings(env=account_env)
    insert_stories(settings, STORIES)

    run_until_held(account_env)
    calls_before_restart = recraft.fake.call_count
    states = statuses(shared_database)
    capsys.readouterr()
    assert status(settings, argparse.Namespace()) == 0
    shown = capsys.readouterr().out
    run_until_held(account_env)  # every instance restarted: the ledger remembers

    assert calls_before_restart == BUDGET
    assert recraft.fake.call_count == BUDGET
    assert max(recraft.fake.calls_by_prompt.values()) == 1
    assert states[PortraitStatus.PENDING] == STORIES - BUDGET
    assert statuses(shared_database)[PortraitStatus.PENDING] == STORIES - BUDGET
    assert "calls held (budget)" in shown
    assert f"{STORIES - BUDGET} pending portraits held until then" in shown


def test_three_instances_share_one_rate_limit(
    account_env: dict[str, str], recraft: RecraftServer, shared_database: str
) -> None:
    """The minute's window from the fake's own call times: all of them come within it."""
    env = account_env | {
        "VIGNETTE_PORTRAITS__RATE_LIMIT_PER_MINUTE": "12",
        "VIGNETTE_PORTRAITS__MAX_CALLS_PER_HOUR": "0",
    }
    recraft.fake.latency_s = 0.05
    insert_stories(load_settings(env=env), 20)

    run_until_held(env, "rate_limit")

    times = [call.at for call in recraft.fake.calls]
    assert len(times) == 12
    assert max(times) - min(times) < 60
    assert statuses(shared_database)[PortraitStatus.PENDING] == 8


def test_a_429s_retry_after_seen_by_one_instance_holds_them_all(
    account_env: dict[str, str], recraft: RecraftServer
) -> None:
    env = account_env | {
        "VIGNETTE_PORTRAITS__CONCURRENCY": "1",
        "VIGNETTE_PORTRAITS__MAX_CALLS_PER_HOUR": "0",
    }
    recraft.fake.generation_script = [Answer(429, headers={"Retry-After": "3"})]
    # Slow enough that an instance ignoring the hold would call during it.
    recraft.fake.latency_s = 0.25
    instances = [Instance(env, "retry_after") for _ in range(2)]
    try:
        for instance in instances:
            assert instance.ready.wait(timeout=60), "".join(instance.lines[-20:])
        insert_stories(load_settings(env=env), 6)  # the NOTIFY wakes both
        # Only one of them got the 429; both say they are held.
        for instance in instances:
            assert instance.held.wait(timeout=60), "".join(instance.lines[-20:])
        assert recraft.fake.wait_for_calls(6, timeout=60)
    finally:
        for instance in instances:
            instance.process.terminate()
        for instance in instances:
            instance.stop()

    first, *others = (call.at for call in recraft.fake.calls)
    # A call sent before the 429 arrived may land just after it; none is sent during the pause.
    assert not [at for at in others if first + 0.5 < at < first + 2.9]
    assert len(others) == 5


def test_a_notification_wakes_an_idle_instance_long_before_its_next_poll(
    account_env: dict[str, str],
    recraft: RecraftServer,
    start_system: Callable[..., StorySystem],
) -> None:
    # Neither a poll (every 10 minutes) nor a housekeeping tick (every 30 s) comes in time.
    env = account_env | {
        "VIGNETTE_PORTRAITS__POLL_INTERVAL_S": "600",
        "VIGNETTE_PORTRAITS__LEASE_S": "600",
        "VIGNETTE_PORTRAITS__MAX_CALLS_PER_HOUR": "0",
    }
    settings = load_settings(env=env)
    system = start_system(settings)
    listener = system._actors.listener
    assert listener is not None
    assert listener.listening.wait(timeout=10)

    (story_id,) = insert_stories(settings, 1)  # as another instance would, with its NOTIFY
    story = system.wait_for_portrait(story_id, timeout=20)

    assert story.portrait_status is PortraitStatus.STORED
    assert recraft.fake.call_count == 1
