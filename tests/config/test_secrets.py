"""Settings: the API keys, read from the environment only and never shown."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.config.support import SECRET_VALUE, config_error, write_toml
from vignette.config import ConfigError, Settings, load_settings

# Secrets ----------------------------------------------------------------------------------


def test_the_api_key_is_read_from_the_environment_into_a_secret() -> None:
    settings = load_settings(env={"RECRAFT_API_KEY": f"  {SECRET_VALUE}\n"})

    assert isinstance(settings.recraft_api_key, SecretStr)
    assert settings.recraft_api_key.get_secret_value() == SECRET_VALUE


def test_the_openai_key_is_read_from_the_environment_into_a_secret() -> None:
    settings = load_settings(env={"OPENAI_API_KEY": SECRET_VALUE})

    assert isinstance(settings.openai_api_key, SecretStr)
    assert settings.openai_api_key.get_secret_value() == SECRET_VALUE


def test_a_secret_never_shows_its_value_and_neither_do_the_settings() -> None:
    settings = load_settings(env={"RECRAFT_API_KEY": SECRET_VALUE, "OPENAI_API_KEY": SECRET_VALUE})
    key = settings.recraft_api_key
    assert key is not None

    shown = [repr(key), str(key), f"{key}", f"{key!r}", repr(settings), str(settings)]

    for text in shown:
        assert SECRET_VALUE not in text
        assert SECRET_VALUE[:8] not in text


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_api_key_counts_as_no_key(blank: str) -> None:
    settings = load_settings(env={"RECRAFT_API_KEY": blank, "OPENAI_API_KEY": blank})

    assert settings.recraft_api_key is None
    assert settings.openai_api_key is None


def test_a_secret_in_a_config_file_is_refused(tmp_path: Path) -> None:
    path = write_toml(tmp_path, f'[recraft]\napi_key = "{SECRET_VALUE}"\n')

    message = config_error(path)

    assert "recraft.api_key" in message
    assert SECRET_VALUE not in message


def test_a_refusal_never_shows_a_secret(tmp_path: Path) -> None:
    env = {
        "RECRAFT_API_KEY": SECRET_VALUE,
        "OPENAI_API_KEY": SECRET_VALUE,
        "VIGNETTE_PORTRAITS__CONCURRENCY": "0",
    }

    with pytest.raises(ConfigError) as caught:
        load_settings(write_toml(tmp_path, "[server]\nport = 1\n"), env=env)

    shown = "".join(traceback.format_exception(caught.value))
    assert "portraits.concurrency" in shown
    assert SECRET_VALUE not in shown


@pytest.mark.usefixtures("environ")
def test_a_secret_of_the_wrong_kind_is_refused_without_its_value() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(recraft_api_key=[SECRET_VALUE])

    assert "recraft_api_key" in str(caught.value)
    assert SECRET_VALUE not in "".join(traceback.format_exception(caught.value))


def test_a_secret_given_as_an_override_is_refused_without_its_value() -> None:
    message = config_error(overrides={"openai_api_key": SECRET_VALUE})

    assert "openai_api_key" in message
    assert SECRET_VALUE not in message


@pytest.mark.parametrize("bad", ["é", "\u00a0", "\x00", "\u200b", "\t"])
def test_a_key_that_is_not_printable_ascii_is_refused_in_one_line_without_its_value(
    bad: str,
) -> None:
    key = f"rk-{SECRET_VALUE}{bad}tail"
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"RECRAFT_API_KEY": key})

    message = str(caught.value)
    assert "\n" not in message
    assert "RECRAFT_API_KEY" in message or "recraft_api_key" in message
    assert "printable ASCII" in message
    assert SECRET_VALUE not in "".join(traceback.format_exception(caught.value))
    assert "tail" not in message
