"""`generate`: write N stories, wait for their portraits, summarise."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cli.harness import (
    API_KEY,
    AS_MODULE,
    POSIX_ONLY,
    Cli,
    FakeRecraftProcess,
    lines_with,
)
from tests.fakes.openai_server import OpenAIServer

pytestmark = POSIX_ONLY


def test_generate_without_an_api_key_fails_every_portrait_with_one_clear_line(cli: Cli) -> None:
    result = cli.run("generate", "-n", "5")

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "5 portraits: 5 failed (missing_api_key: 5)" in result.stderr
    advice = lines_with("5 portraits failed with missing_api_key", result.stderr)
    assert len(advice) == 1, result.stderr
    assert "RECRAFT_API_KEY is not set" in advice[0]
    assert "'python runner.py backfill --include-failed'" in advice[0]

    counts = cli.status_counts()
    assert counts["failed"] == 5
    assert counts["missing_api_key"] == 5
    assert counts["total"] == 5


def test_the_advice_to_backfill_names_the_program_as_it_was_run(cli: Cli) -> None:
    result = cli.run("generate", program=AS_MODULE)

    assert result.returncode == 1, result.stderr
    assert "1 portrait: 1 failed (missing_api_key: 1)" in result.stderr
    advice = lines_with("1 portrait failed with missing_api_key", result.stderr)
    assert len(advice) == 1, result.stderr
    assert "'vignette backfill --include-failed'" in advice[0]


def test_generate_against_recraft_stores_every_portrait_and_never_shows_the_key(
    cli: Cli, fake_recraft: FakeRecraftProcess
) -> None:
    cli.use_recraft(fake_recraft.base_url)

    result = cli.run("generate", "-n", "3", key=API_KEY, env={"VIGNETTE_LOGGING__LEVEL": "DEBUG"})

    assert result.returncode == 0, result.stderr
    assert "3 portraits: 3 stored" in result.stderr
    assert fake_recraft.calls() == 3
    assert API_KEY not in result.stdout
    assert API_KEY not in result.stderr
    assert cli.status_counts()["stored"] == 3
    assert sum(1 for path in cli.storage.rglob("*") if path.is_file()) >= 1


def test_generate_refuses_a_count_below_one_before_starting_anything(cli: Cli) -> None:
    result = cli.run("generate", "-n", "0")

    assert result.returncode == 2
    assert "must be at least 1" in result.stderr
    assert not cli.database.exists()


def test_generate_refuses_a_topic_the_template_writer_does_not_know_before_starting(
    cli: Cli,
) -> None:
    result = cli.run("generate", "--topic", "astrology")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    line = lines_with("astrology", result.stderr)
    assert len(line) == 1, result.stderr
    assert "cardiology, general, neurology, paediatrics, respiratory" in line[0]
    assert not cli.database.exists()


def test_generate_with_the_openai_writer_takes_any_topic_and_reports_a_model_failure(
    cli: Cli,
) -> None:
    with OpenAIServer() as server:
        cli.write_config(stories={"writer": "openai", "base_url": server.base_url})

        written = cli.run("generate", "--topic", "sports medicine")
        server.fake.answers.append((500, "text/plain", b"model crashed"))
        failed = cli.run("generate", "--topic", "sports medicine")

    # The story was written by the model; its portrait fails only for want of a Recraft key.
    assert written.returncode == 1, written.stderr
    assert "1 portrait: 1 failed (missing_api_key: 1)" in written.stderr
    user_message = server.fake.requests[0].body["messages"][1]["content"]
    assert "Topic: sports medicine." in user_message
    # A failing model ends the command with one line naming the cause; nothing is stored.
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert len(lines_with("error: story model gpt-4o-mini at", failed.stderr)) == 1
    assert "answered 500: model crashed" in failed.stderr
    assert len(server.fake.requests) == 2
    assert cli.status_counts()["total"] == 1


def test_a_timeout_is_named_and_the_summary_counts_the_states_the_portraits_ended_in(
    cli: Cli, start_fake_recraft: Callable[..., FakeRecraftProcess]
) -> None:
    # Each portrait takes longer than the timeout; leaving lets those under way finish.
    cli.use_recraft(start_fake_recraft(latency=1.5).base_url)

    result = cli.run("generate", "-n", "2", "--timeout", "0.5", key=API_KEY)

    assert "Traceback" not in result.stderr
    timeout = lines_with("Timeout reached", result.stderr)
    assert len(timeout) == 1, result.stderr
    assert "0 of 2 portraits ended within --timeout 0.5 s" in timeout[0]
    summary = lines_with("2 portraits:", result.stderr)
    assert summary == [summary[0]], result.stderr
    # The summary agrees with the database once the command has ended.
    counts = cli.status_counts()
    assert counts["stored"] == 2
    assert "2 portraits: 2 stored (after the timeout" in summary[0]
    assert "in progress" not in result.stderr
    assert "did not end" not in result.stderr
    assert result.stderr.index("Timeout reached") < result.stderr.index("2 portraits:")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("value", ["-5", "0", "nan", "soon"])
def test_generate_refuses_a_timeout_that_is_not_a_positive_number_of_seconds(
    cli: Cli, value: str
) -> None:
    result = cli.run("generate", "--timeout", value)

    assert result.returncode == 2
    assert "argument --timeout: must be a number of seconds" in result.stderr
    assert not cli.database.exists()
