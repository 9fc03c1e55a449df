"""The story routes, on a real StorySystem and the fake Recraft server, through TestClient."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import story_body
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
    with TestClient(create_app(system)) as client:
        answer = client.post("/api/stories/generate")

        assert answer.status_code == 502
        assert answer.json() == {
            "detail": "the story writer failed: the language model answered 503: overloaded"
        }
        assert client.get("/api/stories").json() == {"stories": []}


def test_generate_answers_502_when_the_writer_writes_a_story_that_breaks_a_limit(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    system = start_system(local_settings(), writer=LongWindedWriter())
    with TestClient(create_app(system)) as client:
        answer = client.post("/api/stories/generate")

        assert answer.status_code == 502
        assert "title is 201 characters" in answer.json()["detail"]
        assert client.get("/api/stories").json() == {"stories": []}


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
    with TestClient(create_app(system)) as client:
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


# GET /api/stories -------------------------------------------------------------------------


def test_list_is_newest_first_filters_by_state_and_honours_the_limit(
    client: TestClient, system: StorySystem
) -> None:
    ids = [
        client.post("/api/stories", json=story_body(title=f"story {n}")).json()["id"]
        for n in range(3)
    ]
    skipped = client.post("/api/stories", json=story_body(image_generation_prompt="")).json()["id"]
    for story_id in [*ids, skipped]:
        system.wait_for_portrait(story_id, timeout=30)

    everything = client.get("/api/stories").json()["stories"]
    assert [s["id"] for s in everything] == [skipped, *reversed(ids)]
    assert [s["id"] for s in client.get("/api/stories?limit=2").json()["stories"]] == [
        skipped,
        ids[2],
    ]
    stored = client.get("/api/stories", params={"status": "stored"}).json()["stories"]
    assert [s["id"] for s in stored] == list(reversed(ids))
    assert all(s["image_url"] == f"/api/files/{s['storage_id']}" for s in stored)
    only_skipped = client.get("/api/stories?status=skipped").json()["stories"]
    assert [s["id"] for s in only_skipped] == [skipped]
    assert client.get("/api/stories?status=failed").json() == {"stories": []}


@pytest.mark.parametrize(
    "query", ["status=done", "status=", "limit=0", "limit=501", "limit=-3", "limit=many"]
)
def test_list_refuses_an_unknown_state_or_a_limit_out_of_range_with_422(
    client: TestClient, query: str
) -> None:
    answer = client.get(f"/api/stories?{query}")

    assert answer.status_code == 422, answer.text
    assert "detail" in answer.json()


# GET and DELETE /api/stories/{id} ---------------------------------------------------------


def test_get_returns_the_story_and_404_for_an_unknown_id(client: TestClient) -> None:
    created = client.post("/api/stories", json=story_body()).json()

    assert client.get(f"/api/stories/{created['id']}").json()["title"] == created["title"]
    missing = client.get("/api/stories/0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no story has id '0123456789abcdef0123456789abcdef'"}


def test_delete_removes_the_story_and_its_portrait_file(
    client: TestClient, system: StorySystem
) -> None:
    story_id = client.post("/api/stories", json=story_body()).json()["id"]
    stored = system.wait_for_portrait(story_id, timeout=30)
    image_url = f"/api/files/{stored.storage_id}"
    assert client.get(image_url).status_code == 200

    answer = client.delete(f"/api/stories/{story_id}")

    assert answer.status_code == 204
    assert answer.content == b""
    assert client.get(f"/api/stories/{story_id}").status_code == 404
    assert client.get(image_url).status_code == 404
    again = client.delete(f"/api/stories/{story_id}")
    assert again.status_code == 404
    assert "detail" in again.json()


# POST /api/stories/{id}/portrait ----------------------------------------------------------


def test_regenerate_schedules_a_failed_portrait_again(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    recraft.fake.error = (500, "text/plain", b"internal error")
    story_id = client.post("/api/stories", json=story_body()).json()["id"]
    assert system.wait_for_portrait(story_id, timeout=30).portrait_status == "failed"
    recraft.fake.error = None

    answer = client.post(f"/api/stories/{story_id}/portrait")

    assert answer.status_code == 202, answer.text
    assert answer.json()["portrait_status"] in ("pending", "generating", "stored")
    assert system.wait_for_portrait(story_id, timeout=30).portrait_status == "stored"
    assert recraft.fake.call_count == 2


def test_regenerate_refuses_a_stored_portrait_unless_forced(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    story_id = client.post("/api/stories", json=story_body()).json()["id"]
    first = system.wait_for_portrait(story_id, timeout=30)

    refused = client.post(f"/api/stories/{story_id}/portrait")
    assert refused.status_code == 409
    assert "stored" in refused.json()["detail"]
    assert recraft.fake.call_count == 1

    forced = client.post(f"/api/stories/{story_id}/portrait", params={"force": "true"})
    assert forced.status_code == 202, forced.text
    second = system.wait_for_portrait(story_id, timeout=30)
    assert second.portrait_status == "stored"
    assert second.storage_id != first.storage_id
    assert recraft.fake.call_count == 2


def test_regenerate_refuses_a_portrait_under_way_even_when_forced(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    recraft.fake.hold = threading.Event()
    story_id = client.post("/api/stories", json=story_body()).json()["id"]
    assert recraft.fake.wait_for_calls(1)

    for params in ({}, {"force": "true"}):
        answer = client.post(f"/api/stories/{story_id}/portrait", params=params)
        assert answer.status_code == 409, answer.text
        assert "generating" in answer.json()["detail"]

    recraft.fake.hold.set()
    assert system.wait_for_portrait(story_id, timeout=30).portrait_status == "stored"
    assert recraft.fake.call_count == 1


def test_regenerate_answers_404_for_an_unknown_story_and_422_for_a_bad_force(
    client: TestClient,
) -> None:
    assert client.post("/api/stories/nope/portrait").status_code == 404
    story_id = client.post("/api/stories", json=story_body()).json()["id"]
    assert client.post(f"/api/stories/{story_id}/portrait?force=maybe").status_code == 422


# A stopped system ---------------------------------------------------------------------------


def test_every_route_answers_503_not_500_once_the_system_has_stopped(
    client: TestClient, system: StorySystem
) -> None:
    story_id = client.post("/api/stories", json=story_body(image_generation_prompt="")).json()["id"]
    system.wait_for_portrait(story_id, timeout=30)
    system.stop(grace_s=5)

    answers = [
        client.post("/api/stories/generate"),
        client.post("/api/stories", json=story_body()),
        client.get("/api/stories"),
        client.get(f"/api/stories/{story_id}"),
        client.delete(f"/api/stories/{story_id}"),
        client.post(f"/api/stories/{story_id}/portrait"),
        client.get("/api/files/anything"),
        client.get("/"),
    ]

    assert [a.status_code for a in answers] == [503] * len(answers)
    assert all(a.json() == {"detail": "Vignette is stopping or stopped"} for a in answers)
