"""What `serve` says and refuses at start: a public address without an API token stops it,
and the Recraft budget cap in force is said once."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.cli.harness import POSIX_ONLY, Cli, Running, lines_with
from tests.cli.test_token import create, serve

pytestmark = POSIX_ONLY


def test_a_daemon_on_a_public_address_refuses_to_start_without_a_token(
    cli: Cli, processes: Callable[..., Running]
) -> None:
    cli.write_config(server={"host": "0.0.0.0", "port": 0})

    refused = cli.run("serve")

    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "server.host = '0.0.0.0'" in lines[0]
    assert "token create" in lines[0]
    assert "127.0.0.1" in lines[0]

    create(cli, "ci-bot")
    running = serve(cli, processes)
    running.stderr.wait_for("Vignette is running")
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=30) == 0


@pytest.mark.parametrize(
    ("cap", "said"),
    [(0, "Recraft budget: no cap on calls per hour"), (30, "at most 30 calls per hour")],
)
def test_serve_says_the_budget_cap_in_force_once(
    cli: Cli, processes: Callable[..., Running], cap: int, said: str
) -> None:
    cli.write_config(portraits={"max_calls_per_hour": cap})
    running = serve(cli, processes)
    running.stderr.wait_for("Vignette is running")
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=30) == 0

    stderr = running.stderr.read_to_end()
    assert len(lines_with("Recraft budget", stderr)) == 1, stderr
    assert len(lines_with(said, stderr)) == 1, stderr
