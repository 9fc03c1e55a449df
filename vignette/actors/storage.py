"""StorageActor: moves staged portrait files into place (`vignette.storage.staging` has the
layout), records them through the DocumentActor, and opens and deletes stored files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, cast

import pykka
from loguru import logger
from pykka.typing import ActorMemberMixin, proxy_method

from vignette.actors.document import DocumentProxy
from vignette.actors.messages import ASK_TIMEOUT_S, write_deadline
from vignette.actors.retry import retrying
from vignette.errors import StoredFileNotFound
from vignette.models.deadlines import check_deadline
from vignette.records import FileInfo, PortraitJob, StagedFile, Step
from vignette.storage.staging import file_path, fsync_directory


class StorageActor(pykka.ThreadingActor):
    """Moves staged files into place and records them; opens and deletes stored files."""

    # stop() must never leave a thread that keeps the process alive.
    use_daemon_thread = True

    def __init__(self, root: Path, document: DocumentProxy) -> None:
        super().__init__()
        self._root = root
        self._document = document

    def commit_portrait(
        self, staged: StagedFile, job: PortraitJob, deadline: float | None = None
    ) -> FileInfo | None:
        """Store a staged portrait under its sha256 (the seed's storage.store), then record its
        row and settle `job`'s story on it in one transaction (updateStoryImage).

        None if the claim is gone (the story was deleted, or its portrait taken back): then
        no row is left, nor the bytes unless another row has them. A failed record takes
        back a file this call created. File rows are only written from this actor, one
        message at a time, so no other row can have come to share the new file meanwhile.

        A database that is locked or away is tried again, with backoff, until `deadline` (a
        `time.monotonic()` value; by default a write's usual one), when the caller stops
        waiting; a commit still queued then is refused and moves nothing.
        """
        until = write_deadline() if deadline is None else deadline
        check_deadline(until, "storing a portrait")
        final = file_path(self._root, staged.sha256)
        created = False
        if final.exists():
            os.unlink(staged.path)  # the same content is stored already
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.path, final)
            fsync_directory(final.parent)
            created = True
        try:
            info = retrying(
                lambda deadline: self._document.store_portrait(
                    job, staged.sha256, staged.size, staged.content_type, deadline=deadline
                ),
                until=until,
                what="store the portrait",
                log=logger.bind(story_id=job.story_id, step=Step.STORE),
            )
        except Exception:
            if created:
                final.unlink(missing_ok=True)
            raise
        if info is None and created:
            final.unlink(missing_ok=True)
        return info

    def open(self, storage_id: str) -> tuple[BinaryIO, str]:
        info = self._document.get_file(storage_id).get(timeout=ASK_TIMEOUT_S)
        if info is None:
            raise StoredFileNotFound(storage_id)
        try:
            file = file_path(self._root, info.sha256).open("rb")
        except FileNotFoundError:
            raise StoredFileNotFound(storage_id) from None
        return cast("BinaryIO", file), info.content_type

    def delete(self, storage_id: str) -> bool:
        """Delete a file's row, and its bytes unless another row has the same content."""
        deleted = self._document.delete_file(storage_id).get(timeout=ASK_TIMEOUT_S)
        if deleted is None:
            return False
        info, shared = deleted
        if not shared:
            file_path(self._root, info.sha256).unlink(missing_ok=True)
        logger.bind(storage_id=storage_id).debug("deleted stored file (shared: {})", shared)
        return True


class StorageProxy(ActorMemberMixin, pykka.ActorProxy[StorageActor]):
    commit_portrait = proxy_method(StorageActor.commit_portrait)
    open = proxy_method(StorageActor.open)
    delete = proxy_method(StorageActor.delete)
