"""Once an API token exists, the API needs one: 401 without it, with a wrong or revoked one;
the right one passes and names its caller in the access log. Reads of the gallery, health,
metrics and files stay open unless `server.private_reads` is on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import LOCAL, story_body
from tests.fakes.recraft_server import RecraftServer
from vignette.api import create_app
from vignette.config import Settings
from vignette.models.tables import ApiTokenRow
from vignette.system.facade import StorySystem
from vignette.system.tokens import ApiTokens

if TYPE_CHECKING:
    from loguru import Record


@pytest.fixture
def tokens(system: StorySystem) -> ApiTokens:
    return ApiTokens(system.settings.database.url)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def total(system: StorySystem) -> int:
    return sum(system.count_by_status().values())


def test_without_tokens_the_api_is_open(client: TestClient) -> None:
    assert client.get("/api/stories").status_code == 200
    assert client.post("/api/stories/generate").status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("vgn_not-a-token"),
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "wrong", "basic", "bearer-alone", "bearer-empty"],
)
def test_once_a_token_exists_a_request_without_the_right_one_gets_401(
    client: TestClient,
    tokens: ApiTokens,
    system: StorySystem,
    recraft: RecraftServer,
    headers: dict[str, str],
) -> None:
    tokens.create("ci-bot")

    for method, path in [
        ("GET", "/api/stories"),
        ("POST", "/api/stories/generate"),
        ("GET", "/api/stories/no-such-id"),
        ("GET", "/api/nothing-here"),
    ]:
        answer = client.request(method, path, headers=headers)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "token" in answer.json()["detail"]
    assert client.post("/api/stories", json=story_body(), headers=headers).status_code == 401
    assert total(system) == 0
    assert recraft.fake.call_count == 0


def test_a_wrong_token_is_named_invalid(client: TestClient, tokens: ApiTokens) -> None:
    tokens.create("ci-bot")
    answer = client.get("/api/stories", headers=bearer("vgn_wrong"))
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_the_right_token_passes(client: TestClient, tokens: ApiTokens) -> None:
    _, token = tokens.create("ci-bot")

    made = client.post("/api/stories/generate", headers=bearer(token))
    assert made.status_code == 201, made.text
    assert client.get("/api/stories", headers=bearer(token)).status_code == 200
    # The scheme is not case-sensitive.
    assert (
        client.get("/api/stories", headers={"Authorization": f"bearer {token}"}).status_code == 200
    )


def test_a_revoked_token_gets_401_and_others_still_pass(
    client: TestClient, tokens: ApiTokens
) -> None:
    _, kept = tokens.create("kept")
    _, revoked = tokens.create("revoked")
    assert client.get("/api/stories", headers=bearer(revoked)).status_code == 200

    tokens.revoke("revoked")

    assert client.get("/api/stories", headers=bearer(revoked)).status_code == 401
    assert client.get("/api/stories", headers=bearer(kept)).status_code == 200


def test_revoking_the_last_token_opens_a_loopback_api_again(
    client: TestClient, tokens: ApiTokens
) -> None:
    tokens.create("only")
    assert client.get("/api/stories").status_code == 401
    tokens.revoke("only")
    assert client.get("/api/stories").status_code == 200


@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics", "/api/files/unknown", "/docs"])
def test_reads_outside_the_api_stay_open_with_tokens(
    client: TestClient, tokens: ApiTokens, path: str
) -> None:
    tokens.create("ci-bot")
    assert client.get(path).status_code in (200, 404)


def test_a_state_changing_request_outside_the_api_needs_a_token(
    client: TestClient, tokens: ApiTokens
) -> None:
    tokens.create("ci-bot")
    assert client.post("/").status_code == 401


@pytest.fixture
def private_client(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> Iterator[tuple[TestClient, ApiTokens]]:
    system = start_system(local_settings(server__private_reads=True))
    with TestClient(create_app(system), base_url=LOCAL) as test_client:
        yield test_client, ApiTokens(system.settings.database.url)


@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics", "/api/files/unknown", "/docs"])
def test_private_reads_guard_every_read_once_tokens_exist(
    private_client: tuple[TestClient, ApiTokens], path: str
) -> None:
    client, tokens = private_client
    assert client.get(path).status_code in (200, 404)  # no token yet: open
    _, token = tokens.create("viewer")

    assert client.get(path).status_code == 401
    assert client.get(path, headers=bearer(token)).status_code in (200, 404)


def test_a_daemon_on_a_public_address_needs_a_token_even_before_one_exists(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    system = start_system(local_settings(server__host="0.0.0.0"))
    with TestClient(create_app(system), base_url=LOCAL) as client:
        answer = client.get("/api/stories")
        assert answer.status_code == 401
        assert "token create" in answer.json()["detail"]
        assert client.get("/healthz").status_code == 200


def test_the_access_log_names_the_caller_and_never_the_token(
    client: TestClient, tokens: ApiTokens, logs: list[Record]
) -> None:
    _, token = tokens.create("ci-bot")

    client.get("/api/stories", headers=bearer(token))
    client.get("/api/stories", headers=bearer(token + "x"))
    client.get("/healthz")

    access = [r for r in logs if "status" in r["extra"]]
    assert [(r["extra"]["caller"], r["extra"]["status"]) for r in access] == [
        ("ci-bot", 200),
        (None, 401),
        (None, 200),
    ]
    assert "ci-bot" in access[0]["message"]
    assert "GET /api/stories" in access[0]["message"]
    for record in logs:
        assert token[4:] not in record["message"] + repr(record["extra"])


def test_a_token_check_the_database_cannot_answer_is_refused_with_503(
    client: TestClient, tokens: ApiTokens, system: StorySystem
) -> None:
    _, token = tokens.create("ci-bot")
    assert client.get("/api/stories", headers=bearer(token)).status_code == 200  # opened
    with tokens.database.connection_context():
        ApiTokenRow.drop_table()

    answer = client.post("/api/stories/generate", headers=bearer("vgn_anything"))

    assert answer.status_code == 503, answer.text
    assert "database" in answer.json()["detail"]
    assert total(system) == 0
