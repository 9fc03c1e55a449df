"""A request body over 1 MiB gets 413, declared or streamed; nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import story_body
from vignette.api import MAX_BODY_BYTES


def oversized_story() -> bytes:
    """A story body whose JSON is just over the limit."""
    raw = json.dumps(story_body(body="x" * MAX_BODY_BYTES)).encode()
    assert len(raw) > MAX_BODY_BYTES
    return raw


def in_chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("route", ["/api/stories", "/api/stories/generate"])
def test_a_declared_length_over_the_limit_gets_413(client: TestClient, route: str) -> None:
    answer = client.post(
        route, content=oversized_story(), headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 413
    assert answer.json() == {"detail": "the request body is larger than 1,048,576 bytes"}
    assert client.get("/api/stories").json() == {"stories": [], "next_cursor": None}


def test_a_streamed_body_without_a_length_is_counted_and_gets_413(client: TestClient) -> None:
    answer = client.post(
        "/api/stories",
        content=in_chunks(oversized_story()),
        headers={"Content-Type": "application/json"},
    )

    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413
    assert answer.json() == {"detail": "the request body is larger than 1,048,576 bytes"}
    assert client.get("/api/stories").json() == {"stories": [], "next_cursor": None}


def test_a_streamed_body_under_the_limit_is_read_as_usual(client: TestClient) -> None:
    answer = client.post(
        "/api/stories",
        content=in_chunks(json.dumps(story_body()).encode(), size=7),
        headers={"Content-Type": "application/json"},
    )

    assert answer.status_code == 201, answer.text


def test_a_body_just_under_the_limit_is_validated_not_refused(client: TestClient) -> None:
    raw = json.dumps(story_body(body="x" * (MAX_BODY_BYTES - 500))).encode()
    assert len(raw) <= MAX_BODY_BYTES

    answer = client.post("/api/stories", content=raw, headers={"Content-Type": "application/json"})

    assert answer.status_code == 422  # the body is over 20,000 characters, but not 413
    assert any("body" in error["loc"] for error in answer.json()["detail"])


def test_a_content_length_that_is_not_a_number_gets_400(client: TestClient) -> None:
    answer = client.post(
        "/api/stories",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "lots"},
    )

    assert answer.status_code == 400
    assert "detail" in answer.json()
