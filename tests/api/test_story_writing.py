"""Writing and submitting stories, `POST /api/stories/generate` and `POST /api/stories`,
on a real StorySystem and the fake Recraft server, through TestClient."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import LOCAL, story_body
from tests.fakes.recraft_server import RecraftServer
from vignette.api import create_app
from vignette.config import Settings
from vignette.errors import StoryGenerationError
from vignette.records import StoryDraft
from vignette.system.facade import StorySystem

STORY_FIELDS = {
    "id",
    "title",
    "body",
    "image_generation_prompt",
    "storage_id",
    "portrait_status",
    "portrait_error",
    "portrait_credits",
    "created_at",
    "updated_at",
    "image_url",
}


class FailingWriter:
    def write(self, seed: int | None = None, topic: str | None = None) -> StoryDraft:
        raise StoryGenerationError("the language model answered 503: overloaded")


class LongWindedWriter:
    """Writes a story whose title is over the limit: the writer's fault, not the caller's."""

    def write(self, seed: int | None = None, topic: str | None = None) -> StoryDraft:
        return StoryDraft("T" * 201, "A body.", "a prompt")


# POST /api/stories/generate ---------------------------------------------------------------


def test_generate_writes_and_stores_a_story_whose_portrait_follows(
    client: TestClient, system: StorySystem
) -> None:
    answer = client.post("/api/stories/generate")

    assert answer.status_code == 201, answer.text
    story = answer.json()
    assert set(story) == STORY_FIELDS
    assert all(story[k] for k in ("title", "body", "image_generation_prompt"))
    assert story["portrait_status"] in ("pending", "generating")
    assert story["image_url"] is None
    stored = system.wait_for_portrait(story["id"], timeout=30)
    assert stored.storage_id is not None
    again = client.get(f"/api/stories/{story['id']}").json()
    assert again["portrait_status"] == "stored"
    assert again["image_url"] == f"/api/files/{stored.storage_id}"


def test_generate_follows_the_seed_and_topic(client: TestClient) -> None:
    first = client.post("/api/stories/generate", json={"seed": 7, "topic": "cardiology"})
    second = client.post("/api/stories/generate", json={"seed": 7, "topic": "cardiology"})
    other = client.post("/api/stories/generate", json={"seed": 8, "topic": "neurology"})

    assert [a.status_code for a in (first, second, other)] == [201, 201, 201]
    assert first.json()["body"] == second.json()["body"]
    assert first.json()["id"] != second.json()["id"]
    assert other.json()["body"] != first.json()["body"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"topic": "astrology"}, "topic"),
        ({"seed": "seven"}, "seed"),
        ({"seed": 2**70}, "seed"),
        ({"topic": "x" * 101}, "topic"),
        ({"mood": "cheerful"}, "mood"),
    ],
)
def test_generate_refuses_a_bad_request_with_422_naming_the_field(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    answer = client.post("/api/stories/generate", json=body)

    assert answer.status_code == 422, answer.text
    assert any(field in error["loc"] for error in answer.json()["detail"])
    assert client.get("/api/stories").json()["stories"] == []


def test_generate_answers_502_with_the_reason_when_the_writer_fails_and_stores_nothing(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    system = start_system(local_settings(), writer=FailingWriter())
    with TestClient(create_app(system), base_url=LOCAL) as client:
        answer = client.post("/api/stories/generate")

        assert answer.status_code == 502
        assert answer.json() == {
            "detail": "the story writer failed: the language model answered 503: overloaded"
        }
        assert client.get("/api/stories").json() == {"stories": [], "next_cursor": None}


def test_generate_answers_502_when_the_writer_writes_a_story_that_breaks_a_limit(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    system = start_system(local_settings(), writer=LongWindedWriter())
    with TestClient(create_app(system), base_url=LOCAL) as client:
        answer = client.post("/api/stories/generate")

        assert answer.status_code == 502
        assert "title is 201 characters" in answer.json()["detail"]
        assert client.get("/api/stories").json() == {"stories": [], "next_cursor": None}


# POST /api/stories ------------------------------------------------------------------------


def test_submit_stores_the_story_as_given_and_makes_its_portrait(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    answer = client.post("/api/stories", json=story_body())

    assert answer.status_code == 201, answer.text
    story = answer.json()
    assert {k: story[k] for k in ("title", "body", "image_generation_prompt")} == story_body()
    assert system.wait_for_portrait(story["id"], timeout=30).portrait_status == "stored"
    assert recraft.fake.calls[0].body["prompt"] == story_body()["image_generation_prompt"]


def test_submit_with_a_blank_prompt_stores_the_story_with_its_portrait_skipped(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    answer = client.post("/api/stories", json=story_body(image_generation_prompt="  "))

    assert answer.status_code == 201, answer.text
    story = system.wait_for_portrait(answer.json()["id"], timeout=30)
    assert story.portrait_status == "skipped"
    assert (story.portrait_error or "").startswith("empty_prompt: ")
    assert recraft.fake.call_count == 0


def test_submit_takes_each_field_at_its_limit(client: TestClient) -> None:
    body = story_body(title="T" * 200, body="B" * 20_000, image_generation_prompt="p" * 1000)

    answer = client.post("/api/stories", json=body)

    assert answer.status_code == 201, answer.text
    assert len(answer.json()["body"]) == 20_000


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   \n\t"}, "title"),
        ({"title": "T" * 201}, "title"),
        ({"title": None}, "title"),
        ({"title": 12}, "title"),
        ({"body": ""}, "body"),
        ({"body": " "}, "body"),
        ({"body": "B" * 20_001}, "body"),
        ({"image_generation_prompt": "p" * 1001}, "image_generation_prompt"),
        ({"title": "a\x00b"}, "title"),
        ({"extra": "field"}, "extra"),
    ],
)
def test_submit_refuses_a_field_that_breaks_its_limit_with_422_naming_it(
    client: TestClient, fields: dict[str, object], field: str
) -> None:
    answer = client.post("/api/stories", json=story_body(**fields))

    assert answer.status_code == 422, answer.text
    assert any(field in error["loc"] for error in answer.json()["detail"])
    assert client.get("/api/stories").json()["stories"] == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"title": "\\ud800", "body": "b", "image_generation_prompt": ""}',
        b'{"title": "t", "body": ',
        b"[]",
        b"null",
        b"",
    ],
    ids=["lone-surrogate", "truncated", "array", "null", "empty"],
)
def test_submit_refuses_a_body_that_is_not_a_story_with_422(client: TestClient, raw: bytes) -> None:
    answer = client.post("/api/stories", content=raw, headers={"Content-Type": "application/json"})

    assert answer.status_code == 422, answer.text
    assert "detail" in answer.json()


def test_submit_takes_prompts_up_to_the_configured_models_limit(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    system = start_system(local_settings(recraft__model="recraftv4"))
    with TestClient(create_app(system), base_url=LOCAL) as client:
        long_prompt = client.post(
            "/api/stories", json=story_body(image_generation_prompt="p" * 10_000)
        )
        too_long = client.post(
            "/api/stories", json=story_body(image_generation_prompt="p" * 10_001)
        )
        schema = client.get("/openapi.json").json()

    assert long_prompt.status_code == 201, long_prompt.text
    assert too_long.status_code == 422
    assert "10,000" in too_long.text
    prompt = schema["components"]["schemas"]["StoryIn"]["properties"]["image_generation_prompt"]
    assert prompt["maxLength"] == 10_000
