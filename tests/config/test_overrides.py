"""Settings: `overrides`, dotted keys applied after the file and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.support import config_error, write_toml
from vignette.config import load_settings


def test_overrides_are_applied_after_the_file_and_the_environment(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        """
        [portraits]
        concurrency = 3
        rate_limit_per_minute = 50

        [server]
        port = 9001
        """,
    )
    env = {"VIGNETTE_PORTRAITS__CONCURRENCY": "5", "VIGNETTE_SERVER__HOST": "0.0.0.0"}

    settings = load_settings(
        path,
        env=env,
        overrides={"portraits.concurrency": 2, "database.url": "sqlite:///x.db"},
    )

    assert settings.portraits.concurrency == 2
    assert settings.database.url == "sqlite:///x.db"
    # Where the overrides are silent, the environment, the file and the defaults still count.
    assert settings.server.host == "0.0.0.0"
    assert settings.server.port == 9001
    assert settings.portraits.rate_limit_per_minute == 50
    assert settings.portraits.max_attempts == 1


def test_override_values_are_read_and_checked_like_the_environments() -> None:
    settings = load_settings(
        env={}, overrides={"server.port": "9000", "logging.json": "yes", "recraft.timeout_s": 5}
    )

    assert settings.server.port == 9000
    assert settings.logging.json is True
    assert settings.recraft.timeout_s == 5.0
    assert type(settings.recraft.timeout_s) is float


def test_an_override_may_lift_a_bad_value_from_the_environment() -> None:
    settings = load_settings(
        env={"VIGNETTE_PORTRAITS__CONCURRENCY": "0"}, overrides={"portraits.concurrency": 8}
    )

    assert settings.portraits.concurrency == 8


def test_a_bad_override_value_fails_with_one_line() -> None:
    message = config_error(overrides={"portraits.concurrency": 0})

    assert message == "portraits.concurrency = 0 is not allowed: an integer from 1 to 1024"


@pytest.mark.parametrize(
    ("key", "pieces"),
    [
        pytest.param("server.prot", ["server.prot", "overrides", "host, port"], id="unknown-key"),
        pytest.param("recraf.model", ["[recraf]", "overrides", "recraft"], id="unknown-section"),
        pytest.param("server", ["server", "overrides", "server.KEY"], id="a-section"),
        pytest.param("server.port.x", ["server.port.x", "server.port is a key"], id="below-a-key"),
        pytest.param("recraft_api_key", ["recraft_api_key", "overrides"], id="a-secret"),
    ],
)
def test_a_bad_dotted_key_is_refused_with_one_line_naming_it(key: str, pieces: list[str]) -> None:
    message = config_error(overrides={key: "9000"})

    for piece in pieces:
        assert piece in message


def test_no_overrides_and_empty_overrides_are_the_same() -> None:
    assert load_settings(env={}, overrides={}) == load_settings(env={})
