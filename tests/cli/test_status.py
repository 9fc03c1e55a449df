"""`status`: stories by portrait state, with no portrait work started."""

from __future__ import annotations

from tests.cli.harness import POSIX_ONLY, STATES, Cli, lines_with, table_counts
from vignette.models import open_database, portraits

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


def test_status_shows_portraits_whose_lease_expired_as_stale_and_changes_nothing(
    cli: Cli,
) -> None:
    stale_id = cli.add_pending_story()
    live_id = cli.add_pending_story()
    db = open_database(f"sqlite:///{cli.database}")
    try:
        # Claimed by instances that are gone (lease ran out) and alive (lease ahead).
        assert portraits.claim_portrait(db, stale_id, owner="gone:1:a", lease_s=-60)
        assert portraits.claim_portrait(db, live_id, owner="alive:2:b", lease_s=3600)
    finally:
        db.close()

    result = cli.run("status")

    assert result.returncode == 0, result.stderr
    counts = table_counts(result.stdout)
    assert counts["generating"] == 1
    assert counts["generating (stale)"] == 1
    assert counts["total"] == 2
    note = lines_with("1 portrait is generating (stale)", result.stderr)
    assert len(note) == 1, result.stderr
    assert "backfill --include-failed" in note[0]
    assert [cli.portrait_status(i) for i in (stale_id, live_id)] == ["generating"] * 2
