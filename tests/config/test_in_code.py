"""Settings built in code by an embedding app, changed copies, and frozen settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from tests.config.support import SECRET_VALUE
from vignette.config import ConfigError, ServerSettings, Settings, load_settings


@pytest.mark.usefixtures("environ")
def test_settings_built_with_no_keywords_are_the_loaded_defaults() -> None:
    assert Settings() == load_settings()


def test_keywords_win_over_the_environment_over_the_defaults(
    environ: pytest.MonkeyPatch,
) -> None:
    environ.setenv("VIGNETTE_SERVER__PORT", "9100")
    environ.setenv("VIGNETTE_PORTRAITS__CONCURRENCY", "16")
    environ.setenv("OPENAI_API_KEY", SECRET_VALUE)

    settings = Settings(portraits={"concurrency": 2}, recraft_api_key=f" {SECRET_VALUE} ")

    assert settings.portraits.concurrency == 2
    assert settings.portraits.rate_limit_per_minute == 100
    assert settings.server.port == 9100
    assert settings.recraft_api_key == SecretStr(SECRET_VALUE)
    assert settings.openai_api_key == SecretStr(SECRET_VALUE)


@pytest.mark.usefixtures("environ")
def test_a_whole_section_may_be_given_as_its_model() -> None:
    settings = Settings(server=ServerSettings(host="0.0.0.0", port=9002))

    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 9002)


@pytest.mark.usefixtures("environ")
def test_a_bad_keyword_fails_with_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(server={"port": 70_000})

    assert str(caught.value) == "server.port = 70000 is not allowed: an integer from 0 to 65535"


def test_an_unknown_variable_in_the_environment_is_refused_in_code_too(
    environ: pytest.MonkeyPatch,
) -> None:
    environ.setenv("VIGNETTE_SERVER__PROT", "9000")

    with pytest.raises(ConfigError, match=r"server\.prot"):
        Settings()


def test_settings_are_frozen() -> None:
    settings: Settings = load_settings(env={})

    with pytest.raises(ValidationError):
        settings.server.port = 1
    with pytest.raises(ValidationError):
        settings.recraft_api_key = SecretStr(SECRET_VALUE)


def test_a_changed_copy_leaves_the_settings_alone() -> None:
    settings = load_settings(env={})

    copy = settings.model_copy(update={"openai_api_key": SecretStr(SECRET_VALUE)})

    assert copy.openai_api_key == SecretStr(SECRET_VALUE)
    assert settings.openai_api_key is None
    assert copy.server == settings.server
