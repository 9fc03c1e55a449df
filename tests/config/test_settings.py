"""Settings: the defaults, a TOML file overlaid on them, and environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.support import SECRET_VALUE, write_toml
from vignette.config import load_settings

# Defaults ----------------------------------------------------------------------------------


def test_the_defaults_load_with_every_key_of_the_contract() -> None:
    settings = load_settings(env={})

    assert settings.database.url == "sqlite:///data/vignette.sqlite3"
    assert settings.storage.path == "data/files"
    assert settings.storage.max_file_bytes == 52_428_800
    assert settings.recraft.base_url == "https://external.api.recraft.ai/v1"
    assert settings.recraft.model == "recraftv3"
    assert settings.recraft.style == "realistic_image"
    assert settings.recraft.size == "1024x1024"
    assert settings.recraft.timeout_s == 120
    assert settings.portraits.concurrency == 4
    assert settings.portraits.rate_limit_per_minute == 100
    assert settings.portraits.allow_insecure_urls is False
    assert settings.stories.writer == "template"
    assert settings.stories.base_url == "https://api.openai.com/v1"
    assert settings.stories.model == "gpt-4o-mini"
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 8000
    assert settings.logging.level == "INFO"
    assert settings.logging.json is False
    assert settings.recraft_api_key is None
    assert settings.openai_api_key is None


def test_the_defaults_do_not_read_the_process_environment_when_env_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGNETTE_SERVER__PORT", "9999")
    monkeypatch.setenv("RECRAFT_API_KEY", SECRET_VALUE)

    settings = load_settings(env={})

    assert settings.server.port == 8000
    assert settings.recraft_api_key is None


def test_the_recraft_prompt_limit_follows_the_model() -> None:
    assert load_settings(env={}).recraft.prompt_limit == 1_000
    v4 = load_settings(env={"VIGNETTE_RECRAFT__MODEL": "recraftv4"})
    assert v4.recraft.prompt_limit == 10_000


# A TOML file, then the environment -----------------------------------------------------------


def test_a_toml_file_overlays_the_defaults_key_by_key(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        """
        [server]
        port = 9001

        [recraft]
        model = "recraftv4"
        timeout_s = 30

        [logging]
        json = true
        """,
    )

    settings = load_settings(path, env={})

    assert settings.server.port == 9001
    assert settings.recraft.model == "recraftv4"
    assert settings.recraft.timeout_s == 30.0
    assert isinstance(settings.recraft.timeout_s, float)
    assert settings.logging.json is True
    # Keys the file does not name keep their defaults, even in the sections it touches.
    assert settings.server.host == "127.0.0.1"
    assert settings.recraft.size == "1024x1024"
    assert settings.recraft.style == "realistic_image"
    assert settings.logging.level == "INFO"
    assert settings.database.url == "sqlite:///data/vignette.sqlite3"


def test_a_path_may_be_given_as_a_string(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[storage]\npath = "/srv/portraits"\n')

    assert load_settings(str(path), env={}).storage.path == "/srv/portraits"


def test_environment_overrides_win_over_the_file_and_are_coerced(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        """
        [server]
        port = 9001
        host = "0.0.0.0"

        [recraft]
        timeout_s = 30

        [logging]
        json = true

        [portraits]
        allow_insecure_urls = false
        """,
    )
    env = {
        "VIGNETTE_SERVER__PORT": "9100",
        "VIGNETTE_RECRAFT__TIMEOUT_S": "2.5",
        "VIGNETTE_LOGGING__JSON": "false",
        "VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS": "true",
        "VIGNETTE_PORTRAITS__CONCURRENCY": "16",
        "VIGNETTE_STORIES__WRITER": "openai",
    }

    settings = load_settings(path, env=env)

    assert settings.server.port == 9100
    assert type(settings.server.port) is int
    assert settings.recraft.timeout_s == 2.5
    assert type(settings.recraft.timeout_s) is float
    assert settings.logging.json is False
    assert settings.portraits.allow_insecure_urls is True
    assert settings.portraits.concurrency == 16
    assert type(settings.portraits.concurrency) is int
    assert settings.stories.writer == "openai"
    # The file still counts where the environment is silent.
    assert settings.server.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("TRUE", True), ("false", False), ("False", False)]
)
def test_a_boolean_override_is_read_from_true_or_false(text: str, expected: bool) -> None:
    settings = load_settings(env={"VIGNETTE_LOGGING__JSON": text})

    assert settings.logging.json is expected


def test_environment_variables_without_the_prefix_or_a_double_underscore_are_ignored() -> None:
    env = {
        "SERVER__PORT": "1",
        "VIGNETTE_SERVER_PORT": "2",
        "VIGNETTE_HOME": "/somewhere",
        "PATH": "/usr/bin",
    }

    assert load_settings(env=env).server.port == 8000


def test_an_insecure_base_url_is_accepted_when_insecure_urls_are_allowed() -> None:
    settings = load_settings(
        env={
            "VIGNETTE_RECRAFT__BASE_URL": "http://127.0.0.1:8089/v1",
            "VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS": "true",
        }
    )

    assert settings.recraft.base_url == "http://127.0.0.1:8089/v1"


def test_a_postgresql_url_is_accepted() -> None:
    url = "postgresql://vignette@db.internal:5432/vignette"

    assert load_settings(env={"VIGNETTE_DATABASE__URL": url}).database.url == url
