"""What the OpenAI-compatible writer's tests share: the model server's URL and key, a
story and the answers that carry it, and a StorySystem set up with the openai writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.fakes.openai_server import completion
from vignette.config import Settings
from vignette.system.facade import StorySystem

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
        return settings.model_copy(update={"openai_api_key": SecretStr(key) if key else None})

    return make


@pytest.fixture
def system(
    openai_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> StorySystem:
    return start_system(openai_settings())
