"""`status`: stories by portrait state, with no portrait work started."""

from __future__ import annotations

from tests.cli.harness import POSIX_ONLY, STATES, Cli, table_counts

pytestmark = POSIX_ONLY


def test_status_on_a_fresh_database_lists_every_state_at_zero(cli: Cli) -> None:
    result = cli.run("status")

    assert result.returncode == 0, result.stderr
    counts = table_counts(result.stdout)
    assert {state: counts.get(state) for state in STATES} == dict.fromkeys(STATES, 0)
    assert counts["total"] == 0


def test_status_counts_a_pending_story_and_starts_no_portrait_work(cli: Cli) -> None:
    # Without a key any portrait work would fail the story at once; it must stay pending.
    story_id = cli.add_pending_story()

    result = cli.run("status")

    assert result.returncode == 0, result.stderr
    counts = table_counts(result.stdout)
    assert counts["pending"] == 1
    assert counts["total"] == 1
    assert "RECRAFT_API_KEY" not in result.stderr
    assert cli.portrait_status(story_id) == "pending"
