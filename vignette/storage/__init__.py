"""Where portrait bytes land: the staging area, and the backend `storage.backend` names."""

from __future__ import annotations

from pathlib import Path

from vignette.config.settings import StorageSettings
from vignette.storage.store import FileStore


def open_file_store(settings: StorageSettings) -> FileStore:
    """The backend the settings name: the `local` folder, or the `s3` bucket."""
    if settings.backend == "s3":
        from vignette.storage.s3 import S3Store  # boto3 is imported only when it is used

        return S3Store(settings.s3)
    from vignette.storage.local import LocalStore

    return LocalStore(Path(settings.path))
