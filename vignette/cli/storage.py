"""`storage migrate --to s3`: copy every stored file from `storage.path` to the bucket of
`storage.s3`, with a progress bar; rerun it to go on after a stop."""

from __future__ import annotations

import argparse

from loguru import logger

from vignette.cli.output import console, progress
from vignette.config import Settings
from vignette.errors import StorageUnavailable
from vignette.system.migration import MigrationReport, Outcome, contents, migrate_to_s3


def storage(settings: Settings, args: argparse.Namespace) -> int:
    """Copy the files, then say what to switch; 0 when every file is in the bucket."""
    rows = contents(settings)
    report = MigrationReport(total=len(rows))
    where = f"bucket {settings.storage.s3.bucket!r}"
    try:
        with progress() as bar:
            task = bar.add_task(f"copying files to {where}", total=len(rows))

            def on_file(sha256: str, outcome: Outcome) -> None:
                if outcome not in (Outcome.COPIED, Outcome.PRESENT):
                    logger.bind(step="migrate").error("{}: {}", sha256, outcome)
                bar.advance(task)

            migrate_to_s3(settings, rows, report, on_file)
    except KeyboardInterrupt:
        done = sum(len(names) for names in report.outcomes.values())
        console.print(
            f"Stopped after {done} of {report.total} files; run the command again to go on "
            "(files already in the bucket are skipped)."
        )
        return 130
    except StorageUnavailable as error:
        console.print(f"[bold red]error:[/] {error}; run the command again to go on")
        return 1
    for outcome, names in report.outcomes.items():
        if names:
            console.print(f"{len(names)} {outcome}")
    if not report.ok:
        console.print(
            "Some files could not be copied (listed above): storage.backend is best left "
            "'local' until they are dealt with."
        )
        return 1
    console.print(
        f'Every stored file ({report.total}) is in {where}. Set storage.backend = "s3" '
        f"and restart every instance; then run `{args.program} storage migrate --to s3` "
        "once more for files stored meanwhile."
    )
    return 0
