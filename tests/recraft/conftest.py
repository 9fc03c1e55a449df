"""What the Recraft client's tests share: Recraft's URLs and answer, and a client whose
waits are recorded instead of slept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import API_KEY
from vignette.config import Settings, load_settings
from vignette.errors import PortraitFailure
from vignette.recraft.client import RecraftClient

GENERATIONS_URL = "https://external.api.recraft.ai/v1/images/generations"
IMAGE_URL = "https://img.recraft.ai/abc"
ANSWER = {"created": 1, "credits": 40, "data": [{"image_id": "a", "url": IMAGE_URL}]}


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"no test may resolve {host}")


class Client:
    """A RecraftClient whose waits are recorded instead of slept."""

    def __init__(self, settings: Settings, max_attempts: int = 1, jitter: float = 0.5) -> None:
        self.sleeps: list[float] = []
        self.client = RecraftClient(
            settings.recraft,
            SecretStr(API_KEY),
            max_file_bytes=settings.storage.max_file_bytes,
            max_attempts=max_attempts,
            resolve=no_dns,
            sleep=self.sleeps.append,
            random=lambda: jitter,
        )

    def generate(self, prompt: str = "an old sailor", log: Any = None) -> str:
        return self.client.generate_image_url(prompt, log)

    def failure(self, prompt: str = "an old sailor", log: Any = None) -> PortraitFailure:
        with pytest.raises(PortraitFailure) as caught:
            self.generate(prompt, log)
        return caught.value


@pytest.fixture
def settings_for() -> Callable[..., Settings]:
    def make(**env: str) -> Settings:
        return load_settings(env={f"VIGNETTE_{k.upper()}": v for k, v in env.items()})

    return make


@pytest.fixture
def settings(settings_for: Callable[..., Settings]) -> Settings:
    return settings_for()


@pytest.fixture
def client(settings: Settings) -> Client:
    return Client(settings)
