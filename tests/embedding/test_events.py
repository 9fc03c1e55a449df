"""Completion subscriptions: one call per portrait that settles, from any instance."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from tests.conftest import API_KEY
from tests.embedding.support import run_host
from tests.fakes.recraft_server import RecraftServer
from vignette.config import Settings
from vignette.records import PortraitStatus, Story
from vignette.system.facade import StorySystem

if TYPE_CHECKING:
    from loguru import Record


@pytest.fixture
def settings(make_settings: Callable[..., Settings], recraft: RecraftServer) -> Settings:
    return make_settings(recraft__base_url=recraft.base_url, portraits__allow_insecure_urls=True)


@pytest.fixture
def system(settings: Settings, start_system: Callable[..., StorySystem]) -> StorySystem:
    return start_system(settings)


class Received:
    """A callback that keeps what it is given, and lets a test wait for a story."""

    def __init__(self, fail_first: bool = False) -> None:
        self.stories: list[Story] = []
        self.threads: set[str] = set()
        self._fail_first = fail_first
        self._lock = threading.Condition()

    def __call__(self, story: Story) -> None:
        with self._lock:
            self.stories.append(story)
            self.threads.add(threading.current_thread().name)
            self._lock.notify_all()
            if self._fail_first and len(self.stories) == 1:
                raise RuntimeError("the host's callback broke")

    def wait_for(self, story_id: str, timeout: float = 30) -> None:
        with self._lock:
            assert self._lock.wait_for(
                lambda: any(s.id == story_id for s in self.stories), timeout=timeout
            ), f"no event for {story_id}; got {[s.id for s in self.stories]}"

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(s.id for s in self.stories)


def settle_marker(system: StorySystem, *received: Received) -> str:
    """A story whose portrait is skipped at once. Every look reads all that settled in the
    last minute, so once the marker's event has arrived, each state that settled before it
    has been read again, and would have been delivered twice by then if it ever were."""
    marker = system.submit_story(title="marker", body="b", image_generation_prompt="")
    for callback in received:
        callback.wait_for(marker.id)
    return marker.id


def test_each_portrait_that_settles_is_delivered_once_in_a_thread_of_vignettes(
    system: StorySystem, recraft: RecraftServer
) -> None:
    before = system.submit_story(title="settled before", body="b", image_generation_prompt="")
    system.wait_for_portrait(before.id, timeout=30)
    received = Received()
    handle = system.subscribe(received)

    stored = [system.generate_story(seed=n) for n in range(4)]
    skipped = system.submit_story(title="t", body="b", image_generation_prompt="")
    for story in [*stored, skipped]:
        system.wait_for_portrait(story.id, timeout=30)
    recraft.fake.error = (500, "text/plain", b"upstream broke")
    failed = system.generate_story(seed=9)
    received.wait_for(failed.id)
    recraft.fake.error = None
    system.regenerate_portrait(failed.id)  # settles again: a second event
    system.wait_for_portrait(failed.id, timeout=30)
    marker = settle_marker(system, received)
    handle.close()

    once = [*stored, skipped]
    assert received.counts() == Counter([s.id for s in once] + [failed.id, failed.id, marker])
    statuses = [s.portrait_status for s in received.stories if s.id == failed.id]
    assert statuses == [PortraitStatus.FAILED, PortraitStatus.STORED]
    assert all(name.startswith("vignette-events-") for name in received.threads)


def test_a_callback_that_raises_is_logged_and_later_deliveries_go_on(
    system: StorySystem, logs: list[Record]
) -> None:
    received = Received(fail_first=True)
    with contextlib.closing(system.subscribe(received)):
        first = system.submit_story(title="a", body="b", image_generation_prompt="")
        received.wait_for(first.id)
        second = system.submit_story(title="a", body="b", image_generation_prompt="")
        received.wait_for(second.id)

    errors = [r for r in logs if r["extra"].get("step") == "subscription"]
    assert [r["extra"]["story_id"] for r in errors] == [first.id]
    assert errors[0]["exception"] is not None
    assert "the host's callback broke" in str(errors[0]["exception"].value)


def test_a_story_subscription_sees_only_its_story_and_close_stops_deliveries(
    system: StorySystem, recraft: RecraftServer
) -> None:
    # What settled before a subscription began is not news to it: hold the portrait back
    # until both subscriptions exist.
    recraft.fake.hold = threading.Event()
    wanted = system.submit_story(title="wanted", body="b", image_generation_prompt="p")
    one = Received()
    every = Received()
    one_handle = system.subscribe(one, story_id=wanted.id)
    every_handle = system.subscribe(every)
    recraft.fake.hold.set()

    other = system.submit_story(title="other", body="b", image_generation_prompt="")
    system.wait_for_portrait(wanted.id, timeout=30)
    one.wait_for(wanted.id)
    every.wait_for(other.id)
    one_handle.close()
    assert not one_handle.active
    regenerated = system.regenerate_portrait(wanted.id, force=True)
    system.wait_for_portrait(regenerated.id, timeout=30)
    settle_marker(system, every)
    every_handle.close()

    assert one.counts() == Counter([wanted.id])
    assert every.counts()[wanted.id] == 2  # stored, and stored again after the regeneration


def test_portraits_settled_by_another_instance_on_the_database_are_delivered_once(
    system: StorySystem, settings: Settings, tmp_path: Path
) -> None:
    received = Received()
    with contextlib.closing(system.subscribe(received)):
        result = run_host(
            "second_instance.py",
            tmp_path,
            120,
            argv=("5",),
            VIGNETTE_DATABASE__URL=settings.database.url,
            VIGNETTE_STORAGE__PATH=settings.storage.path,
            VIGNETTE_RECRAFT__BASE_URL=settings.recraft.base_url,
            VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS="true",
            RECRAFT_API_KEY=API_KEY,
        )
        assert result.returncode == 0, result.stderr
        elsewhere = result.stdout.split()
        assert len(elsewhere) == 5
        for story_id in elsewhere:
            received.wait_for(story_id)
        marker = settle_marker(system, received)

    assert received.counts() == Counter([*elsewhere, marker])
    assert {s.portrait_status for s in received.stories} == {
        PortraitStatus.STORED,
        PortraitStatus.SKIPPED,
    }


def insert_settled_row(database_url: str, story_id: str, updated_at: datetime) -> None:
    """What an instance whose clock is behind (or whose commit was slow) leaves: a failed
    portrait whose `updated_at` is earlier than states already delivered."""
    naive = updated_at.astimezone(UTC).replace(tzinfo=None)
    values = (story_id, "late", "b", "p", "failed", "interrupted: late", 1, naive, naive)
    columns = (
        "id, title, body, image_generation_prompt, portrait_status, portrait_error, "
        "portrait_attempt, created_at, updated_at"
    )
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            stamp = naive.isoformat(sep=" ")
            db.execute(
                f"INSERT INTO stories ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values[:7], stamp, stamp),
            )
            db.commit()
        return
    with psycopg.connect(database_url) as db:
        db.execute(
            f"INSERT INTO stories ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            values,
        )


def test_a_portrait_committed_late_with_an_earlier_time_is_still_delivered_once(
    system: StorySystem, settings: Settings
) -> None:
    received = Received()
    with contextlib.closing(system.subscribe(received)):
        first = system.submit_story(title="first", body="b", image_generation_prompt="")
        received.wait_for(first.id)
        late_id = "0" * 16 + "late0000late0000"
        insert_settled_row(settings.database.url, late_id, first.updated_at - timedelta(seconds=20))
        received.wait_for(late_id)
        marker = settle_marker(system, received)

    assert received.counts() == Counter([first.id, late_id, marker])


def test_portrait_events_iterates_settled_portraits_on_a_loop_and_ends_with_the_system(
    system: StorySystem,
) -> None:
    async def main() -> list[str]:
        seen: list[str] = []
        events = system.portrait_events()
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)  # the subscription is being made
        story = await system.asubmit_story(title="t", body="b", image_generation_prompt="")
        seen.append((await asyncio.wait_for(first, 30)).id)
        assert seen == [story.id]
        await system.astop(grace_s=5)
        async with asyncio.timeout(30):
            seen.extend([s.id async for s in events])
        return seen

    assert len(asyncio.run(main())) == 1
