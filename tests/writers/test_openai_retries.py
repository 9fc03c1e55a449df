"""When the OpenAI-compatible story writer asks again: after a malformed answer (up to
stories.max_attempts), and in JSON mode from a server that rejects json_schema output. A
story fenced in a markdown code block is not malformed.

pytest-httpx stands in for the model server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from pytest_httpx import HTTPXMock

from tests.writers.conftest import CHAT_URL, STORY, sent, story_answer
from vignette.config import Settings
from vignette.errors import StoryGenerationError
from vignette.system.facade import StorySystem

if TYPE_CHECKING:
    from loguru import Record


# A malformed answer ------------------------------------------------------------------------


def test_a_malformed_answer_is_asked_once_more_and_the_second_answer_is_stored(
    httpx_mock: HTTPXMock, system: StorySystem, logs: list[Record]
) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=story_answer("{'title': 'single quotes'}"))
    httpx_mock.add_response(url=CHAT_URL, content=story_answer())

    story = system.generate_story(seed=3)

    assert story.title == STORY["title"]
    first, second = httpx_mock.get_requests()
    assert sent(first) == sent(second)
    assert [s.id for s in system.list_stories()] == [story.id]
    assert any("asking again (2/2)" in r["message"] for r in logs)


def test_json_fenced_in_a_markdown_code_block_is_accepted(
    httpx_mock: HTTPXMock, system: StorySystem
) -> None:
    # Some local models wrap the object in a code fence even in JSON mode.
    httpx_mock.add_response(
        url=CHAT_URL, content=story_answer(f"```json\n{json.dumps(STORY)}\n```")
    )

    story = system.generate_story()

    assert (story.title, story.body) == (STORY["title"], STORY["body"])
    assert len(httpx_mock.get_requests()) == 1


def test_max_attempts_one_gives_up_after_the_first_malformed_answer(
    httpx_mock: HTTPXMock,
    openai_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=story_answer("not json"))
    system = start_system(openai_settings(stories__max_attempts=1))

    with pytest.raises(StoryGenerationError, match="not valid JSON") as raised:
        system.generate_story()

    assert "attempts" not in str(raised.value)
    assert len(httpx_mock.get_requests()) == 1
    assert system.list_stories() == []


def test_max_attempts_three_asks_three_times(
    httpx_mock: HTTPXMock,
    openai_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
) -> None:
    for _ in range(2):
        httpx_mock.add_response(url=CHAT_URL, content=story_answer({"title": "only a title"}))
    httpx_mock.add_response(url=CHAT_URL, content=story_answer())
    system = start_system(openai_settings(stories__max_attempts=3))

    story = system.generate_story()

    assert story.body == STORY["body"]
    assert len(httpx_mock.get_requests()) == 3


# The json_schema -> JSON mode fallback -----------------------------------------------------

SCHEMA_REJECTED = json.dumps(
    {
        "error": {
            "message": "Invalid parameter: 'response_format' of type 'json_schema' is not "
            "supported with this model.",
            "type": "invalid_request_error",
            "param": "response_format",
        }
    }
)


def test_a_server_rejecting_json_schema_is_asked_in_json_mode_from_then_on(
    httpx_mock: HTTPXMock, system: StorySystem, logs: list[Record]
) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=400, text=SCHEMA_REJECTED)
    httpx_mock.add_response(url=CHAT_URL, content=story_answer())
    httpx_mock.add_response(url=CHAT_URL, content=story_answer())

    first = system.generate_story(seed=1)
    second = system.generate_story(seed=2)

    formats = [sent(r)["response_format"]["type"] for r in httpx_mock.get_requests()]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert [s.id for s in system.list_stories()] == [second.id, first.id]
    assert sum("asking in JSON mode from now on" in r["message"] for r in logs) == 1


def test_a_400_about_something_else_is_not_taken_for_a_missing_json_schema(
    httpx_mock: HTTPXMock, system: StorySystem
) -> None:
    httpx_mock.add_response(
        url=CHAT_URL,
        status_code=400,
        json={"error": {"message": "This model's maximum context length is 8192 tokens."}},
    )

    with pytest.raises(StoryGenerationError, match="answered 400: This model's maximum context"):
        system.generate_story()

    assert len(httpx_mock.get_requests()) == 1
    assert system.list_stories() == []


def test_when_json_mode_is_rejected_too_the_error_names_that_answer(
    httpx_mock: HTTPXMock, system: StorySystem
) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=400, text=SCHEMA_REJECTED)
    httpx_mock.add_response(
        url=CHAT_URL,
        status_code=400,
        json={"error": {"message": "'response_format.type' must be 'json_schema' or 'text'"}},
    )

    with pytest.raises(StoryGenerationError, match=r"answered 400: 'response_format\.type' must"):
        system.generate_story()

    assert len(httpx_mock.get_requests()) == 2
    assert system.list_stories() == []
