"""The server's exposure settings: the Host names it serves and whether reads need a token."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.support import config_error, write_toml
from vignette.config import load_settings


def test_by_default_no_extra_host_is_served_and_reads_are_open() -> None:
    settings = load_settings(env={})
    assert settings.server.allowed_hosts == ()
    assert settings.server.private_reads is False


def test_a_list_of_hosts_is_json_in_the_environment() -> None:
    settings = load_settings(
        env={"VIGNETTE_SERVER__ALLOWED_HOSTS": '["a.example", "B.Example", "[::1]"]'}
    )
    assert settings.server.allowed_hosts == ("a.example", "b.example", "[::1]")


def test_a_list_of_hosts_in_toml(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[server]\nallowed_hosts = ["vignette.internal"]\n')
    assert load_settings(path, env={}).server.allowed_hosts == ("vignette.internal",)


def test_private_reads_from_the_environment() -> None:
    assert load_settings(env={"VIGNETTE_SERVER__PRIVATE_READS": "true"}).server.private_reads


@pytest.mark.parametrize("value", ['["a.example"', "a.example", "[1, 2"])
def test_bad_json_is_one_line_naming_the_variable(value: str) -> None:
    message = config_error(env={"VIGNETTE_SERVER__ALLOWED_HOSTS": value})
    assert "VIGNETTE_SERVER__ALLOWED_HOSTS" in message
    assert "JSON" in message


@pytest.mark.parametrize(
    "value", ['["http://a.example"]', '["a.example/x"]', '[""]', '["a b"]', "[3]", '"a.example"']
)
def test_a_host_that_is_not_a_host_name_is_refused(value: str) -> None:
    message = config_error(env={"VIGNETTE_SERVER__ALLOWED_HOSTS": value})
    assert "server.allowed_hosts" in message
    assert "host name" in message


def test_a_server_section_built_in_code_takes_the_defaults_of_the_newer_keys() -> None:
    from vignette.config import ServerSettings

    built = ServerSettings(host="127.0.0.1", port=8000)
    loaded = load_settings(env={}).server
    assert (built.allowed_hosts, built.private_reads) == (
        loaded.allowed_hosts,
        loaded.private_reads,
    )
