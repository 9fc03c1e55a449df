"""Stored files' rows (Convex's `_storage`): insert, read, delete.

The bytes live on disk (`vignette.storage`); a row names them by sha256, so two rows may
share one file, which is removed with the last of them.
"""

from __future__ import annotations

from peewee import Database

from vignette.models.sql import run, statements
from vignette.models.tables import StoredFile, aware, db_time, new_id, utc_now
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
