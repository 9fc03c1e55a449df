"""Property-based tests of the HTTP API against its own OpenAPI schema (schemathesis).

Every operation gets generated requests, valid and invalid (schemathesis's explicit
examples, boundary "coverage" cases and random ones), and every answer is checked: never
a 5xx, and status codes, content types and bodies as the schema documents them. The
system is real (SQLite under tmp_path) and has an API token, which every request carries;
without a Recraft key every portrait fails at once with `missing_api_key`, so no network
is used.

schemathesis's pytest integration needs the schema when the module is collected, before
any fixture runs; the schema does not depend on the running system (only on its settings),
so it is read from an app built on the default settings, and requests go to the app under
test through `target`. The first test checks that the app under test serves that schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from starlette.types import Receive, Scope, Send

from tests.api.conftest import LOCAL
from vignette.api import create_app
from vignette.config import Settings, load_settings
from vignette.system.facade import StorySystem
from vignette.system.tokens import ApiTokens

# About 30 generated examples for each of the 10 operations, plus the coverage cases.
EXAMPLES_PER_OPERATION = 30


def defaults(tmp_path: Path | None = None) -> Settings:
    env = {}
    if tmp_path is not None:
        env = {
            "VIGNETTE_DATABASE__URL": f"sqlite:///{tmp_path / 'vignette.sqlite3'}",
            "VIGNETTE_STORAGE__PATH": str(tmp_path / "files"),
        }
    return load_settings(env=env)


class Target:
    """An ASGI app that forwards every request to the app under test."""

    app: FastAPI | None = None
    headers: dict[str, str] = {}  # noqa: RUF012 - what every request sends: the token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no app under test"
        await self.app(scope, receive, send)


target = Target()
# create_app reads only the settings of the system it is given until a request comes.
_schema_app = create_app(cast(StorySystem, SimpleNamespace(settings=defaults())))
schema = schemathesis.openapi.from_dict(_schema_app.openapi())
schema.app = target


@pytest.fixture
def app_under_test(tmp_path: Path, start_system: Callable[..., StorySystem]) -> Iterator[FastAPI]:
    system = start_system(defaults(tmp_path))
    # Something for the fuzzer to find: a listed story whose portrait was skipped.
    system.submit_story(title="A story", body="Seen by the fuzzer.", image_generation_prompt="")
    # With a token, so the requests get past the token check to the routes.
    _, token = ApiTokens(system.settings.database.url).create("fuzzer")
    target.app = create_app(system)
    target.headers = {"Authorization": f"Bearer {token}"}
    yield target.app
    target.app = None


def test_the_app_under_test_serves_the_schema_being_tested(app_under_test: FastAPI) -> None:
    with TestClient(app_under_test, base_url=LOCAL, headers=target.headers) as client:
        assert client.get("/openapi.json").json() == _schema_app.openapi()
        assert client.get("/api/stories").status_code == 200  # the token passes
        assert client.get("/api/stories", headers={"Authorization": ""}).status_code == 401


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_schema_and_never_answers_5xx(case: Any, app_under_test: FastAPI) -> None:
    case.call_and_validate(base_url=LOCAL, headers=target.headers)
