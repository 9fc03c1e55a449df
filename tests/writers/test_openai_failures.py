"""The OpenAI-compatible story writer's failures, through a real StorySystem on tmp_path:
each reaches the caller and stores nothing, the system keeps serving, and the key never
appears in an error or a log line.

pytest-httpx stands in for the model server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest
from pytest_httpx import HTTPXMock

from tests.writers.conftest import (
    BASE_URL,
    CHAT_URL,
    OPENAI_KEY,
    STORY,
    message_answer,
    story_answer,
)
from vignette.errors import StoryGenerationError
from vignette.system.facade import StorySystem

if TYPE_CHECKING:
    from loguru import Record


# Failures ---------------------------------------------------------------------------------


def add_answer(
    status: int = 200,
    body: bytes | str = b"",
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Callable[[HTTPXMock], None]:
    data = body.encode() if isinstance(body, str) else body
    all_headers = {"Content-Type": content_type, **(headers or {})}
    return lambda mock: mock.add_response(
        url=CHAT_URL, status_code=status, content=data, headers=all_headers
    )


def twice(add: Callable[[HTTPXMock], None]) -> Callable[[HTTPXMock], None]:
    def both(mock: HTTPXMock) -> None:
        add(mock)
        add(mock)

    return both


def over(field: str, size: int) -> bytes:
    return story_answer({**STORY, field: "x" * size})


FAILURES = [
    pytest.param(
        lambda mock: mock.add_exception(httpx.ReadTimeout("timed out"), url=CHAT_URL),
        r"did not answer within 60 s \(stories\.timeout_s\)",
        1,
        id="timeout",
    ),
    pytest.param(
        lambda mock: mock.add_exception(httpx.ConnectError("connection refused"), url=CHAT_URL),
        r"could not reach https://llm\.example/v1/chat/completions: ConnectError",
        1,
        id="unreachable",
    ),
    pytest.param(
        add_answer(
            401,
            json.dumps(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {OPENAI_KEY}.",
                        "code": "invalid_api_key",
                    }
                }
            ),
        ),
        r"answered 401: Incorrect API key provided: \[redacted\]\. \(invalid_api_key\); "
        r"check OPENAI_API_KEY",
        1,
        id="401",
    ),
    pytest.param(
        add_answer(
            429,
            '{"error": {"message": "Rate limit reached for requests"}}',
            headers={"Retry-After": "20"},
        ),
        r"answered 429 Too Many Requests \(Retry-After: 20\): Rate limit reached",
        1,
        id="429",
    ),
    pytest.param(
        add_answer(500, "upstream exploded", "text/plain"),
        r"answered 500: upstream exploded",
        1,
        id="500",
    ),
    pytest.param(
        add_answer(200, "<html>gateway</html>", "text/html"),
        r"answered 200 with something that is not JSON: <html>gateway</html>",
        1,
        id="not-json-at-all",
    ),
    pytest.param(
        add_answer(200, '{"object": "list", "data": []}'),
        r"not a chat completion \(no choices\[0\]\.message\)",
        1,
        id="not-a-completion",
    ),
    pytest.param(
        add_answer(200, message_answer({"content": None, "refusal": "I can't help with that."})),
        r"the model refused: I can't help with that\.",
        1,
        id="refusal",
    ),
    pytest.param(
        add_answer(200, message_answer({"content": None}, finish_reason="content_filter")),
        r"content filter withheld the answer \(finish_reason content_filter\)",
        1,
        id="content-filter",
    ),
    pytest.param(
        twice(add_answer(200, story_answer('{"title": "Tomasz No', finish_reason="length"))),
        r"cut off .*\(finish_reason length\) before its JSON was complete \(after 2 attempts\)",
        2,
        id="length",
    ),
    pytest.param(
        twice(add_answer(200, story_answer("Sure! Here is a story about Tomasz."))),
        r"the answer is not valid JSON \(Expecting value at character 0\): Sure! Here is",
        2,
        id="malformed-json",
    ),
    pytest.param(
        twice(add_answer(200, story_answer("[1, 2]"))),
        r"the answer is JSON but not an object",
        2,
        id="json-array",
    ),
    pytest.param(
        twice(add_answer(200, story_answer({"title": "t", "body": "b"}))),
        r"the answer has no image_generation_prompt \(its keys: body, title\) "
        r"\(after 2 attempts\)",
        2,
        id="missing-field",
    ),
    pytest.param(
        twice(add_answer(200, story_answer({**STORY, "body": "  \n "}))),
        r"body is empty",
        2,
        id="empty-field",
    ),
    pytest.param(
        twice(add_answer(200, story_answer({**STORY, "title": 42}))),
        r"title is int, not a string",
        2,
        id="field-not-a-string",
    ),
    pytest.param(
        twice(add_answer(200, over("title", 201))),
        r"title is 201 characters; at most 200",
        2,
        id="title-over-limit",
    ),
    pytest.param(
        twice(add_answer(200, over("body", 20_001))),
        r"body is 20,001 characters; at most 20,000",
        2,
        id="body-over-limit",
    ),
    pytest.param(
        twice(add_answer(200, over("image_generation_prompt", 1_001))),
        r"image_generation_prompt is 1,001 characters; at most 1,000",
        2,
        id="prompt-over-recraft-limit",
    ),
    pytest.param(
        twice(add_answer(200, story_answer("[" * 100_000 + "]" * 100_000))),
        r"the answer's JSON is nested too deeply",
        2,
        id="json-nested-too-deeply",
    ),
    pytest.param(
        add_answer(200, b" " * (1024 * 1024 + 1)),
        r"the answer is larger than 1,048,576 bytes",
        1,
        id="answer-too-large",
    ),
]


@pytest.mark.parametrize(("answer", "reason", "requests"), FAILURES)
def test_each_failure_reaches_the_caller_stores_nothing_and_the_system_keeps_serving(
    httpx_mock: HTTPXMock,
    system: StorySystem,
    logs: list[Record],
    answer: Callable[[HTTPXMock], None],
    reason: str,
    requests: int,
) -> None:
    answer(httpx_mock)

    with pytest.raises(StoryGenerationError, match=reason) as raised:
        system.generate_story(topic="cardiology")

    message = str(raised.value)
    assert message.startswith(f"story model test-model at {BASE_URL}: ")
    assert OPENAI_KEY not in message
    assert len(httpx_mock.get_requests()) == requests  # timeouts and HTTP errors: no retry
    assert system.list_stories() == []
    assert any(
        r["level"].name == "WARNING" and "no story was written" in r["message"] for r in logs
    )
    assert all(OPENAI_KEY not in r["message"] + str(r["extra"]) for r in logs)

    # The StoryActor lives on: the next story is written and stored.
    httpx_mock.add_response(url=CHAT_URL, content=story_answer())
    story = system.generate_story()
    assert [s.id for s in system.list_stories()] == [story.id]


# Secrets ----------------------------------------------------------------------------------


def test_the_key_never_appears_in_errors_or_logs(
    httpx_mock: HTTPXMock, system: StorySystem, logs: list[Record]
) -> None:
    echoed = f"key {OPENAI_KEY} is not valid"
    httpx_mock.add_response(url=CHAT_URL, status_code=400, text=f"response_format: {echoed}")
    httpx_mock.add_response(url=CHAT_URL, content=story_answer(f"not json, {echoed}"))
    httpx_mock.add_response(url=CHAT_URL, content=story_answer(f"still not json, {echoed}"))

    with pytest.raises(StoryGenerationError) as raised:
        system.generate_story()

    assert "[redacted]" in str(raised.value)
    assert OPENAI_KEY not in str(raised.value)
    assert OPENAI_KEY not in repr(raised.value)
    assert len(logs) >= 3  # the fallback, the second attempt, the failure
    for record in logs:
        assert OPENAI_KEY not in record["message"]
        assert OPENAI_KEY not in str(record["extra"])
    assert OPENAI_KEY not in repr(system.settings)
