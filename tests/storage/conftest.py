"""The storage suite runs on each backend: `local` (a folder) and `s3` (a bucket of the
session's SeaweedFS server)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.fakes.recraft_server import RecraftServer
from vignette.config import Settings
from vignette.records import Story
from vignette.storage import open_file_store
from vignette.system.facade import StorySystem


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend_settings(
    backend: str, local_settings: Callable[..., Settings], request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    """Settings on this test's backend, portraits made by the fake Recraft."""
    chosen: dict[str, object] = {}
    if backend == "s3":
        chosen = request.getfixturevalue("s3_overrides")

    def make(**overrides: object) -> Settings:
        return local_settings(**(chosen | overrides))

    return make


def stored_contents(settings: Settings) -> set[str]:
    """The sha256 of every content the configured backend holds."""
    return set(open_file_store(settings.storage).older_than(time.time() + 3600))


def portrait(system: StorySystem, recraft: RecraftServer, image: bytes, title: str) -> Story:
    """A story whose portrait is `image`, once its portrait has settled."""
    recraft.fake.image = image
    story = system.submit_story(title=title, body="A story.", image_generation_prompt=title)
    return system.wait_for_portrait(story.id, timeout=30)
