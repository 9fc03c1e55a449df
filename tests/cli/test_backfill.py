"""`backfill`: the portraits stories are owed, and failed ones only when asked."""

from __future__ import annotations

from tests.cli.harness import API_KEY, POSIX_ONLY, Cli, FakeRecraftProcess, lines_with

pytestmark = POSIX_ONLY


def test_backfill_retries_failed_portraits_only_when_asked_and_never_a_stored_one(
    cli: Cli, fake_recraft: FakeRecraftProcess
) -> None:
    assert cli.run("generate", "-n", "3").returncode == 1
    cli.use_recraft(fake_recraft.base_url)

    plain = cli.run("backfill", key=API_KEY)
    assert plain.returncode == 0, plain.stderr
    assert "Nothing to backfill" in plain.stderr
    hint = lines_with("Nothing to backfill", plain.stderr)
    assert "3 portraits failed" in hint[0]
    assert "'python runner.py backfill --include-failed' makes them again" in hint[0]
    assert fake_recraft.calls() == 0

    retried = cli.run("backfill", "--include-failed", key=API_KEY)
    assert retried.returncode == 0, retried.stderr
    assert "3 portraits: 3 stored" in retried.stderr
    assert fake_recraft.calls() == 3
    counts = cli.status_counts()
    assert counts["stored"] == 3
    assert counts["failed"] == 0

    for flags in ([], ["--include-failed"]):
        again = cli.run("backfill", *flags, key=API_KEY)
        assert again.returncode == 0, again.stderr
        assert "Nothing to backfill" in again.stderr
        assert "--include-failed" not in again.stderr  # none failed any more
        assert API_KEY not in again.stderr
    assert fake_recraft.calls() == 3
    assert API_KEY not in plain.stderr + retried.stderr


def test_backfill_makes_the_portraits_of_pending_stories(
    cli: Cli, fake_recraft: FakeRecraftProcess
) -> None:
    cli.use_recraft(fake_recraft.base_url)
    ids = [cli.add_pending_story() for _ in range(2)]

    result = cli.run("backfill", key=API_KEY)

    assert result.returncode == 0, result.stderr
    assert "2 portraits: 2 stored" in result.stderr
    assert [cli.portrait_status(story_id) for story_id in ids] == ["stored", "stored"]
    assert fake_recraft.calls() == 2
