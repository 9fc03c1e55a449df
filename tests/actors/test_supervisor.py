"""Supervision of portrait workers, dispatch, recovery, the watchdog and graceful stop.

Crashes come through a test-only seam: a Recraft client, injected with `client_factory`,
that raises an unexpected exception. Nothing a user can configure reaches it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from loguru import logger

from tests.actors.waits import no_job_in_flight
from tests.conftest import stored_files
from tests.fakes.recraft_server import Answer, RecraftServer
from vignette import metrics
from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.config import Settings
from vignette.models import open_database
from vignette.records import PortraitStatus, Story, StoryDraft
from vignette.recraft.client import RecraftClient
from vignette.system.facade import StorySystem
from vignette.system.wiring import recraft_client_factory


class WorkerBug(RuntimeError):
    """Stands for a bug in the pipeline: an exception no step expects."""


class CrashingClient(RecraftClient):
    """Raises WorkerBug on the calls `should_crash` picks; otherwise talks to the fake."""

    should_crash: Callable[[str], bool] = staticmethod(lambda prompt: True)

    def generate_image_url(self, prompt: str, log: Any = None, gate: Any = None) -> str:
        if self.should_crash(prompt):
            raise WorkerBug(f"crash seam hit for prompt {prompt[:20]!r}")
        return super().generate_image_url(prompt, log, gate)


def crashing_factory(settings: Settings, should_crash: Callable[[str], bool]):
    key = settings.recraft_api_key
    assert key is not None

    def build() -> RecraftClient:
        client = CrashingClient(
            settings.recraft,
            key,
            max_file_bytes=settings.storage.max_file_bytes,
            allow_insecure_urls=True,
        )
        client.should_crash = should_crash
        return client

    return build


def read_story(settings: Settings, story_id: str) -> Story:
    """Read a story straight from the database, with no portrait side running."""
    ref = DocumentActor.start(open_database(settings.database.url))
    try:
        story = cast(DocumentProxy, ref.proxy()).get_story(story_id).get(timeout=10)
    finally:
        ref.stop()
    assert story is not None
    return story


def submit(system: StorySystem, prompt: str) -> str:
    return system.submit_story(title=prompt, body="A story.", image_generation_prompt=prompt).id


def test_a_worker_crash_fails_only_its_story_and_the_restarted_worker_takes_the_next(
    local_settings, start_system, logs
) -> None:
    settings = local_settings(portraits__concurrency=1)
    system = start_system(
        settings, client_factory=crashing_factory(settings, lambda prompt: prompt == "crash")
    )

    crashed_id = submit(system, "crash")
    # Stories keep being created while the worker dies and is replaced.
    later_ids = [submit(system, f"portrait {n}") for n in range(3)]

    crashed = system.wait_for_portrait(crashed_id, timeout=30)
    assert crashed.portrait_status is PortraitStatus.FAILED
    assert (crashed.portrait_error or "").startswith("crashed: ")
    assert "request" in (crashed.portrait_error or "")
    for story_id in later_ids:
        assert system.wait_for_portrait(story_id, timeout=30).portrait_status is (
            PortraitStatus.STORED
        )
    assert system.portrait_side().restarts == 1
    crash_lines = [r for r in logs if r["level"].name == "ERROR" and "crashed" in r["message"]]
    assert len(crash_lines) == 1
    assert crash_lines[0]["extra"]["story_id"] == crashed_id
    assert crash_lines[0]["extra"]["step"] == "request"
    assert isinstance(crash_lines[0]["exception"].value, WorkerBug)


def test_a_hundred_crashes_in_a_row_are_each_recovered(local_settings, start_system) -> None:
    settings = local_settings(
        portraits__concurrency=2,
        portraits__max_restarts=1000,
        portraits__restart_backoff_s=0.002,
        portraits__rate_limit_per_minute=1000,
    )
    system = start_system(
        settings, client_factory=crashing_factory(settings, lambda p: p.startswith("crash"))
    )

    crashed_ids = [submit(system, f"crash {n}") for n in range(100)]
    for story_id in crashed_ids:
        story = system.wait_for_portrait(story_id, timeout=60)
        assert (story.portrait_error or "").startswith("crashed: ")
    survivor = system.wait_for_portrait(submit(system, "fine at last"), timeout=30)

    assert survivor.portrait_status is PortraitStatus.STORED
    side = system.portrait_side()
    assert side.up
    assert side.restarts == 100


def test_crashes_beyond_the_limit_stop_the_portrait_side_but_not_story_creation(
    local_settings, start_system, recraft: RecraftServer, logs
) -> None:
    settings = local_settings(portraits__concurrency=1, portraits__max_restarts=2)
    system = start_system(settings, client_factory=crashing_factory(settings, lambda p: True))

    ids = [submit(system, f"crash {n}") for n in range(3)]
    for story_id in ids:
        assert system.wait_for_portrait(story_id, timeout=30).portrait_error.startswith("crashed")

    assert not system.portrait_side().up
    after = submit(system, "created while the portrait side is down")
    # The supervisor has handled the request once it answers; the story stays pending.
    assert system.portrait_side().busy == 0
    story = system.get_story(after)
    assert story is not None
    assert story.portrait_status is PortraitStatus.PENDING
    assert any(r["level"].name == "CRITICAL" for r in logs)
    assert recraft.fake.call_count == 0


def test_start_fails_interrupted_portraits_and_resumes_pending_ones_without_calling_twice(
    local_settings, start_system, recraft: RecraftServer
) -> None:
    settings = local_settings()
    ref = DocumentActor.start(open_database(settings.database.url))
    document = cast(DocumentProxy, ref.proxy())
    interrupted = document.insert_story(StoryDraft("a", "b", "was generating")).get(timeout=10)
    # Claimed by an instance whose lease has already run out: it is gone.
    document.claim_portrait(interrupted.id, owner="gone", lease_s=0).get(timeout=10)
    pending = [
        document.insert_story(StoryDraft("a", "b", f"pending {n}")).get(timeout=10).id
        for n in range(3)
    ]
    ref.stop()

    system = start_system(settings)

    for story_id in pending:
        assert system.wait_for_portrait(story_id, timeout=30).portrait_status is (
            PortraitStatus.STORED
        )
    story = system.get_story(interrupted.id)
    assert story is not None
    assert story.portrait_status is PortraitStatus.FAILED
    assert (story.portrait_error or "").startswith("interrupted: ")
    assert recraft.fake.call_count == 3
    assert recraft.fake.calls_by_prompt["was generating"] == 0


@pytest.mark.parametrize(("concurrency", "jobs"), [(1, 3), (3, 7), (4, 4)])
def test_jobs_run_on_idle_workers_in_rounds_of_the_concurrency(
    local_settings, start_system, recraft: RecraftServer, concurrency: int, jobs: int
) -> None:
    recraft.fake.hold = threading.Event()
    system = start_system(local_settings(portraits__concurrency=concurrency))

    ids = [submit(system, f"portrait {n}") for n in range(jobs)]
    assert recraft.fake.wait_for_calls(concurrency)
    side = system.portrait_side()
    assert (side.busy, side.queued) == (concurrency, jobs - concurrency)
    recraft.fake.hold.set()

    for story_id in ids:
        assert system.wait_for_portrait(story_id, timeout=30).portrait_status is (
            PortraitStatus.STORED
        )
    assert recraft.fake.max_in_flight == concurrency
    assert recraft.fake.call_count == jobs


def test_a_portrait_stuck_past_the_job_timeout_fails_and_its_late_result_is_dropped(
    local_settings, start_system, recraft: RecraftServer, tmp_path: Path
) -> None:
    recraft.fake.hold = threading.Event()
    system = start_system(local_settings(portraits__job_timeout_s=0.2))

    story_id = submit(system, "slow")
    story = system.wait_for_portrait(story_id, timeout=30)
    assert story.portrait_status is PortraitStatus.FAILED
    assert (story.portrait_error or "").startswith("timeout: ")

    recraft.fake.hold.set()
    # The worker's late result arrives; wait until it has been handled and dropped.
    assert system.portrait_side().restarts == 0
    next_id = submit(system, "next")
    assert system.wait_for_portrait(next_id, timeout=30).portrait_status is PortraitStatus.STORED
    late = system.get_story(story_id)
    assert late is not None
    assert late.portrait_status is PortraitStatus.FAILED
    assert late.storage_id is None


def test_stop_lets_in_flight_portraits_finish_within_the_grace_period(
    local_settings, start_system, recraft: RecraftServer
) -> None:
    hold = recraft.fake.hold = threading.Event()
    settings = local_settings(portraits__concurrency=1)
    system = start_system(settings)
    running, waiting = submit(system, "running"), submit(system, "waiting")
    assert recraft.fake.wait_for_calls(1)
    # Release the held Recraft call only once stop() has begun waiting for it.
    sink = logger.add(lambda message: hold.set() if "taking no new portraits" in message else None)
    try:
        system.stop(grace_s=30)
    finally:
        logger.remove(sink)

    assert read_story(settings, running).portrait_status is PortraitStatus.STORED
    assert read_story(settings, waiting).portrait_status is PortraitStatus.PENDING
    assert recraft.fake.call_count == 1


def test_stop_marks_portraits_still_running_after_the_grace_period_interrupted(
    local_settings, start_system, recraft: RecraftServer, tmp_path: Path
) -> None:
    recraft.fake.hold = threading.Event()
    settings = local_settings(portraits__concurrency=1)
    system = start_system(settings)
    running, waiting = submit(system, "running"), submit(system, "waiting")
    assert recraft.fake.wait_for_calls(1)

    system.stop(grace_s=0.1)

    stopped = read_story(settings, running)
    never_started = read_story(settings, waiting)
    assert stopped.portrait_status is PortraitStatus.FAILED
    assert (stopped.portrait_error or "").startswith("interrupted: ")
    assert never_started.portrait_status is PortraitStatus.PENDING
    recraft.fake.hold.set()
    assert [p for p in stored_files(tmp_path / "files") if p.suffix != ".part"] == []


def test_start_leaves_portraits_a_live_instance_holds_alone(
    local_settings, start_system, recraft: RecraftServer
) -> None:
    settings = local_settings()
    ref = DocumentActor.start(open_database(settings.database.url))
    document = cast(DocumentProxy, ref.proxy())
    held = document.insert_story(StoryDraft("a", "b", "held elsewhere")).get(timeout=10)
    document.claim_portrait(held.id, owner="other-host:1:abc", lease_s=600).get(timeout=10)
    ref.stop()

    system = start_system(settings)
    # A portrait made after start shows housekeeping has run and left the held one alone.
    made_here = system.wait_for_portrait(submit(system, "made here"), timeout=30)
    assert made_here.portrait_status is PortraitStatus.STORED

    story = read_story(settings, held.id)
    assert story.portrait_status is PortraitStatus.GENERATING
    assert recraft.fake.calls_by_prompt["held elsewhere"] == 0


def test_claims_of_an_instance_whose_heartbeat_expired_are_interrupted_at_once(
    local_settings, start_system, recraft: RecraftServer
) -> None:
    settings = local_settings()
    ref = DocumentActor.start(open_database(settings.database.url))
    document = cast(DocumentProxy, ref.proxy())
    held = document.insert_story(StoryDraft("a", "b", "held by the gone")).get(timeout=10)
    # Its lease still has ten minutes to run, but its heartbeat stopped: it is gone.
    document.claim_portrait(held.id, owner="gone-instance", lease_s=600).get(timeout=10)
    document.beat("gone-instance", ttl_s=-1).get(timeout=10)
    ref.stop()

    system = start_system(settings)

    story = system.wait_for_portrait(held.id, timeout=30)
    assert (story.portrait_error or "").startswith("interrupted: ")
    assert recraft.fake.calls_by_prompt["held by the gone"] == 0


def test_instances_on_one_host_whose_pids_look_dead_to_each_other_keep_their_claims(
    local_settings, start_system, recraft: RecraftServer
) -> None:
    """Two containers on one host share its name but not a pid namespace: each sees the
    other's pid as dead. Liveness is the heartbeat, so a live claim is never taken back."""
    settings = local_settings()
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    neighbour = f"{socket.gethostname()}:{finished.stdout.strip()}:abc"  # a pid gone here
    ref = DocumentActor.start(open_database(settings.database.url))
    document = cast(DocumentProxy, ref.proxy())
    held = document.insert_story(StoryDraft("a", "b", "held next door")).get(timeout=10)
    document.claim_portrait(held.id, owner=neighbour, lease_s=600).get(timeout=10)
    document.beat(neighbour, ttl_s=600).get(timeout=10)
    ref.stop()

    system = start_system(settings)
    # A portrait made after start shows housekeeping has run and left the held one alone.
    made_here = system.wait_for_portrait(submit(system, "made here"), timeout=30)
    assert made_here.portrait_status is PortraitStatus.STORED

    assert read_story(settings, held.id).portrait_status is PortraitStatus.GENERATING
    assert recraft.fake.calls_by_prompt["held next door"] == 0


