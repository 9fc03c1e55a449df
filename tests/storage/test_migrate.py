"""`storage migrate --to s3`: every stored file copied to the bucket and checked, skipped
when run again, resumable after a stop; then the same rows are served from the bucket."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.images import png_bytes
from tests.fakes.recraft_server import RecraftServer
from tests.seaweed import Seaweed
from tests.storage.conftest import portrait
from vignette.config import Settings
from vignette.records import Story
from vignette.storage.staging import file_path
from vignette.system.facade import StorySystem
from vignette.system.migration import MigrationReport, Outcome, contents, migrate_to_s3

pytestmark = pytest.mark.sqlite_only
REPO = Path(__file__).resolve().parents[2]


def stored_locally(
    settings: Settings, start: Callable[..., StorySystem], recraft: RecraftServer, count: int
) -> list[Story]:
    system = start(settings)
    stories = [portrait(system, recraft, png_bytes(20 + n, 20), f"story {n}") for n in range(count)]
    system.stop(grace_s=5)
    return stories


def migrate(settings_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGNETTE_")}
    return subprocess.run(
        [sys.executable, "runner.py", "storage", "migrate", "--to", "s3"],
        cwd=REPO,
        env=env | settings_env | {"NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_copies_every_file_checks_it_and_skips_it_when_run_again(
    local_settings: Callable[..., Settings],
    s3_overrides: dict[str, object],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
    seaweed: Seaweed,
    database_url: str,
) -> None:
    local = local_settings()
    stories = stored_locally(local, start_system, recraft, 3)
    env = {f"VIGNETTE_{key.upper()}": str(value) for key, value in s3_overrides.items()}
    env |= seaweed.aws_env | {
        "VIGNETTE_DATABASE__URL": database_url,
        "VIGNETTE_STORAGE__PATH": local.storage.path,
    }

    first = migrate(env)
    again = migrate(env)

    assert first.returncode == 0, first.stderr
    assert "3 copied" in first.stderr
    assert 'Set storage.backend = "s3"' in first.stderr
    assert again.returncode == 0, again.stderr
    assert "3 already in the bucket" in again.stderr
    assert seaweed.secret_key not in first.stderr + first.stdout
    # The setting switched, the same rows are served from the bucket.
    system = start_system(local_settings(**s3_overrides))
    for story in stories:
        assert story.storage_id is not None
        data, _ = system.read_file(story.storage_id)
        info = system.file_info(story.storage_id)
        assert info is not None
        assert hashlib.sha256(data).hexdigest() == info.sha256


def test_a_stopped_migration_goes_on_where_it_stopped_and_reports_missing_files(
    local_settings: Callable[..., Settings],
    s3_overrides: dict[str, object],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
) -> None:
    stories = stored_locally(local_settings(), start_system, recraft, 4)
    settings = local_settings(**s3_overrides)
    rows = contents(settings)
    heard: list[Outcome] = []

    def stop_after_two(sha256: str, outcome: Outcome) -> None:
        heard.append(outcome)
        if len(heard) == 2:
            raise KeyboardInterrupt

    stopped = MigrationReport()
    with pytest.raises(KeyboardInterrupt):
        migrate_to_s3(settings, rows, stopped, stop_after_two)
    gone = rows[3][0]
    file_path(Path(settings.storage.path), gone).unlink()
    report = MigrationReport()
    migrate_to_s3(settings, rows, report, lambda sha256, outcome: None)

    assert len(stopped.outcomes[Outcome.COPIED]) == 2
    assert report.outcomes[Outcome.PRESENT] == [sha for sha, _, _ in rows[:2]]
    assert report.outcomes[Outcome.COPIED] == [rows[2][0]]
    assert report.outcomes[Outcome.MISSING] == [gone]
    assert not report.ok
    assert len(stories) == 4
