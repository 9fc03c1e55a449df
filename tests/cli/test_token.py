"""`token create|list|revoke`, and what the daemon makes of tokens: a running daemon honours
one made afterwards, and a daemon on a public address refuses to start without one."""

from __future__ import annotations

import re
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable

from tests.cli.harness import CONSOLE_SCRIPT, POSIX_ONLY, RUNNER, Cli, Running

pytestmark = POSIX_ONLY

TOKEN = re.compile(r"^vgn_[A-Za-z0-9_-]{43}$")


def create(cli: Cli, name: str) -> str:
    result = cli.run("token", "create", "--name", name)
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert TOKEN.match(last), result.stdout
    return last


def test_create_prints_the_token_once_alone_on_the_last_line(cli: Cli) -> None:
    token = create(cli, "ci-bot")

    assert create(cli, "laptop") != token
    listed = cli.run("token", "list", program=(str(CONSOLE_SCRIPT),))
    assert listed.returncode == 0, listed.stderr
    assert "ci-bot" in listed.stdout
    assert "laptop" in listed.stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", listed.stdout)
    assert token not in listed.stdout + listed.stderr
    assert token.encode() not in cli.database.read_bytes()


def test_revoke_removes_a_token_by_name(cli: Cli) -> None:
    create(cli, "ci-bot")
    create(cli, "kept")

    revoked = cli.run("token", "revoke", "ci-bot")

    assert revoked.returncode == 0, revoked.stderr
    listed = cli.run("token", "list").stdout
    assert "ci-bot" not in listed
    assert "kept" in listed


def test_mistakes_are_one_line_and_exit_1(cli: Cli) -> None:
    create(cli, "ci-bot")
    for args, words in [
        (("token", "create", "--name", "ci-bot"), "already named 'ci-bot'"),
        (("token", "create", "--name", "two words"), "not a token name"),
        (("token", "revoke", "nobody"), "no API token is named 'nobody'"),
    ]:
        result = cli.run(*args)
        assert result.returncode == 1, result.stderr
        assert words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stdout == ""


def test_list_without_tokens_says_the_api_is_open(cli: Cli) -> None:
    result = cli.run("token", "list")
    assert result.returncode == 0, result.stderr
    assert "no API tokens" in result.stderr


def get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def serve(cli: Cli, processes: Callable[..., Running]) -> Running:
    return processes(
        [sys.executable, str(RUNNER), "serve", "--config", str(cli.config)],
        env=cli.environment(None, None),
    )


def test_a_running_daemon_honours_a_token_made_after_it_started(
    cli: Cli, processes: Callable[..., Running]
) -> None:
    running = serve(cli, processes)
    url = re.search(r"http://\S+:\d+", running.stderr.wait_for("Vignette is running"))
    assert url is not None
    stories = f"{url.group(0).replace('127.0.0.1', 'localhost')}/api/stories"
    assert get(stories) == 200

    token = create(cli, "ci-bot")

    assert get(stories) == 401
    assert get(stories, token) == 200
    assert "GET /api/stories 200" in running.stderr.wait_for("caller=ci-bot")
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=30) == 0
    assert token not in running.stderr.read_to_end()
