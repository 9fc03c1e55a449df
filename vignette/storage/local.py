"""The `local` backend: files at `<root>/<sha256[:2]>/<sha256>` on a local or shared disk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

from vignette.records import StagedFile
from vignette.storage.staging import file_path, fsync_directory, stored_contents


class LocalStore:
    """A folder of content-addressed files. A file appears under its final name whole: the
    fsynced staging file (on the same file system) is renamed there."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, staged: StagedFile) -> bool:
        """Moves the staging file into place (or leaves it, when the content is there)."""
        final = file_path(self.root, staged.sha256)
        if final.exists():
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.path, final)  # a writer of the same content meanwhile: same bytes
        fsync_directory(final.parent)
        return True

    def exists(self, sha256: str) -> bool:
        return file_path(self.root, sha256).exists()

    def open(self, sha256: str) -> BinaryIO:
        return cast("BinaryIO", file_path(self.root, sha256).open("rb"))

    def delete(self, sha256: str) -> None:
        file_path(self.root, sha256).unlink(missing_ok=True)

    def older_than(self, cutoff: float) -> Iterator[str]:
        for path in stored_contents(self.root):
            try:
                if path.stat().st_mtime < cutoff:
                    yield path.name
            except FileNotFoundError:
                continue

    def abort_stale_uploads(self, cutoff: float) -> int:
        return 0  # a staging file is removed with its dead process's staging directory

    def link(self, sha256: str, content_type: str) -> str | None:
        return None
