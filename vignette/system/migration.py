"""`storage migrate --to s3`: copy every stored file from the local folder to the bucket.

Rows name their bytes by sha256 only, and the backend is the setting `storage.backend`,
so no row changes: once every content is in the bucket (each checked against its sha256
on the way out and read back on the way in), switching the setting switches every row.
A run can be stopped at any moment and run again: content already in the bucket, with
its sha256 as metadata and its size, is skipped, and an object appears whole or not at all.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vignette.config import ConfigError, Settings
from vignette.models import open_database, release_connections
from vignette.models.files import every_content
from vignette.records import StagedFile
from vignette.storage.s3 import S3Store, sha256_of
from vignette.storage.staging import file_path


class Outcome(enum.StrEnum):
    COPIED = "copied"
    PRESENT = "already in the bucket"
    MISSING = "missing on disk"
    CORRUPT = "not matching its sha256 on disk"
    BAD_COPY = "read back wrong from the bucket, removed"


@dataclass
class MigrationReport:
    total: int = 0
    outcomes: dict[Outcome, list[str]] = field(default_factory=lambda: {o: [] for o in Outcome})

    @property
    def ok(self) -> bool:
        failed = (Outcome.MISSING, Outcome.CORRUPT, Outcome.BAD_COPY)
        return not any(self.outcomes[outcome] for outcome in failed)


def contents(settings: Settings) -> list[tuple[str, int, str]]:
    """Every content the rows name: (sha256, size, content type)."""
    db = open_database(settings.database.url)
    try:
        with db.connection_context():
            return every_content()
    finally:
        release_connections(db)


def bucket(settings: Settings) -> S3Store:
    if not settings.storage.s3.bucket:
        raise ConfigError(
            "storage.s3.bucket = '' is not allowed for a migration to s3: name the bucket "
            "(and storage.s3.endpoint_url for a server other than AWS)"
        )
    return S3Store(settings.storage.s3)


def copy_one(root: Path, target: S3Store, sha256: str, size: int, content_type: str) -> Outcome:
    """Copy one content from the folder to the bucket, checked both ways."""
    head = target.head(sha256)
    if (
        head is not None
        and head.get("Metadata", {}).get("sha256") == sha256
        and int(head.get("ContentLength", -1)) == size
    ):
        return Outcome.PRESENT
    source = file_path(root, sha256)
    try:
        with source.open("rb") as file:
            digest, actual = sha256_of(file)
    except FileNotFoundError:
        return Outcome.MISSING
    if (digest, actual) != (sha256, size):
        return Outcome.CORRUPT
    if head is not None:  # an object of that name, but not this content: replace it
        target.delete(sha256)
    target.put(StagedFile(str(source), sha256, size, content_type))
    with target.open(sha256) as stored:
        if sha256_of(stored) != (sha256, size):
            target.delete(sha256)
            return Outcome.BAD_COPY
    return Outcome.COPIED


def migrate_to_s3(
    settings: Settings,
    rows: list[tuple[str, int, str]],
    report: MigrationReport,
    on_file: Callable[[str, Outcome], None],
) -> None:
    """Copy each content of `rows` from `storage.path` to the bucket, noting each outcome in
    `report` (so a caller stopped midway still has it) and telling `on_file`."""
    target = bucket(settings)
    root = Path(settings.storage.path)
    report.total = len(rows)
    for sha256, size, content_type in rows:
        outcome = copy_one(root, target, sha256, size, content_type)
        report.outcomes[outcome].append(sha256)
        on_file(sha256, outcome)