def test_past_the_hourly_budget_portraits_wait_as_pending_not_failed(
    local_settings, start_system, recraft: RecraftServer
) -> None:
    system = start_system(local_settings(portraits__max_calls_per_hour=2))

    ids = [submit(system, f"portrait {n}") for n in range(3)]
    for story_id in ids[:2]:
        assert system.wait_for_portrait(story_id, timeout=30).portrait_status is (
            PortraitStatus.STORED
        )
    third = submit(system, "one too many")

    side = system.portrait_side()
    assert side.held_for_s > 3000
    assert side.queued == 2
    for story_id in (ids[2], third):
        story = system.get_story(story_id)
        assert story is not None
        assert story.portrait_status is PortraitStatus.PENDING
    assert recraft.fake.call_count == 2


def test_retries_count_against_the_rate_limit(
    local_settings, start_system, recraft: RecraftServer
) -> None:
    settings = local_settings(portraits__max_attempts=3, portraits__rate_limit_per_minute=3)
    recraft.fake.generation_script = [Answer(status=500), Answer(status=503)]
    no_wait = recraft_client_factory(settings, sleep=lambda seconds: None)
    system = start_system(settings, client_factory=no_wait)

    first = system.wait_for_portrait(submit(system, "third time lucky"), timeout=30)
    no_job_in_flight(system)  # the worker's report, with its retries, has arrived
    second = submit(system, "over the limit")

    assert first.portrait_status is PortraitStatus.STORED
    assert recraft.fake.call_count == 3
    side = system.portrait_side()
    assert side.held_for_s > 50
    story = system.get_story(second)
    assert story is not None
    assert story.portrait_status is PortraitStatus.PENDING


def test_the_budget_hold_shows_in_the_metrics(
    local_settings, start_system, recraft: RecraftServer
) -> None:
    system = start_system(local_settings(portraits__max_calls_per_hour=1))
    system.wait_for_portrait(submit(system, "the only call this hour"), timeout=30)
    submit(system, "held")
    system.portrait_side()  # the supervisor has tried to dispatch once it answers

    held = metrics.REGISTRY.get_sample_value("vignette_recraft_calls_held_seconds")
    assert held is not None
    assert held > 3000
