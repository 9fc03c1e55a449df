"""The embedding API end to end: real SQLite, real files, real HTTP to a fake Recraft."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pykka
import pytest

from tests.conftest import stored_files
from tests.fakes.recraft_server import RecraftServer
from vignette.config import Settings
from vignette.errors import PortraitConflict, StoredFileNotFound, StoryNotFound
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem


def test_a_generated_story_gets_its_portrait_stored_end_to_end(
    system: StorySystem, recraft: RecraftServer, tmp_path: Path
) -> None:
    story = system.generate_story(seed=7)

    done = system.wait_for_portrait(story.id, timeout=30)

    assert done.portrait_status is PortraitStatus.STORED
    assert done.portrait_error is None
    assert recraft.fake.call_count == 1
    with system.open_file(done.storage_id or "") as (file, content_type):
        data = file.read()
    assert file.closed
    assert content_type == "image/png"
    assert system.read_file(done.storage_id or "") == (data, "image/png")
    assert data == recraft.fake.image
    digest = hashlib.sha256(data).hexdigest()
    assert stored_files(tmp_path / "files") == [tmp_path / "files" / digest[:2] / digest]


def test_stories_are_listed_newest_first_and_filtered_by_portrait_state(
    system: StorySystem,
) -> None:
    ids = [
        system.submit_story(title=f"t{n}", body="b", image_generation_prompt="").id
        for n in range(3)
    ]
    for story_id in ids:
        system.wait_for_portrait(story_id, timeout=30)

    assert [s.id for s in system.list_stories()] == ids[::-1]
    assert [s.id for s in system.list_stories(limit=2)] == ids[:0:-1]
    assert [s.id for s in system.list_stories(status="skipped")] == ids[::-1]
    assert system.list_stories(status=PortraitStatus.STORED) == []
    with pytest.raises(ValueError, match="sideways"):
        system.list_stories(status="sideways")


def contents(root: Path) -> list[Path]:
    """The stored contents (`<sha256[:2]>/<sha256>`), not the staging files a worker may
    still be removing after its portrait's row was written."""
    return [path for path in stored_files(root) if path.parts[-3] != "tmp"]


def test_deleting_a_story_removes_its_file_unless_another_story_has_the_same_content(
    system: StorySystem, tmp_path: Path
) -> None:
    first = system.wait_for_portrait(system.generate_story(seed=1).id, timeout=30)
    second = system.wait_for_portrait(system.generate_story(seed=2).id, timeout=30)
    assert first.storage_id != second.storage_id
    assert len(contents(tmp_path / "files")) == 1  # the fake serves one image

    system.delete_story(first.id)
    assert system.get_story(first.id) is None
    assert len(contents(tmp_path / "files")) == 1
    with pytest.raises(StoredFileNotFound):
        system.open_file(first.storage_id or "")

    system.delete_story(second.id)
    assert contents(tmp_path / "files") == []


def test_unknown_ids_raise_lookup_errors_and_get_story_returns_none(system: StorySystem) -> None:
    assert system.get_story("nope") is None
    with pytest.raises(StoryNotFound):
        system.wait_for_portrait("nope", timeout=1)
    with pytest.raises(StoryNotFound):
        system.regenerate_portrait("nope")
    with pytest.raises(StoryNotFound):
        system.delete_story("nope")
    with pytest.raises(StoredFileNotFound):
        system.open_file("nope")
    with pytest.raises(LookupError):
        system.delete_story("nope")


def test_waiting_for_a_portrait_that_does_not_end_in_time_raises_timeout_error(
    system: StorySystem, recraft: RecraftServer
) -> None:
    recraft.fake.hold = threading.Event()
    story = system.generate_story(seed=1)

    with pytest.raises(TimeoutError, match=story.id):
        system.wait_for_portrait(story.id, timeout=0.2)
    recraft.fake.hold.set()
    assert system.wait_for_portrait(story.id, timeout=30).portrait_status is PortraitStatus.STORED


def test_a_failed_portrait_is_regenerated_and_a_stored_one_only_with_force(
    system: StorySystem, recraft: RecraftServer, tmp_path: Path
) -> None:
    recraft.fake.error = (500, "text/plain", b"upstream broke")
    story = system.wait_for_portrait(system.generate_story(seed=1).id, timeout=30)
    assert (story.portrait_error or "").startswith("api_error: ")

    recraft.fake.error = None
    assert system.regenerate_portrait(story.id).portrait_status is PortraitStatus.PENDING
    stored = system.wait_for_portrait(story.id, timeout=30)
    assert stored.portrait_status is PortraitStatus.STORED
    with pytest.raises(PortraitConflict, match="stored"):
        system.regenerate_portrait(story.id)
    assert recraft.fake.call_count == 2

    system.regenerate_portrait(story.id, force=True)
    again = system.wait_for_portrait(story.id, timeout=30)
    assert again.portrait_status is PortraitStatus.STORED
    assert again.storage_id != stored.storage_id
    assert recraft.fake.call_count == 3
    # The worker removes the replaced portrait just after the story shows the new one, then
    # reports to the supervisor: once no worker is busy, the removal has happened.
    deadline = time.monotonic() + 30
    while system.portrait_side().busy:  # each call is a round trip to the supervisor
        assert time.monotonic() < deadline
    # The replaced portrait's row is gone; its bytes stay, shared with the new one.
    with pytest.raises(StoredFileNotFound):
        system.open_file(stored.storage_id or "")
    assert len(stored_files(tmp_path / "files")) == 1


def test_leaving_the_context_stops_every_actor_it_started(
    make_settings: Callable[..., Settings],
) -> None:
    with StorySystem.start(make_settings(api_key=None)) as system:
        system.generate_story(seed=1)
        assert pykka.ActorRegistry.get_all()

    assert pykka.ActorRegistry.get_all() == []
