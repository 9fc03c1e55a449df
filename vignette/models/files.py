"""Stored files' rows (Convex's `_storage`): insert, read, delete.

The bytes live on disk (`vignette.storage`); a row names them by sha256, so two rows may
share one file, which is removed with the last of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import cast

from peewee import Database

from vignette.models.sql import run, statements
from vignette.models.tables import StoredFile, StoryRow, aware, db_time, new_id, utc_now
from vignette.records import FileInfo


def _file(row: StoredFile) -> FileInfo:
    return FileInfo(
        id=row.id,
        sha256=row.sha256,
        size=row.size,
        content_type=row.content_type,
        created_at=aware(row.created_at),
    )


def insert_file(db: Database, sha256: str, size: int, content_type: str) -> FileInfo:
    now = utc_now()
    info = FileInfo(
        id=new_id(), sha256=sha256, size=size, content_type=content_type, created_at=aware(now)
    )
    run(db, statements(db).insert_file, (info.id, sha256, size, content_type, db_time(now)))
    return info


def get_file(storage_id: str) -> FileInfo | None:
    row = StoredFile.get_or_none(StoredFile.id == storage_id)
    return None if row is None else _file(row)


def delete_file(db: Database, storage_id: str) -> tuple[FileInfo, bool] | None:
    """Delete a file's row; return it and whether another row still has its content."""
    with db.atomic():
        row = StoredFile.get_or_none(StoredFile.id == storage_id)
        if row is None:
            return None
        row.delete_instance()
        shared = StoredFile.select().where(StoredFile.sha256 == row.sha256).exists()
    return _file(row), shared


def delete_unreferenced(older_than_s: float) -> list[tuple[str, bool]]:
    """Delete file rows no story refers to, made more than `older_than_s` ago (left by a
    crash between deleting a story and its file); return each one's sha256 and whether
    another row still has that content."""
    cutoff = utc_now() - timedelta(seconds=older_than_s)
    referenced = StoryRow.select(StoryRow.storage).where(StoryRow.storage.is_null(False))
    rows = list(
        StoredFile.delete()
        .where((StoredFile.created_at < cutoff) & StoredFile.id.not_in(referenced))
        .returning(StoredFile.sha256)
        .tuples()
    )
    gone = {str(sha256) for (sha256,) in rows}
    kept = known_contents(gone)
    return [(sha256, sha256 in kept) for sha256 in sorted(gone)]


def known_contents(sha256s: Iterable[str]) -> set[str]:
    """Which of these contents some file row has."""
    wanted = list(sha256s)
    known: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = StoredFile.select(StoredFile.sha256).where(StoredFile.sha256.in_(chunk))
        rows = cast("list[tuple[str]]", list(query.tuples()))
        known.update(sha256 for (sha256,) in rows)
    return known


def every_content() -> list[tuple[str, int, str]]:
    """Each stored content once, as (sha256, size, content type), in sha256 order."""
    query = (
        StoredFile.select(StoredFile.sha256, StoredFile.size, StoredFile.content_type)
        .distinct()
        .order_by(StoredFile.sha256)
    )
    rows = cast("list[tuple[str, int, str]]", list(query.tuples()))
    seen: dict[str, tuple[str, int, str]] = {}
    for sha256, size, content_type in rows:
        seen.setdefault(sha256, (sha256, size, content_type))
    return list(seen.values())
