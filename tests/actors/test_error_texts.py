"""`portrait_error` is written for people: every code's text names no server path, no
temporary file and no stack text. The fault matrix checks the codes a Recraft answer or an
image host can cause; this module checks the rest, and that together they walk every code."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.actors.test_fault_matrix import CASES, assert_no_server_detail
from tests.actors.test_supervisor import read_story
from tests.api.conftest import crashing_factory
from tests.fakes.recraft_server import RecraftServer
from vignette.config import Settings
from vignette.errors import without_paths
from vignette.records import PortraitErrorCode, PortraitStatus, Story
from vignette.system.facade import StorySystem

E = PortraitErrorCode
OUTSIDE_THE_MATRIX = [E.MISSING_API_KEY, E.EMPTY_PROMPT, E.CRASHED, E.TIMEOUT, E.INTERRUPTED]
WAIT_S = 30.0


def test_the_matrix_and_this_module_walk_every_code() -> None:
    in_matrix = {param.values[0].code for param in CASES} - {None}
    assert in_matrix | set(OUTSIDE_THE_MATRIX) == set(PortraitErrorCode)


def portrait_of(system: StorySystem, prompt: str = "a calm portrait") -> Story:
    return system.submit_story(title="A story", body="Told.", image_generation_prompt=prompt)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("code", OUTSIDE_THE_MATRIX)
def test_every_code_outside_the_matrix_names_no_server_detail(
    code: PortraitErrorCode,
    make_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
    tmp_path: Path,
) -> None:
    options: dict[str, object] = {
        "recraft__base_url": recraft.base_url,
        "portraits__allow_insecure_urls": True,
        "portraits__concurrency": 1,
    }
    if code is E.TIMEOUT:
        options["portraits__job_timeout_s"] = 0.2
    settings = make_settings(api_key=None if code is E.MISSING_API_KEY else "rk-test", **options)
    factory = crashing_factory if code is E.CRASHED else None
    system = start_system(settings, client_factory=factory)
    if code in (E.TIMEOUT, E.INTERRUPTED):
        recraft.fake.hold = threading.Event()
    story = portrait_of(system, "" if code is E.EMPTY_PROMPT else "a calm portrait")
    if code is E.INTERRUPTED:
        assert recraft.fake.wait_for_calls(1)
        system.stop(grace_s=0.1)
        done = read_story(settings, story.id)
    else:
        done = system.wait_for_portrait(story.id, timeout=WAIT_S)
    if recraft.fake.hold is not None:
        recraft.fake.hold.set()

    assert done.portrait_status in (PortraitStatus.FAILED, PortraitStatus.SKIPPED)
    assert (done.portrait_error or "").startswith(f"{code}: ")
    assert_no_server_detail(done.portrait_error or "", tmp_path / "files")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "cannot identify image file '/srv/vignette/data/files/tmp/475f/tmptc7a9l2s.part'",
            "cannot identify image file",
        ),
        (
            "[Errno 28] No space left on device: '/srv/files/ab/abcd'",
            "[Errno 28] No space left on device",
        ),
        ('OSError: "C:\\data\\files\\x.part" is locked', "OSError is locked"),
        (
            "not found (url: https://img.example/a/b.png)",
            "not found (url: https://img.example/a/b.png)",
        ),
        ("Recraft answered 400: 'invalid size'", "Recraft answered 400: 'invalid size'"),
    ],
)
def test_without_paths_drops_quoted_file_paths_only(text: str, shown: str) -> None:
    assert without_paths(text) == shown
