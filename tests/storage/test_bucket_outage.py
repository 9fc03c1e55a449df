"""The bucket unreachable mid-run (its server stopped, then started again): uploads are
tried again until their deadline, so the portraits caught by it are stored once it is
back; nothing stored before is lost, Recraft is not called again, and meanwhile the API
answers 503 for a file it cannot read."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from loguru import logger

from tests.fakes.recraft_server import RecraftServer
from tests.seaweed import Seaweed, seaweed_server
from tests.storage.test_shared_bucket import Images
from vignette import metrics
from vignette.api import create_app
from vignette.config import Settings
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem

if TYPE_CHECKING:
    from loguru import Message

pytestmark = pytest.mark.sqlite_only
WORKERS = 3


@pytest.fixture
def own_seaweed(seaweed: Seaweed, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seaweed]:
    """A SeaweedFS server of this test's own, to stop and start (`seaweed` checks that
    one can run here)."""
    with seaweed_server() as server:
        for name, value in server.aws_env.items():
            monkeypatch.setenv(name, value)
        yield server


def retried_stories(count: int) -> tuple[threading.Event, Callable[[Message], None]]:
    """An event set once `count` different portraits have had an upload tried again."""
    seen: set[str] = set()
    reached = threading.Event()

    def sink(message: Message) -> None:
        record = message.record
        if "could not store the image" in record["message"] and "trying again" in str(
            record["message"]
        ):
            seen.add(str(record["extra"].get("story_id")))
            if len(seen) >= count:
                reached.set()

    return reached, sink


def test_portraits_caught_by_a_bucket_outage_are_stored_once_it_is_back(
    own_seaweed: Seaweed,
    local_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
) -> None:
    images = Images()
    recraft.fake.image_for = images
    settings = local_settings(
        storage__backend="s3",
        storage__s3__endpoint_url=own_seaweed.endpoint_url,
        storage__s3__bucket=own_seaweed.new_bucket(),
        storage__s3__region="us-east-1",
        portraits__concurrency=WORKERS,
    )
    system = start_system(settings)
    before = [
        system.submit_story(title=f"before {n}", body="A story.", image_generation_prompt=f"b{n}")
        for n in range(4)
    ]
    stored_before = [system.wait_for_portrait(story.id, timeout=30) for story in before]
    assert {story.portrait_status for story in stored_before} == {PortraitStatus.STORED}
    retries_before = metrics.REGISTRY.get_sample_value("vignette_storage_retries_total") or 0
    reached, sink = retried_stories(WORKERS)
    sink_id = logger.add(sink, level="WARNING")
    try:
        own_seaweed.stop()
        during = [
            system.submit_story(
                title=f"during {n}", body="A story.", image_generation_prompt=f"d{n}"
            )
            for n in range(WORKERS + 3)
        ]
        # Every worker holds a portrait it cannot upload; a stored file cannot be read.
        assert reached.wait(timeout=60)
        assert stored_before[0].storage_id is not None
        with TestClient(create_app(system), base_url="http://localhost") as client:
            unreadable = client.get(f"/api/files/{stored_before[0].storage_id}")
        assert unreadable.status_code == 503
        assert "did not answer" in unreadable.json()["detail"]
        own_seaweed.start()
    finally:
        logger.remove(sink_id)

    settled = [system.wait_for_portrait(story.id, timeout=60) for story in during]

    assert {story.portrait_status for story in settled} == {PortraitStatus.STORED}
    assert recraft.fake.call_count == len(before) + len(during)
    assert max(recraft.fake.calls_by_prompt.values()) == 1
    retries = metrics.REGISTRY.get_sample_value("vignette_storage_retries_total") or 0
    assert retries - retries_before >= WORKERS
    for story in stored_before + settled:
        assert story.storage_id is not None
        info = system.file_info(story.storage_id)
        assert info is not None
        data, _ = system.read_file(story.storage_id)
        assert data == images.by_sha256[info.sha256]
