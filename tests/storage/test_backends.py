"""Storing, deduplicating, deleting, sweeping and serving portraits, and what fails, on
each backend: a real folder, and a real bucket (SeaweedFS)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.fakes.images import png_bytes, webp_bytes
from tests.fakes.recraft_server import RecraftServer
from tests.seaweed import Seaweed
from tests.storage.conftest import portrait, stored_contents
from vignette.api import create_app
from vignette.config import Settings
from vignette.records import PortraitStatus, StagedFile
from vignette.storage import open_file_store
from vignette.system.facade import StorySystem

if TYPE_CHECKING:
    from loguru import Record

pytestmark = pytest.mark.sqlite_only
LOCAL = "http://localhost"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_portrait_is_stored_under_its_sha256_and_opened_again(
    backend: str,
    backend_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
    request: pytest.FixtureRequest,
) -> None:
    settings = backend_settings()
    system = start_system(settings)
    image = webp_bytes(40, 30)
    recraft.fake.image_content_type = "image/webp"

    story = portrait(system, recraft, image, "stored")

    assert story.portrait_status is PortraitStatus.STORED
    assert story.storage_id is not None
    with system.open_file(story.storage_id) as (file, content_type):
        assert file.read() == image
    assert content_type == "image/webp"
    assert stored_contents(settings) == {sha256(image)}
    if backend == "s3":  # the object's own headers: its type, and its sha256 as metadata
        seaweed: Seaweed = request.getfixturevalue("seaweed")
        head = seaweed.client().head_object(
            Bucket=settings.storage.s3.bucket, Key=f"portraits/{sha256(image)}"
        )
        assert head["ContentType"] == "image/webp"
        assert head["Metadata"] == {"sha256": sha256(image)}
        assert head["ContentLength"] == len(image)
    else:
        assert not list((Path(settings.storage.path) / "tmp").rglob("*.part"))


def test_identical_content_is_stored_once_and_kept_until_its_last_row_is_deleted(
    backend_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
) -> None:
    settings = backend_settings()
    system = start_system(settings)
    image = png_bytes(20, 20)
    first = portrait(system, recraft, image, "first")
    second = portrait(system, recraft, image, "second")
    assert first.storage_id is not None
    assert second.storage_id is not None
    assert first.storage_id != second.storage_id
    assert stored_contents(settings) == {sha256(image)}

    system.delete_story(first.id)

    assert stored_contents(settings) == {sha256(image)}
    assert system.read_file(second.storage_id) == (image, "image/png")

    system.delete_story(second.id)

    assert stored_contents(settings) == set()


def test_the_sweep_removes_content_no_row_names_and_rows_no_story_has(
    tmp_path: Path,
    backend_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
) -> None:
    settings = backend_settings()
    system = start_system(settings)
    kept = portrait(system, recraft, png_bytes(30, 30), "kept")
    lost = portrait(system, recraft, png_bytes(31, 31), "lost")
    assert lost.storage_id is not None
    lost_info = system.file_info(lost.storage_id)
    assert lost_info is not None
    # A story deleted by a process that died before deleting its file: its row stays.
    system._document.delete_story(lost.id).get(timeout=10)
    # Content stored by a process that died before recording it.
    stray = png_bytes(32, 32)
    staging = tmp_path / "stray.part"
    staging.write_bytes(stray)
    staged = StagedFile(str(staging), sha256(stray), len(stray), "image/png")
    assert open_file_store(settings.storage).put(staged) is True
    assert len(stored_contents(settings)) == 3

    assert system._storage.sweep_orphans(3600).get(timeout=30) == (0, 0)  # none that old
    assert system._storage.sweep_orphans(0).get(timeout=30) == (1, 2)

    assert kept.storage_id is not None
    kept_info = system.file_info(kept.storage_id)
    assert kept_info is not None
    assert stored_contents(settings) == {kept_info.sha256}
    assert system.file_info(lost_info.id) is None


def test_the_api_serves_a_stored_file_with_its_etag_caching_and_304(
    backend_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
) -> None:
    system = start_system(backend_settings())
    image = png_bytes(48, 32)
    story = portrait(system, recraft, image, "served")
    etag = f'"{sha256(image)}"'

    with TestClient(create_app(system), base_url=LOCAL) as client:
        answer = client.get(f"/api/files/{story.storage_id}")
        again = client.get(f"/api/files/{story.storage_id}", headers={"If-None-Match": etag})
        missing = client.get("/api/files/" + "0" * 32)

    assert answer.status_code == 200
    assert answer.content == image
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["etag"] == etag
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert missing.status_code == 404


def test_with_redirect_the_api_sends_the_client_to_a_presigned_url_of_the_object(
    s3_overrides: dict[str, object],
    local_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
) -> None:
    system = start_system(local_settings(**s3_overrides, storage__s3__redirect=True))
    image = png_bytes(50, 20)
    story = portrait(system, recraft, image, "redirected")

    with TestClient(create_app(system), base_url=LOCAL) as client:
        answer = client.get(f"/api/files/{story.storage_id}", follow_redirects=False)
        cached = client.get(
            f"/api/files/{story.storage_id}", headers={"If-None-Match": f'"{sha256(image)}"'}
        )

    assert answer.status_code == 307
    assert answer.headers["cache-control"] == "no-store"
    location = answer.headers["location"]
    assert "X-Amz-Signature=" in location
    assert "X-Amz-Expires=300" in location
    fetched = httpx.get(location)
    assert fetched.status_code == 200
    assert fetched.content == image
    assert cached.status_code == 304


def test_an_image_over_the_size_cap_is_refused_and_nothing_is_stored(
    backend_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
) -> None:
    image = png_bytes(64, 64)
    settings = backend_settings(storage__max_file_bytes=len(image) - 1)
    system = start_system(settings)

    story = portrait(system, recraft, image, "too large")

    assert story.portrait_status is PortraitStatus.FAILED
    assert (story.portrait_error or "").startswith("too_large: ")
    assert stored_contents(settings) == set()


def test_a_store_that_refuses_fails_the_portrait_with_storage_error_and_loses_nothing(
    backend: str,
    backend_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
    monkeypatch: pytest.MonkeyPatch,
    logs: list[Record],
) -> None:
    image = png_bytes(33, 33)
    settings = backend_settings()
    secret = "wrong-" + "s" * 34
    right = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if backend == "s3":  # credentials the bucket does not know: refused, not tried again
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    else:  # a regular file where the content's directory must go
        root = Path(settings.storage.path)
        root.mkdir(parents=True, exist_ok=True)
        (root / sha256(image)[:2]).write_bytes(b"")
    system = start_system(settings)

    story = portrait(system, recraft, image, "refused")

    assert story.portrait_status is PortraitStatus.FAILED
    assert (story.portrait_error or "").startswith("storage_error: could not store the image")
    assert system.get_story(story.id) == story
    assert recraft.fake.call_count == 1
    assert not any(secret in record["message"] for record in logs)
    assert secret not in (story.portrait_error or "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", right)
    assert stored_contents(backend_settings()) == set()
