"""What a storage backend does: keep portrait bytes named by their sha256.

Two backends implement `FileStore`: `LocalStore` (a folder, `vignette.storage.local`) and
`S3Store` (a bucket, `vignette.storage.s3`); `storage.backend` picks one
(`vignette.storage.open_file_store`). Rows naming the bytes are the database's business:
a store never knows which contents are in use. Every method is safe to call from several
threads at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from vignette.records import StagedFile

# How long a presigned link to an object stays valid, in seconds.
PRESIGNED_EXPIRY_S = 300


class FileStore(Protocol):
    """Content-addressed bytes: put from a staging file, open, delete, list."""

    # "local" or "s3", for logs and metrics.
    name: str

    def put(self, staged: StagedFile) -> bool:
        """Store the staged file's bytes under its sha256, complete or not at all, unless
        that content is stored already; return whether this call stored it. The staging
        file may be moved away (the `local` backend renames it into place)."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO:
        """The stored bytes, for reading; FileNotFoundError when they are not there."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove the content; nothing happens when it is not there."""
        ...

    def older_than(self, cutoff: float) -> Iterator[str]:
        """The sha256 of every stored content last written before `cutoff` (Unix time)."""
        ...

    def abort_stale_uploads(self, cutoff: float) -> int:
        """Remove unfinished uploads begun before `cutoff` (Unix time); return how many."""
        ...

    def link(self, sha256: str, content_type: str) -> str | None:
        """A short-lived URL a client may fetch the bytes from directly, or None."""
        ...
