"""GET /api/files/{id}: the stored bytes, their type, a sha256 ETag, caching and 304."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import story_body
from tests.fakes.images import png_bytes
from tests.fakes.recraft_server import RecraftServer
from vignette.system.facade import StorySystem


@pytest.fixture
def image_url(client: TestClient, system: StorySystem, recraft: RecraftServer) -> str:
    recraft.fake.image = png_bytes(48, 32)
    story_id = client.post("/api/stories", json=story_body()).json()["id"]
    system.wait_for_portrait(story_id, timeout=30)
    url = client.get(f"/api/stories/{story_id}").json()["image_url"]
    assert url is not None
    return str(url)


def test_a_stored_file_is_served_with_its_type_etag_and_immutable_caching(
    client: TestClient, image_url: str
) -> None:
    image = png_bytes(48, 32)

    answer = client.get(image_url)

    assert answer.status_code == 200
    assert answer.content == image
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["content-length"] == str(len(image))
    assert answer.headers["etag"] == f'"{hashlib.sha256(image).hexdigest()}"'
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "header",
    ["{etag}", "W/{etag}", '"0000", {etag}', "*"],
    ids=["exact", "weak", "in-a-list", "any"],
)
def test_if_none_match_naming_the_etag_gets_304_without_a_body(
    client: TestClient, image_url: str, header: str
) -> None:
    etag = client.get(image_url).headers["etag"]

    answer = client.get(image_url, headers={"If-None-Match": header.format(etag=etag)})

    assert answer.status_code == 304
    assert answer.content == b""
    assert answer.headers["etag"] == etag
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_if_none_match_naming_another_etag_gets_the_file(
    client: TestClient, image_url: str
) -> None:
    answer = client.get(image_url, headers={"If-None-Match": '"' + "0" * 64 + '"'})

    assert answer.status_code == 200
    assert answer.content == png_bytes(48, 32)


@pytest.mark.parametrize("storage_id", ["0" * 32, "nope", "..%2F..%2Fvignette.sqlite3"])
def test_an_unknown_file_is_404_with_a_json_detail(client: TestClient, storage_id: str) -> None:
    answer = client.get(f"/api/files/{storage_id}")

    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert "detail" in answer.json()
