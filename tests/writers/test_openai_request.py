"""The OpenAI-compatible story writer's request: its shape, the prompt and its file, the
settings; a writer passed to start; and one story end to end over real HTTP to a local fake
OpenAI-compatible server, its portrait made by the fake Recraft server.

pytest-httpx stands in for the model server where a test is about one request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpx import HTTPXMock

from tests.fakes.openai_server import OpenAIServer
from tests.fakes.recraft_server import RecraftServer
from tests.writers.conftest import BASE_URL, CHAT_URL, OPENAI_KEY, STORY, sent, story_answer
from vignette.config import ConfigError, Settings, load_settings
from vignette.errors import InvalidStory
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem
from vignette.writers.openai import SHIPPED_PROMPT, OpenAIWriter

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
