"""The supervision root: an exception in any supervisor handler restarts the supervisor and
work resumes; a database failure in a claim is logged and tried again, killing nothing; a
worker whose start failed gives its claim back; past the restart limit the root gives up,
logged as critical and shown by the health check.

Exceptions come through test-only seams: a supervisor method replaced for one call, a
claim that raises the error a locked database raises, a Recraft client factory that raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loguru import logger
from peewee import OperationalError

from tests.actors.test_supervisor import crashing_factory, submit
from tests.fakes.recraft_server import RecraftServer
from vignette.actors.supervisor import PortraitSupervisor
from vignette.models import portraits
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem
from vignette.system.wiring import recraft_client_factory


class SupervisorBug(RuntimeError):
    """Stands for a bug in a supervisor handler."""


class LogWatch:
    """Sets an event when a log record matching `wanted` arrives."""

    def __init__(self, wanted: Callable[[Any], bool]) -> None:
        self.seen = threading.Event()
        self._wanted = wanted

    def __call__(self, message: Any) -> None:
        if self._wanted(message.record):
            self.seen.set()


@pytest.fixture
def watch_log() -> Iterator[Callable[[Callable[[Any], bool]], threading.Event]]:
    sinks: list[int] = []

    def watch(wanted: Callable[[Any], bool]) -> threading.Event:
        watcher = LogWatch(wanted)
        sinks.append(logger.add(watcher, level="DEBUG"))
        return watcher.seen

    yield watch
    for sink in sinks:
        logger.remove(sink)


def restarted(record: Any) -> bool:
    return bool(record["message"] == "portrait supervisor restarted")


def inject_once(monkeypatch: pytest.MonkeyPatch, handler: str) -> threading.Event:
    """Make the supervisor's `handler` raise SupervisorBug once, when armed."""
    original = getattr(PortraitSupervisor, handler)
    armed = threading.Event()

    def once(self: PortraitSupervisor, *args: Any, **kwargs: Any) -> Any:
        if armed.is_set():
            armed.clear()
            raise SupervisorBug(f"injected into {handler}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PortraitSupervisor, handler, once)
    return armed


def supervisor_deaths(logs: list[Any]) -> list[Any]:
    return [
        r
        for r in logs
        if r["level"].name == "ERROR"
        and r["exception"] is not None
        and isinstance(r["exception"].value, SupervisorBug)
    ]


@pytest.mark.parametrize(
    "handler", ["_dispatch", "_finished", "_keep_house", "_crashed", "_restart"]
)
def test_an_exception_in_a_supervisor_handler_restarts_it_and_work_resumes(
    handler: str,
    local_settings,
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
    monkeypatch: pytest.MonkeyPatch,
    logs,
    watch_log,
) -> None:
    settings = local_settings(portraits__concurrency=1, portraits__lease_s=3)
    system = start_system(
        settings, client_factory=crashing_factory(settings, lambda p: p == "crash")
    )
    armed = inject_once(monkeypatch, handler)
    back = watch_log(restarted)
    armed.set()

    first = None
    if handler in ("_dispatch", "_finished"):
        first = submit(system, "the first portrait")
    elif handler in ("_crashed", "_restart"):
        first = submit(system, "crash")
    # _keep_house: the next tick (a second away with lease_s = 3) raises.
    assert back.wait(30), "the supervisor was not restarted"

    later = system.wait_for_portrait(submit(system, "after the restart"), timeout=30)
    assert later.portrait_status is PortraitStatus.STORED
    if first is not None:
        settled = system.wait_for_portrait(first, timeout=30)
        if handler in ("_dispatch", "_finished"):
            assert settled.portrait_status is PortraitStatus.STORED
        else:  # a crashed worker's story: crashed, or interrupted if the report was lost
            assert settled.portrait_status is PortraitStatus.FAILED
    deaths = supervisor_deaths(logs)
    assert len(deaths) == 1
    assert deaths[0]["exception"].traceback is not None
    assert deaths[0]["extra"]["step"] == "supervise"
    assert system.health().ok
    assert recraft.fake.calls_by_prompt["after the restart"] == 1
    assert max(recraft.fake.calls_by_prompt.values()) == 1


def test_a_claim_the_database_refuses_is_logged_and_tried_again(
    local_settings,
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
    monkeypatch: pytest.MonkeyPatch,
    logs,
) -> None:
    original = portraits.claim_portrait
    failures = iter([OperationalError("database is locked")] * 3)

    def flaky(*args: Any, **kwargs: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(portraits, "claim_portrait", flaky)
    system = start_system(local_settings())

    story = system.wait_for_portrait(submit(system, "claimed at last"), timeout=30)

    assert story.portrait_status is PortraitStatus.STORED
    retries = [r for r in logs if "could not claim a portrait" in r["message"]]
    assert len(retries) == 3
    assert all(r["level"].name == "WARNING" for r in retries)
    assert "database is locked" in retries[0]["extra"]["cause"]
    assert not supervisor_deaths(logs)
    assert not [r for r in logs if r["message"].startswith("portrait supervisor died")]
    assert recraft.fake.call_count == 1


def test_a_worker_whose_start_failed_gives_its_claim_back_and_is_restarted(
    local_settings,
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
) -> None:
    settings = local_settings(portraits__concurrency=1)
    build = recraft_client_factory(settings)
    assert build is not None
    starts = iter([SupervisorBug("the client could not be built")])

    def factory() -> Any:
        error = next(starts, None)
        if error is not None:
            raise error
        return build()

    system = start_system(settings, client_factory=factory)

    story = system.wait_for_portrait(submit(system, "after a failed start"), timeout=30)

    assert story.portrait_status is PortraitStatus.STORED
    assert recraft.fake.call_count == 1


def test_past_the_restart_limit_the_root_gives_up_critically_and_health_says_so(
    local_settings,
    start_system: Callable[..., StorySystem],
    monkeypatch: pytest.MonkeyPatch,
    logs,
    watch_log,
) -> None:
    settings = local_settings(portraits__max_restarts=1, portraits__restart_backoff_s=0.01)
    system = start_system(settings)

    def always(self: PortraitSupervisor, *args: Any, **kwargs: Any) -> None:
        raise SupervisorBug("injected into _dispatch, every time")

    monkeypatch.setattr(PortraitSupervisor, "_dispatch", always)
    gave_up = watch_log(lambda r: r["level"].name == "CRITICAL")
    submit(system, "never drawn")

    assert gave_up.wait(30)
    health = system.health()
    assert not health.ok
    assert any("gave up" in problem for problem in health.problems)
    assert len(supervisor_deaths(logs)) == 2
    # Stories are still created while the portrait side is down.
    assert system.get_story(submit(system, "still stored")) is not None
