"""Reading, listing, deleting stories and scheduling portraits again, on a real
StorySystem and the fake Recraft server, through TestClient; and the answers of a
stopped system or a method a path does not serve."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import story_body
from tests.fakes.recraft_server import RecraftServer
from vignette.system.facade import StorySystem

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
    assert client.get("/api/stories?status=failed").json() == {"stories": [], "next_cursor": None}


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


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/stories", "GET, POST"),
        ("PUT", "/api/stories/0123456789abcdef0123456789abcdef", "DELETE, GET"),
        ("DELETE", "/api/stories/0123456789abcdef0123456789abcdef/portrait", "POST"),
        ("PATCH", "/api/files/anything", "GET"),
        ("POST", "/healthz", "GET"),
        ("PUT", "/", "GET"),
    ],
)
def test_a_method_a_path_does_not_serve_gets_405_naming_every_method_it_does(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    answer = client.request(method, path)

    assert answer.status_code == 405
    assert answer.headers["Allow"] == allowed
    assert answer.json() == {"detail": "Method Not Allowed"}
