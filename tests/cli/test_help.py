"""`--help`: every command explained, under the name the program was run as."""

from __future__ import annotations

import pytest

from tests.cli.harness import AS_MODULE, CONSOLE_SCRIPT, POSIX_ONLY, REPO_ROOT, Cli

pytestmark = POSIX_ONLY


@pytest.mark.parametrize("command", [[], ["serve"], ["generate"], ["backfill"], ["status"]])
def test_help_explains_the_program_and_each_command_and_mentions_config(
    cli: Cli, command: list[str]
) -> None:
    result = cli.run(*command, "--help", config=False, timeout=30)

    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout
    assert "usage: runner.py" in result.stdout
    assert not cli.database.exists()


@pytest.mark.parametrize("command", [[], ["generate"]])
def test_help_as_a_module_names_the_program_vignette(cli: Cli, command: list[str]) -> None:
    result = cli.run(*command, "--help", config=False, timeout=30, program=AS_MODULE)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(" ".join(["usage: vignette", *command]))
    assert "runner.py" not in result.stdout


def test_help_from_the_console_script_names_the_program_vignette(cli: Cli) -> None:
    if not CONSOLE_SCRIPT.exists():
        pytest.skip(f"no {CONSOLE_SCRIPT}: Vignette is not installed in this environment")
    result = cli.run("--help", config=False, timeout=30, program=(str(CONSOLE_SCRIPT),))

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: vignette")


def test_help_names_the_defaults_file_the_config_file_overlays(cli: Cli) -> None:
    result = cli.run("status", "--help", config=False, timeout=30)

    overlaid = "overlaying vignette/config/default.toml"
    assert overlaid in " ".join(result.stdout.split())
    assert (REPO_ROOT / "vignette" / "config" / "default.toml").is_file()
