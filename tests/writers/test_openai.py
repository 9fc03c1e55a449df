"""The OpenAI-compatible story writer, driven through a real StorySystem on tmp_path.

pytest-httpx stands in for the model server where a test is about one request (its shape,
each failure, the validation, the fallback); one story goes end to end over real HTTP to a
local fake OpenAI-compatible server, its portrait made by the fake Recraft server.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import SecretStr
from pytest_httpx import HTTPXMock

from tests.fakes.openai_server import OpenAIServer, completion
from tests.fakes.recraft_server import RecraftServer
from vignette.config import ConfigError, Settings, load_settings
from vignette.errors import InvalidStory, StoryGenerationError
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem
from vignette.writers.openai import SHIPPED_PROMPT, OpenAIWriter

if TYPE_CHECKING:
    from loguru import Record

BASE_URL = "https://llm.example/v1"
CHAT_URL = f"{BASE_URL}/chat/completions"
OPENAI_KEY = "sk-test-openai-3f9a1c7e5b2d"
STORY = {
    "title": "Tomasz Nowak, 67: palpitations",
    "body": "Tomasz Nowak, 67, a retired bus driver, comes to the clinic with episodes of a "
    "racing heartbeat that leave him light-headed.",
    "image_generation_prompt": "Photorealistic portrait of a 67-year-old man with thinning "
    "sandy hair in a quiet outpatient clinic, thoughtful, soft window light, 85mm lens.",
}


def story_answer(story: Any = None, finish_reason: str = "stop") -> bytes:
    content = story if isinstance(story, str) else json.dumps(STORY if story is None else story)
    return completion(content, finish_reason)


def message_answer(message: dict[str, Any], finish_reason: str = "stop") -> bytes:
    body = json.loads(completion("", finish_reason))
    body["choices"][0]["message"] = {"role": "assistant", **message}
    return json.dumps(body).encode()


def sent(request: httpx.Request) -> Any:
    return json.loads(request.content)


@pytest.fixture
def openai_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings for the openai writer; no Recraft key, so portraits never touch the network."""

    def make(key: str | None = OPENAI_KEY, **overrides: Any) -> Settings:
        overrides = {
            "stories__writer": "openai",
            "stories__base_url": BASE_URL,
            "stories__model": "test-model",
            **overrides,
        }
        settings = make_settings(api_key=None, **overrides)
        return dataclasses.replace(settings, openai_api_key=None if key is None else SecretStr(key))

    return make


@pytest.fixture
def system(
    openai_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> StorySystem:
    return start_system(openai_settings())


# The request ------------------------------------------------------------------------------


def test_the_request_carries_model_prompt_topic_schema_seed_and_key(
    httpx_mock: HTTPXMock, system: StorySystem
) -> None:
    httpx_mock.add_response(url=CHAT_URL, method="POST", content=story_answer())

    story = system.generate_story(seed=42, topic="cardiology")

    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    body = sent(request)
    assert body["model"] == "test-model"
    assert body["seed"] == 42
    system_message, user_message = body["messages"]
    assert system_message == {
        "role": "system",
        "content": SHIPPED_PROMPT.read_text(encoding="utf-8").strip(),
    }
    assert user_message["role"] == "user"
    assert "Topic: cardiology." in user_message["content"]
    assert "at most 1,000 characters" in user_message["content"]  # recraftv3's prompt limit
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    schema = response_format["json_schema"]
    assert schema["strict"] is True
    assert schema["schema"]["required"] == ["title", "body", "image_generation_prompt"]
    assert schema["schema"]["additionalProperties"] is False
    assert all(p["type"] == "string" for p in schema["schema"]["properties"].values())
    # The story as the model wrote it, stored and scheduled for its portrait.
    stored = system.get_story(story.id)
    assert stored is not None
    assert (stored.title, stored.body, stored.image_generation_prompt) == tuple(STORY.values())
    # Its portrait was scheduled (and fails here only because no Recraft key is set).
    done = system.wait_for_portrait(story.id, timeout=10)
    assert (done.portrait_error or "").startswith("missing_api_key")


def test_the_shipped_prompt_asks_for_json_a_respectful_vignette_and_a_safe_portrait() -> None:
    prompt = SHIPPED_PROMPT.read_text(encoding="utf-8")

    # OpenAI's JSON mode refuses a request whose messages never say "JSON".
    assert "JSON" in prompt
    for key in ("title", "body", "image_generation_prompt"):
        assert f'"{key}"' in prompt
    for theme in ("plausible", "Respectful", "age", "mood", "photographic style", "graphic"):
        assert theme in prompt


def test_without_a_key_no_authorization_header_is_sent_and_seed_and_topic_are_optional(
    httpx_mock: HTTPXMock,
    openai_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=story_answer())
    system = start_system(openai_settings(key=None))

    system.generate_story()

    request = httpx_mock.get_request()
    assert request is not None
    assert "Authorization" not in request.headers
    body = sent(request)
    assert "seed" not in body
    assert "Topic:" not in body["messages"][1]["content"]


def test_any_topic_is_accepted_but_a_blank_one_is_refused_before_any_request(
    httpx_mock: HTTPXMock, system: StorySystem
) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=story_answer())

    system.generate_story(topic="  sports   medicine ")
    with pytest.raises(InvalidStory, match="topic"):
        system.generate_story(topic="   ")

    requests = httpx_mock.get_requests()
    assert len(requests) == 1
    assert "Topic: sports medicine." in sent(requests[0])["messages"][1]["content"]


