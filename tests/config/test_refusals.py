"""Settings: what stops loading, always with one line naming the key, the value and what is
allowed, or the unknown section or key and where it came from."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from tests.config.support import config_error, write_toml
from vignette.config import ConfigError, load_settings

# Refusals ---------------------------------------------------------------------------------


BAD_VALUES = [
    pytest.param(
        {"VIGNETTE_PORTRAITS__CONCURRENCY": "0"},
        "portraits.concurrency",
        "0",
        "1 to 1024",
        id="concurrency-zero",
    ),
    pytest.param(
        {"VIGNETTE_PORTRAITS__CONCURRENCY": "four"},
        "portraits.concurrency",
        "four",
        "1 to 1024",
        id="concurrency-not-a-number",
    ),
    pytest.param(
        {"VIGNETTE_SERVER__PORT": "70000"},
        "server.port",
        "70000",
        "0 to 65535",
        id="port-too-high",
    ),
    pytest.param(
        {"VIGNETTE_RECRAFT__TIMEOUT_S": "-5"},
        "recraft.timeout_s",
        "-5",
        "above 0",
        id="negative-timeout",
    ),
    pytest.param(
        {"VIGNETTE_RECRAFT__TIMEOUT_S": "nan"},
        "recraft.timeout_s",
        "nan",
        "above 0",
        id="nan-timeout",
    ),
    pytest.param(
        {"VIGNETTE_RECRAFT__MODEL": "recraftv9"},
        "recraft.model",
        "recraftv9",
        "recraftv3",
        id="unknown-model",
    ),
    pytest.param(
        {"VIGNETTE_RECRAFT__SIZE": "huge"},
        "recraft.size",
        "huge",
        "1024x1024",
        id="bad-size",
    ),
    pytest.param(
        {"VIGNETTE_PORTRAITS__ALLOW_INSECURE_URLS": "maybe"},
        "portraits.allow_insecure_urls",
        "maybe",
        "true or false",
        id="non-bool-flag",
    ),
    pytest.param(
        {"VIGNETTE_LOGGING__JSON": "sometimes"},
        "logging.json",
        "sometimes",
        "true or false",
        id="non-bool-json",
    ),
    pytest.param(
        {"VIGNETTE_DATABASE__URL": "mysql://root@localhost/vignette"},
        "database.url",
        "mysql://root@localhost/vignette",
        "sqlite:///",
        id="bad-database-url",
    ),
    pytest.param(
        {"VIGNETTE_RECRAFT__BASE_URL": "http://recraft.example/v1"},
        "recraft.base_url",
        "http://recraft.example/v1",
        "allow_insecure_urls",
        id="http-base-url-without-allow-insecure",
    ),
    pytest.param(
        {"VIGNETTE_LOGGING__LEVEL": "LOUD"},
        "logging.level",
        "LOUD",
        "DEBUG",
        id="unknown-log-level",
    ),
    pytest.param(
        {"VIGNETTE_STORIES__WRITER": "gpt"},
        "stories.writer",
        "gpt",
        "template",
        id="unknown-writer",
    ),
]


@pytest.mark.parametrize(("env", "key", "value", "allowed"), BAD_VALUES)
def test_a_bad_value_fails_with_one_line_naming_the_key_the_value_and_what_is_allowed(
    env: dict[str, str], key: str, value: str, allowed: str
) -> None:
    message = config_error(env=env)

    assert key in message
    assert value in message
    assert allowed in message


@pytest.mark.parametrize(
    ("toml", "key", "value"),
    [
        pytest.param("[server]\nport = 70000\n", "server.port", "70000", id="int"),
        pytest.param("[server]\nport = 80.5\n", "server.port", "80.5", id="float-for-int"),
        pytest.param("[server]\nport = true\n", "server.port", "True", id="bool-for-int"),
        pytest.param('[logging]\njson = "maybe"\n', "logging.json", "maybe", id="string-for-bool"),
        pytest.param("[recraft]\nmodel = 3\n", "recraft.model", "3", id="int-for-string"),
        pytest.param("[recraft]\ntimeout_s = 0\n", "recraft.timeout_s", "0", id="zero-timeout"),
    ],
)
def test_a_bad_value_in_a_file_fails_the_same_way(
    tmp_path: Path, toml: str, key: str, value: str
) -> None:
    message = config_error(write_toml(tmp_path, toml))

    assert key in message
    assert value in message
    assert "allowed" in message


def test_an_unknown_section_in_a_file_fails_naming_it_and_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[recraf]\nmodel = 'recraftv3'\n")

    message = config_error(path)

    assert "recraf" in message
    assert str(path) in message


def test_an_unknown_key_in_a_file_fails_naming_it(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[server]\nprot = 9000\n")

    message = config_error(path)

    assert "server.prot" in message
    assert str(path) in message
    assert "port" in message  # the known keys are listed


def test_a_section_that_is_not_a_table_fails_naming_it(tmp_path: Path) -> None:
    message = config_error(write_toml(tmp_path, "server = 9000\n"))

    assert "server" in message


def test_an_unknown_section_in_the_environment_fails_naming_it() -> None:
    message = config_error(env={"VIGNETTE_RECRAF__MODEL": "recraftv3"})

    assert "recraf" in message
    assert "environment" in message


def test_an_unknown_key_in_the_environment_fails_naming_it() -> None:
    message = config_error(env={"VIGNETTE_SERVER__PROT": "9000"})

    assert "server.prot" in message
    assert "environment" in message


def test_a_missing_config_file_fails_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "vignette.toml"

    message = config_error(path)

    assert str(path) in message
    assert "does not exist" in message


def test_an_invalid_toml_file_fails_naming_it(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[server\nport = = 9000\n")

    message = config_error(path)

    assert str(path) in message
    assert "TOML" in message


def test_a_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"VIGNETTE_PORTRAITS__CONCURRENCY": "0"}, id="range"),
        pytest.param({"VIGNETTE_SERVER__PORT": "true"}, id="type"),
        pytest.param({"VIGNETTE_RECRAFT__SIZE": "1536x768"}, id="across-keys"),
        pytest.param(
            {"VIGNETTE_SERVER__PORT": "x", "VIGNETTE_LOGGING__LEVEL": "LOUD"}, id="two-bad-values"
        ),
    ],
)
def test_a_refusal_shows_no_pydantic_report_even_in_a_traceback(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)

    shown = "".join(traceback.format_exception(caught.value))
    assert "\n" not in str(caught.value)
    for piece in ("validation error", "errors.pydantic.dev", "input_value", "[type="):
        assert piece not in shown


def test_the_first_bad_value_is_the_one_named() -> None:
    message = config_error(env={"VIGNETTE_SERVER__PORT": "x", "VIGNETTE_LOGGING__LEVEL": "LOUD"})

    assert message == "server.port = 'x' is not allowed: an integer from 0 to 65535"
