"""The gallery's buttons post with a CSRF token tied to a SameSite=Strict cookie: a form
post from a browser without the token gets 403, even on a daemon with no API tokens."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import story_body
from tests.fakes.recraft_server import RecraftServer
from vignette.api.csrf import CSRF_COOKIE, CSRF_HEADER
from vignette.system.facade import StorySystem

OWN = {"Origin": "http://localhost"}


def page_token(client: TestClient, path: str = "/", cookie: str | None = None) -> str:
    """Load a page; the token in its meta tag, which must be the cookie's."""
    headers = {} if cookie is None else {"Cookie": f"{CSRF_COOKIE}={cookie}"}
    client.cookies.clear()  # each request names its cookies itself
    answer = client.get(path, headers=headers)
    client.cookies.clear()
    assert answer.status_code == 200
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)">', answer.text)
    assert meta is not None, answer.text[:500]
    token = meta.group(1)
    if cookie is None:
        set_cookie = answer.headers["set-cookie"]
        assert set_cookie.startswith(f"{CSRF_COOKIE}={token};")
        assert "HttpOnly" in set_cookie
        assert "SameSite=strict" in set_cookie or "SameSite=Strict" in set_cookie
        assert "Path=/" in set_cookie
    return token


def with_token(token: str, **headers: str) -> dict[str, str]:
    return {**OWN, "Cookie": f"{CSRF_COOKIE}={token}", CSRF_HEADER: token, **headers}


def total(system: StorySystem) -> int:
    return sum(system.count_by_status().values())


def test_the_gallery_gives_a_token_in_a_strict_cookie_and_keeps_it(client: TestClient) -> None:
    token = page_token(client)
    assert len(token) >= 40
    # Another tab, with the cookie already set, gets the same token and no new cookie.
    answer = client.get("/", headers={"Cookie": f"{CSRF_COOKIE}={token}"})
    assert f'content="{token}"' in answer.text
    assert "set-cookie" not in answer.headers
    assert page_token(client) != token  # a browser without the cookie gets a new one


def test_a_post_from_the_page_with_its_token_works(client: TestClient, system: StorySystem) -> None:
    token = page_token(client)

    made = client.post("/api/stories/generate", headers=with_token(token))

    assert made.status_code == 201, made.text
    story_id = made.json()["id"]
    system.wait_for_portrait(story_id, timeout=30)
    again = client.post(f"/api/stories/{story_id}/portrait?force=true", headers=with_token(token))
    assert again.status_code == 202, again.text


@pytest.mark.parametrize(
    "case", ["no-token-no-cookie", "cookie-only", "header-only", "mismatch", "empty"]
)
@pytest.mark.parametrize(
    "source", [OWN, {"Referer": "http://localhost/"}], ids=["origin", "referer"]
)
def test_a_browser_post_without_the_right_token_gets_403_and_does_nothing(
    client: TestClient,
    system: StorySystem,
    recraft: RecraftServer,
    case: str,
    source: dict[str, str],
) -> None:
    token = page_token(client)
    headers = {
        "no-token-no-cookie": {},
        "cookie-only": {"Cookie": f"{CSRF_COOKIE}={token}"},
        "header-only": {CSRF_HEADER: token},
        "mismatch": {"Cookie": f"{CSRF_COOKIE}={token}", CSRF_HEADER: page_token(client)},
        "empty": {"Cookie": f"{CSRF_COOKIE}=", CSRF_HEADER: ""},
    }[case]

    form = client.post(
        "/api/stories",
        content="title=x&body=y",
        headers={**source, **headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    generate = client.post("/api/stories/generate", headers={**source, **headers})

    for answer in (form, generate):
        assert answer.status_code == 403, answer.text
        assert "CSRF" in answer.json()["detail"]
    assert total(system) == 0
    assert recraft.fake.call_count == 0


def test_a_cross_site_post_is_refused_even_with_a_token(client: TestClient) -> None:
    token = page_token(client)
    headers = with_token(token, Origin="https://evil.example")
    assert client.post("/api/stories", json=story_body(), headers=headers).status_code == 403


def test_a_script_needs_no_csrf_token(client: TestClient) -> None:
    assert client.post("/api/stories", json=story_body()).status_code == 201


def test_the_api_docs_page_sends_the_token_with_its_requests(client: TestClient) -> None:
    client.cookies.clear()
    answer = client.get("/docs")
    client.cookies.clear()
    token = answer.cookies[CSRF_COOKIE]
    assert f'requestInterceptor: (request) => {{ request.headers["{CSRF_HEADER}"] = "{token}"' in (
        answer.text
    )
    made = client.post("/api/stories", json=story_body(), headers=with_token(token))
    assert made.status_code == 201
