"""A system is a guest in its process: the only one, and never in the way of its exit."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import API_KEY
from tests.embedding.support import HOSTS, host_env
from tests.fakes.recraft_server import RecraftServer
from vignette import SystemAlreadyRunning, load_settings
from vignette.config import Settings
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem


def test_a_host_that_returns_without_stop_exits_and_its_portrait_is_interrupted(
    tmp_path: Path, recraft: RecraftServer
) -> None:
    recraft.fake.hold = threading.Event()  # the portrait's request never gets its answer
    env = host_env(
        tmp_path,
        VIGNETTE_RECRAFT__BASE_URL=recraft.base_url,
        VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS="true",
        RECRAFT_API_KEY=API_KEY,
    )
    host = subprocess.Popen(
        [sys.executable, str(HOSTS / "no_stop.py")],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert host.stdout is not None
        assert host.stdin is not None
        story_id = host.stdout.readline().strip()
        assert recraft.fake.wait_for_calls(1, timeout=30)

        host.stdin.write("return now\n")
        host.stdin.flush()
        returned = time.monotonic()
        host.wait(timeout=10)
        took = time.monotonic() - returned
    finally:
        recraft.fake.hold.set()
        host.kill()
        _, stderr = host.communicate(timeout=10)

    assert host.returncode == 0, stderr
    print(f"\nthe host exited {took:.2f} s after returning")
    assert took < 10
    assert stderr == ""
    settings = load_settings(env={k: v for k, v in env.items() if k.startswith("VIGNETTE_")})
    with StorySystem.start(settings.model_copy(update={"recraft_api_key": None})) as system:
        story = system.get_story(story_id)
    assert story is not None
    assert story.portrait_status is PortraitStatus.FAILED
    assert (story.portrait_error or "").startswith("interrupted")


def test_a_second_system_in_one_process_is_refused_until_the_first_stops(
    make_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    settings = make_settings(api_key=None)
    first = start_system(settings)

    with pytest.raises(SystemAlreadyRunning, match="already running in this process"):
        StorySystem.start(settings)
    assert first.get_story("nope") is None  # the first one is untouched

    first.stop()
    second = start_system(settings)
    assert second.running
