"""Settings: defaults, a TOML overlay, environment overrides, refusals, and secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from vignette.config import ConfigError, Settings, load_settings

SECRET_VALUE = "rk-live-do-not-print-4c1d9e"


def write_toml(tmp_path: Path, text: str, name: str = "vignette.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path | None = None, env: dict[str, str] | None = None) -> str:
    """The message of the ConfigError that loading raises; it must be a single line."""
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={} if env is None else env)
    message = str(caught.value)
    assert message.strip()
    assert "\n" not in message
    assert "\r" not in message
    return message


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


def test_settings_are_frozen() -> None:
    settings: Settings = load_settings(env={})

    with pytest.raises(AttributeError):
        settings.server.port = 1  # type: ignore[misc]
