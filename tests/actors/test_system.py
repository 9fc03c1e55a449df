"""The embedding API end to end: real SQLite, real files, real HTTP to a fake Recraft."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from actors import PortraitStatus, StorySystem
from config import Settings
from tests.conftest import stored_files
from tests.fakes.recraft_server import RecraftServer


@pytest.fixture
def recraft() -> Iterator[RecraftServer]:
    with RecraftServer() as server:
        yield server


@pytest.fixture
def system(
    make_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
) -> StorySystem:
    settings = make_settings(
        recraft__base_url=recraft.base_url, portraits__allow_insecure_urls=True
    )
    return start_system(settings)


def test_a_generated_story_gets_its_portrait_stored_end_to_end(
    system: StorySystem, recraft: RecraftServer, tmp_path: Path
) -> None:
    story = system.generate_story(seed=7)

    done = system.wait_for_portrait(story.id, timeout=30)

    assert done.portrait_status is PortraitStatus.STORED
    assert done.portrait_error is None
    assert recraft.fake.call_count == 1
    file, content_type = system.open_file(done.storage_id or "")
    with file:
        data = file.read()
    assert content_type == "image/png"
    assert data == recraft.fake.image
    digest = hashlib.sha256(data).hexdigest()
    assert stored_files(tmp_path / "files") == [tmp_path / "files" / digest[:2] / digest]
