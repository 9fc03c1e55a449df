"""HTTP as ordinary tools expect it: HEAD on every GET route, byte ranges on files, and an
access-log line per request through the daemon's own logging set-up (JSON when
`logging.json`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from tests.api.conftest import LOCAL, story_body
from vignette.api import create_app
from vignette.config import Settings
from vignette.config.logging import configure_logging
from vignette.system.facade import StorySystem
from vignette.system.tokens import ApiTokens


def get_paths(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[str]:
    """The path of every route that answers GET, routers included in the app included."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            yield from get_paths(included.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
        elif "GET" in (getattr(route, "methods", None) or ()):
            yield prefix + str(route.path)  # type: ignore[attr-defined]


@pytest.fixture
def stored(client: TestClient, system: StorySystem) -> tuple[str, str]:
    """A story with a stored portrait: its id and storage id."""
    story_id = client.post("/api/stories", json=story_body()).json()["id"]
    story = system.wait_for_portrait(story_id, timeout=30)
    assert story.storage_id is not None
    return story.id, story.storage_id


def test_every_get_route_answers_head_with_the_get_headers_and_no_body(
    client: TestClient, stored: tuple[str, str]
) -> None:
    story_id, storage_id = stored
    values = {"story_id": story_id, "storage_id": storage_id}
    templates = set(get_paths(client.app.routes))  # type: ignore[attr-defined]
    documented = client.get("/openapi.json").json()["paths"]
    assert {path for path, operations in documented.items() if "get" in operations} <= templates
    paths = {template.format(**values) for template in templates}
    assert {"/", "/healthz", "/metrics", "/docs", f"/stories/{story_id}"} <= paths

    for path in sorted(paths):
        get = client.get(path)
        head = client.head(path)
        assert head.status_code == get.status_code, path
        assert head.content == b"", path
        assert head.headers.get("content-type") == get.headers.get("content-type"), path
        if path != "/metrics":  # the metrics change between two requests
            assert head.headers.get("content-length") == get.headers.get("content-length"), path
    # An unknown id is a 404 for HEAD too; a route without GET still refuses HEAD.
    assert client.head("/stories/0123456789abcdef0123456789abcdef").status_code == 404
    assert client.head(f"/api/stories/{story_id}/portrait").status_code == 405


def test_head_on_a_file_gives_its_size_type_and_etag(
    client: TestClient, stored: tuple[str, str]
) -> None:
    _, storage_id = stored
    whole = client.get(f"/api/files/{storage_id}")

    head = client.head(f"/api/files/{storage_id}")

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(whole.content))
    assert head.headers["etag"] == whole.headers["etag"]
    assert head.headers["accept-ranges"] == "bytes"


def test_a_file_is_served_a_byte_range_at_a_time(
    client: TestClient, stored: tuple[str, str]
) -> None:
    _, storage_id = stored
    url = f"/api/files/{storage_id}"
    whole = client.get(url)
    body, etag, size = whole.content, whole.headers["etag"], len(whole.content)
    assert whole.headers["accept-ranges"] == "bytes"

    for asked, start, end in [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, size - 1),
        ("bytes=-5", size - 5, size - 1),
        (f"bytes=3-{size + 100}", 3, size - 1),
    ]:
        part = client.get(url, headers={"Range": asked})
        assert part.status_code == 206, asked
        assert part.content == body[start : end + 1], asked
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}", asked
        assert part.headers["content-length"] == str(end - start + 1), asked
        assert part.headers["etag"] == etag
        assert part.headers["cache-control"] == "public, max-age=31536000, immutable"

    past = client.get(url, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{size}"
    # Several ranges, or an If-Range naming another version: the whole file.
    assert client.get(url, headers={"Range": "bytes=0-1,4-5"}).content == body
    stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert (stale.status_code, stale.content) == (200, body)
    fresh = client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert (fresh.status_code, fresh.content) == (206, body[:10])
    # The ETag still wins over a range: a client that has the file gets 304.
    cached = client.get(url, headers={"Range": "bytes=0-9", "If-None-Match": etag})
    assert cached.status_code == 304


@pytest.fixture
def json_logging(
    capsys: pytest.CaptureFixture[str],
    configured_logging: None,
) -> Callable[[], list[dict]]:  # type: ignore[type-arg]
    """The daemon's logging set-up with `logging.json = true`; the JSON lines it wrote."""

    def lines() -> list[dict]:  # type: ignore[type-arg]
        # Lines written before the set-up (starting the system) are not JSON; skip them.
        err = capsys.readouterr().err.splitlines()
        return [json.loads(line) for line in err if line.startswith("{")]

    return lines


def test_each_request_gets_one_json_access_line_naming_its_caller_not_its_token(
    local_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    json_logging: Callable[[], list[dict]],  # type: ignore[type-arg]
) -> None:
    settings = local_settings(logging__json=True)
    assert settings.logging.json
    system = start_system(settings)
    _, token = ApiTokens(settings.database.url).create("uptime-check")
    configure_logging(settings.logging)
    with TestClient(create_app(system), base_url=LOCAL) as client:
        json_logging()  # start-up lines
        assert client.get("/api/stories", headers={"Authorization": f"Bearer {token}"}).is_success
        assert client.head("/healthz").status_code == 200
        assert client.get("/api/stories").status_code == 401

    written = json_logging()
    access = [line["record"]["extra"] for line in written if "method" in line["record"]["extra"]]
    assert [(a["method"], a["path"], a["status"], a["caller"]) for a in access] == [
        ("GET", "/api/stories", 200, "uptime-check"),
        ("HEAD", "/healthz", 200, None),
        ("GET", "/api/stories", 401, None),
    ]
    assert all(a["step"] == "http" and a["duration_ms"] >= 0 for a in access)
    assert all(token not in json.dumps(line) for line in written)
    first = next(line for line in written if line["record"]["extra"].get("method"))
    assert first["record"]["message"].startswith("GET /api/stories 200 ")
