"""Storing a portrait's bytes and recording them, from any thread: `PortraitFiles`.

A worker stores its own portrait in its own thread, so an upload to a bucket, or a bucket
that is away for a while, holds up only that portrait: neither the StorageActor (which
serves opens, deletes and the orphan sweep) nor the other workers wait for it.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, BinaryIO

from loguru import logger

from vignette import metrics
from vignette.actors.document import DocumentProxy
from vignette.actors.messages import ASK_TIMEOUT_S, write_deadline
from vignette.actors.retry import Backoff, retrying
from vignette.errors import StorageUnavailable, StoredFileNotFound, describe
from vignette.models.deadlines import check_deadline
from vignette.records import FileInfo, PortraitJob, StagedFile, Step
from vignette.storage.store import FileStore

if TYPE_CHECKING:
    from loguru import Logger

# A remote store that failed is tried again after these waits, until the write's deadline.
UPLOAD_BACKOFF_FIRST_S = 0.2
UPLOAD_BACKOFF_CAP_S = 2.0


class PortraitFiles:
    """The stored bytes (a `FileStore`) and their rows (through the DocumentActor)."""

    def __init__(self, files: FileStore, document: DocumentProxy) -> None:
        self.files = files
        self._document = document

    def commit(
        self, staged: StagedFile, job: PortraitJob, deadline: float | None = None
    ) -> FileInfo | None:
        """Store a staged portrait under its sha256 (the seed's storage.store), completely,
        then record its row and settle `job`'s story on it in one transaction
        (updateStoryImage); remove the staging file.

        None if the claim is gone (the story was deleted, or its portrait taken back): then
        no row is left, nor the bytes unless a row has them. A failed record takes back
        bytes this call stored, unless a row has them by then.

        A bucket that fails and a database that is locked or away are tried again, with
        backoff, until `deadline` (a `time.monotonic()` value; by default a write's usual
        one), when the caller stops waiting; a commit past it is refused and stores nothing.
        """
        until = write_deadline() if deadline is None else deadline
        check_deadline(until, "storing a portrait")
        log = logger.bind(story_id=job.story_id, step=Step.STORE)
        created = self._put(staged, until, log)
        try:
            info = retrying(
                lambda deadline: self._document.store_portrait(
                    job, staged.sha256, staged.size, staged.content_type, deadline=deadline
                ),
                until=until,
                what="store the portrait",
                log=log,
            )
        except Exception:
            if created:
                self.discard(staged.sha256)
            raise
        if info is None:
            if created:
                self.discard(staged.sha256)
            return None
        if not created:
            self._restore_if_gone(staged, log)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged.path)
        return info

    def _put(self, staged: StagedFile, until: float, log: Logger) -> bool:
        """`FileStore.put`, tried again while the bucket is unavailable, until `until`; a
        local disk's error is not tried again."""
        backoff = Backoff(UPLOAD_BACKOFF_FIRST_S, UPLOAD_BACKOFF_CAP_S)
        while True:
            try:
                return self.files.put(staged)
            except StorageUnavailable as error:
                wait = backoff.next()
                if not error.passing or time.monotonic() + wait >= until:
                    raise
                log.bind(cause=describe(error)).warning(
                    "could not store the image: {}; trying again in {:.2f} s",
                    describe(error),
                    wait,
                )
                metrics.STORAGE_RETRIES.inc()
                time.sleep(wait)

    def _restore_if_gone(self, staged: StagedFile, log: Logger) -> None:
        """The same content was stored already; if the last other row was deleted, and its
        bytes with it, between the put and the record, store them again."""
        try:
            if not self.files.exists(staged.sha256):
                self.files.put(staged)
                log.info("stored again content deleted while it was being recorded")
        except OSError as error:
            log.bind(cause=describe(error)).warning(
                "could not check that the stored content is still there: {}", describe(error)
            )

    def discard(self, sha256: str) -> None:
        """Remove content this commit stored, unless a row has it by then (when the rows
        cannot be read, it is removed: it was stored a moment ago). A failure to remove it
        is logged; the orphan sweep removes it later."""
        try:
            try:
                known = self._document.known_contents([sha256]).get(timeout=ASK_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - no answer: as good as no row
                known = set()
            if sha256 not in known:
                self.files.delete(sha256)
        except Exception as error:  # noqa: BLE001 - the sweep removes what is left
            logger.bind(step=Step.STORE, cause=describe(error)).warning(
                "could not remove unrecorded content {}: {}", sha256, describe(error)
            )

    def open(self, storage_id: str) -> tuple[BinaryIO, str]:
        """A stored file's bytes, open for reading, and its content type."""
        info = self._document.get_file(storage_id).get(timeout=ASK_TIMEOUT_S)
        if info is None:
            raise StoredFileNotFound(storage_id)
        try:
            return self.files.open(info.sha256), info.content_type
        except FileNotFoundError:
            raise StoredFileNotFound(storage_id) from None

    def link(self, info: FileInfo) -> str | None:
        """A short-lived URL of the bytes, when the store gives them one."""
        return self.files.link(info.sha256, info.content_type)
