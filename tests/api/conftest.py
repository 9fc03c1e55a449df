"""Fixtures for the HTTP API: a real StorySystem on tmp_path, the fake Recraft, a client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from tests.api.browser import chromium, live_gallery  # noqa: F401 - fixtures
from vignette.api import create_app
from vignette.recraft.client import RecraftClient
from vignette.system.facade import StorySystem

# What the test clients call: a Host the server answers to (TestClient's own is "testserver").
LOCAL = "http://localhost"


@pytest.fixture
def client(system: StorySystem) -> Iterator[TestClient]:
    with TestClient(create_app(system), base_url=LOCAL) as test_client:
        yield test_client


def story_body(**fields: object) -> dict[str, object]:
    """A valid `POST /api/stories` body, with `fields` replacing some of it."""
    body: dict[str, object] = {
        "title": "Mrs A, 72: breathless on the stairs",
        "body": "Mrs A, 72, has been breathless on the stairs for a month. " * 3,
        "image_generation_prompt": "a calm portrait of an older woman by a window",
    }
    body.update(fields)
    return body


def settled(system: StorySystem, timeout: float = 30.0) -> None:
    """Wait until no portrait job is held by a worker.

    A worker counts a portrait's final state, then tells the supervisor it is done; once
    the supervisor has no busy worker, every count of a finished portrait has been made.
    Each round is an ask answered by the supervisor, not a sleep.
    """
    deadline = time.monotonic() + timeout
    while system.portrait_side().busy:
        assert time.monotonic() < deadline, "portrait workers still busy"


class WorkerBug(RuntimeError):
    """Stands for a bug in the pipeline: an exception no step expects."""


class CrashingClient:
    """A Recraft client whose every call raises what no step expects (the crash seam)."""

    def generate_image_url(self, *args: Any, **kwargs: Any) -> str:
        raise WorkerBug("crash seam")

    def download(self, *args: Any, **kwargs: Any) -> str:
        raise WorkerBug("crash seam")

    def close(self) -> None:
        pass


def crashing_factory() -> RecraftClient:
    return cast(RecraftClient, CrashingClient())
