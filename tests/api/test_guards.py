"""Who may reach the API from a browser: only the Host names it serves (DNS rebinding gets
400), and no state-changing request from another site's page (403, nothing done)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import LOCAL, story_body
from tests.fakes.recraft_server import RecraftServer
from vignette.api import create_app
from vignette.config import Settings
from vignette.system.facade import StorySystem
from vignette.system.tokens import ApiTokens


def total(system: StorySystem) -> int:
    return sum(system.count_by_status().values())


# Host -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "localhost.evil.example", ""]
)
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/"), ("GET", "/api/stories"), ("POST", "/api/stories/generate")]
)
def test_a_host_that_is_not_served_gets_400_and_nothing_is_done(
    client: TestClient,
    system: StorySystem,
    recraft: RecraftServer,
    host: str,
    method: str,
    path: str,
) -> None:
    answer = client.request(method, path, headers={"Host": host})

    assert answer.status_code == 400, answer.text
    assert "server.allowed_hosts" in answer.json()["detail"]
    assert total(system) == 0
    assert recraft.fake.call_count == 0


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"]
)
def test_loopback_names_are_always_served(client: TestClient, host: str) -> None:
    assert client.get("/api/stories", headers={"Host": host}).status_code == 200


@pytest.fixture
def configured_client(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> Iterator[TestClient]:
    system = start_system(
        local_settings(
            server__host="vignette.lan", server__allowed_hosts='["vignette.example", "10.0.0.7"]'
        )
    )
    # A daemon on a public name needs a token (tests/api/test_tokens.py); it has one.
    _, token = ApiTokens(system.settings.database.url).create("deploy")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(system), base_url=LOCAL, headers=headers) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "host", ["vignette.lan:8000", "vignette.example", "vignette.example:443", "10.0.0.7:8000"]
)
def test_server_host_and_allowed_hosts_are_served(configured_client: TestClient, host: str) -> None:
    assert configured_client.get("/api/stories", headers={"Host": host}).status_code == 200


def test_a_host_not_in_the_list_is_still_refused(configured_client: TestClient) -> None:
    answer = configured_client.get("/api/stories", headers={"Host": "vignette.evil"})
    assert answer.status_code == 400


# Origin and Referer -----------------------------------------------------------------------------

CROSS_SITE = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://localhost:9999"},  # another port is another site
    {"Origin": "http://127.0.0.1"},  # another name for the same machine is another origin
    {"Referer": "https://evil.example/attack.html"},
    {"Referer": "not a url"},
]


@pytest.mark.parametrize(
    "headers", CROSS_SITE, ids=lambda h: f"{next(iter(h))}={next(iter(h.values()))}"
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/stories/generate", None),
        ("POST", "/api/stories", story_body()),
    ],
)
def test_a_cross_site_post_gets_403_and_no_story_nor_recraft_call(
    client: TestClient,
    system: StorySystem,
    recraft: RecraftServer,
    headers: dict[str, str],
    method: str,
    path: str,
    body: object,
) -> None:
    answer = client.request(
        method,
        path,
        json=body,
        headers={"Host": "localhost", "Content-Type": "text/plain", **headers},
    )

    assert answer.status_code == 403, answer.text
    assert "cross-site" in answer.json()["detail"]
    assert total(system) == 0
    assert recraft.fake.call_count == 0


def test_a_cross_site_delete_and_portrait_request_get_403(
    client: TestClient, system: StorySystem
) -> None:
    submitted = system.submit_story(title="Kept", body="Still here.", image_generation_prompt="")
    story = system.wait_for_portrait(submitted.id, timeout=30)
    evil = {"Origin": "https://evil.example"}

    assert client.delete(f"/api/stories/{story.id}", headers=evil).status_code == 403
    assert client.post(f"/api/stories/{story.id}/portrait", headers=evil).status_code == 403
    assert system.get_story(story.id) == story


def test_a_read_from_another_site_is_answered(client: TestClient) -> None:
    # A browser keeps the answer from the other site's page (no CORS header is sent).
    answer = client.get("/api/stories", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


def test_a_script_sending_neither_origin_nor_referer_may_post(
    client: TestClient, system: StorySystem
) -> None:
    answer = client.post("/api/stories/generate")
    assert answer.status_code == 201, answer.text
    assert total(system) == 1
