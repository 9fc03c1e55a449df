"""Settings on the command line: `--config`, `VIGNETTE_*` variables, and one
line for a bad value."""

from __future__ import annotations

import pytest

from tests.cli.harness import POSIX_ONLY, Cli, table_counts

pytestmark = POSIX_ONLY


@pytest.mark.parametrize("command", ["status", "generate", "backfill", "serve"])
def test_a_bad_environment_value_stops_every_command_with_one_line(cli: Cli, command: str) -> None:
    result = cli.run(command, env={"VIGNETTE_PORTRAITS__CONCURRENCY": "0"}, timeout=30)

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "portraits.concurrency" in lines[0]
    assert "0" in lines[0]
    assert "an integer from 1 to 1024" in lines[0]
    assert "Traceback" not in result.stderr
    assert not cli.database.exists()


def test_an_unknown_key_in_the_config_file_stops_with_one_line_naming_it(cli: Cli) -> None:
    cli.write_config(portraits={"concurency": 8})

    result = cli.run("status")

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "portraits.concurency" in lines[0]
    assert str(cli.config) in lines[0]
    assert "known:" in lines[0]
    assert "concurrency" in lines[0].split("known:")[1]
    assert "Traceback" not in result.stderr


def test_a_missing_config_file_stops_with_one_line_naming_it(cli: Cli) -> None:
    missing = cli.tmp_path / "nowhere.toml"

    result = cli.run("status", "--config", str(missing), config=False)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"configuration error: config file {missing} does not exist"
    ]


def test_the_config_file_may_come_before_the_command(cli: Cli) -> None:
    result = cli.run("--config", str(cli.config), "status", config=False)

    assert result.returncode == 0, result.stderr
    assert table_counts(result.stdout)["total"] == 0
    assert cli.database.exists()


def test_environment_variables_override_the_config_file(cli: Cli) -> None:
    elsewhere = cli.tmp_path / "elsewhere.sqlite3"

    result = cli.run("status", env={"VIGNETTE_DATABASE__URL": f"sqlite:///{elsewhere}"})

    assert result.returncode == 0, result.stderr
    assert elsewhere.exists()
    assert not cli.database.exists()