def test_a_user_supplied_prompt_file_replaces_the_system_prompt(
    httpx_mock: HTTPXMock,
    openai_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    tmp_path: Path,
) -> None:
    prompt_file = tmp_path / "my_prompt.md"
    prompt_file.write_text("You write gentle paediatric vignettes. Answer in JSON.\n")
    httpx_mock.add_response(url=CHAT_URL, content=story_answer())
    system = start_system(openai_settings(stories__prompt_file=str(prompt_file)))

    system.generate_story()

    request = httpx_mock.get_request()
    assert request is not None
    assert sent(request)["messages"][0] == {
        "role": "system",
        "content": "You write gentle paediatric vignettes. Answer in JSON.",
    }


def test_a_missing_or_empty_prompt_file_stops_start_up_naming_the_key(
    openai_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"stories\.prompt_file = .*nowhere\.md"):
        openai_settings(stories__prompt_file=str(tmp_path / "nowhere.md"))

    empty = tmp_path / "empty.md"
    empty.write_text("  \n")
    settings = openai_settings(stories__prompt_file=str(empty))
    with pytest.raises(ConfigError, match=r"stories\.prompt_file = .*empty"):
        StorySystem.start(settings)


def test_the_new_story_settings_have_defaults_and_refuse_bad_values() -> None:
    settings = load_settings(env={})

    assert settings.stories.writer == "template"
    assert settings.stories.prompt_file == ""
    assert settings.stories.timeout_s == 60.0
    assert settings.stories.max_attempts == 2
    for key, value, allowed in [
        ("MAX_ATTEMPTS", "0", "an integer from 1 to 10"),
        ("TIMEOUT_S", "0", "a number of seconds above 0"),
        ("TIMEOUT_S", "soon", "a number of seconds above 0"),
    ]:
        with pytest.raises(ConfigError, match=f"stories.{key.lower()} = .*{allowed}"):
            load_settings(env={f"VIGNETTE_STORIES__{key}": value})


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


def test_an_openai_writer_can_be_passed_to_start_directly(
    httpx_mock: HTTPXMock,
    make_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
) -> None:
    settings = make_settings(api_key=None, stories__base_url=BASE_URL)  # writer = template
    httpx_mock.add_response(url=CHAT_URL, content=story_answer())
    writer = OpenAIWriter(
        settings.stories, api_key=None, prompt_limit=settings.recraft.prompt_limit
    )

    story = start_system(settings, writer=writer).generate_story(topic="dermatology")

    assert story.title == STORY["title"]
    assert sent(httpx_mock.get_requests()[0])["model"] == "gpt-4o-mini"


# End to end over real HTTP ----------------------------------------------------------------


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


def test_one_story_end_to_end_through_a_local_openai_compatible_server(
    make_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    openai_server: OpenAIServer,
) -> None:
    with RecraftServer() as recraft:
        settings = make_settings(
            stories__writer="openai",
            stories__base_url=openai_server.base_url,
            stories__model="llama3.2",
            recraft__base_url=recraft.base_url,
            portraits__allow_insecure_urls=True,
        )
        system = start_system(settings)

        story = system.generate_story(topic="cardiology")
        done = system.wait_for_portrait(story.id, timeout=30)

        fake = openai_server.fake.story
        assert (story.title, story.image_generation_prompt) == (
            fake["title"],
            fake["image_generation_prompt"],
        )
        assert story.body == fake["body"] + " (Topic: cardiology.)"
        assert system.get_story(story.id) == done
        assert done.portrait_status is PortraitStatus.STORED
        assert recraft.fake.calls[0].body["prompt"] == fake["image_generation_prompt"]
    (request,) = openai_server.fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "llama3.2"
    assert request.body["response_format"]["type"] == "json_schema"
    assert "Authorization" not in request.headers  # no OPENAI_API_KEY in this environment
