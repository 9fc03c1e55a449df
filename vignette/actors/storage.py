"""StorageActor: records staged portraits (through `PortraitFiles`), opens and deletes
stored files, and sweeps orphans, on the backend `storage.backend` names (the local folder
of `vignette.storage.local` or the bucket of `vignette.storage.s3`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pykka
from loguru import logger
from pykka.typing import ActorMemberMixin, proxy_method

from vignette import metrics
from vignette.actors.document import DocumentProxy
from vignette.actors.files import PortraitFiles
from vignette.actors.messages import ASK_TIMEOUT_S
from vignette.actors.timers import DelayedTells
from vignette.errors import describe
from vignette.records import FileInfo, PortraitJob, StagedFile
from vignette.storage.local import LocalStore
from vignette.storage.store import FileStore

# The orphan sweep: how often it runs, and how old a file or row must be to be removed.
SWEEP_PERIOD_S = 3600.0
ORPHAN_GRACE_S = 3600.0


@dataclass(frozen=True, slots=True)
class SweepOrphans:
    """The periodic tick of the orphan sweep."""


class StorageActor(pykka.ThreadingActor):
    """Opens and deletes stored files, sweeps orphans; records portraits for callers that
    do not do it in their own thread."""

    # Never keeps the process alive: stop() is bounded and StorySystem stops at exit
    # (system/process.py).
    use_daemon_thread = True

    def __init__(self, files: FileStore | Path, document: DocumentProxy) -> None:
        super().__init__()
        self._files = LocalStore(files) if isinstance(files, Path) else files
        self._document = document
        self.portraits = PortraitFiles(self._files, document)
        self._later = DelayedTells(self.actor_ref)

    def on_start(self) -> None:
        self._later.tell_later(SWEEP_PERIOD_S, SweepOrphans())

    def on_stop(self) -> None:
        self._later.cancel()

    def on_receive(self, message: object) -> None:
        if not isinstance(message, SweepOrphans):
            super().on_receive(message)
            return
        try:
            self.sweep_orphans()
        except Exception as error:  # noqa: BLE001 - a failed sweep waits for the next
            logger.bind(step="sweep", cause=describe(error)).warning(
                "orphan sweep failed: {}; trying again in {:g} s", describe(error), SWEEP_PERIOD_S
            )
        self._later.tell_later(SWEEP_PERIOD_S, SweepOrphans())

    def sweep_orphans(self, grace_s: float = ORPHAN_GRACE_S) -> tuple[int, int]:
        """Remove file rows no story refers to and stored files no row names, both older
        than `grace_s` (a crash between deleting a story and its file, or between moving a
        file into place and recording it, leaves them); return (rows, files) removed.

        A commit that found this content stored just before it was removed stores it again
        once its row is in (`PortraitFiles.commit`), so no row is left without its bytes."""
        rows = self._document.delete_unreferenced_files(grace_s).get(timeout=ASK_TIMEOUT_S)
        removed_files = 0
        for sha256, shared in rows:
            if not shared:
                self._files.delete(sha256)
                removed_files += 1
        cutoff = time.time() - grace_s
        old = sorted(self._files.older_than(cutoff))
        known = self._document.known_contents(old).get(timeout=ASK_TIMEOUT_S)
        for sha256 in old:
            if sha256 not in known:
                self._files.delete(sha256)
                removed_files += 1
        self._files.abort_stale_uploads(cutoff)
        metrics.ORPHANS_SWEPT.labels("row").inc(len(rows))
        metrics.ORPHANS_SWEPT.labels("file").inc(removed_files)
        if rows or removed_files:
            logger.bind(step="sweep").info(
                "orphan sweep removed {} file rows and {} files", len(rows), removed_files
            )
        return len(rows), removed_files

    def commit_portrait(
        self, staged: StagedFile, job: PortraitJob, deadline: float | None = None
    ) -> FileInfo | None:
        """`PortraitFiles.commit` in this actor's thread (workers call it in their own)."""
        return self.portraits.commit(staged, job, deadline)

    def open(self, storage_id: str) -> tuple[BinaryIO, str]:
        return self.portraits.open(storage_id)

    def delete(self, storage_id: str) -> bool:
        """Delete a file's row, and its bytes unless another row has the same content.

        Bytes that cannot be removed (a bucket away) are left to the orphan sweep."""
        deleted = self._document.delete_file(storage_id).get(timeout=ASK_TIMEOUT_S)
        if deleted is None:
            return False
        info, shared = deleted
        if not shared:
            try:
                self._files.delete(info.sha256)
            except OSError as error:
                logger.bind(storage_id=storage_id, step="delete", cause=describe(error)).warning(
                    "could not remove the stored bytes: {}; the orphan sweep will", describe(error)
                )
        logger.bind(storage_id=storage_id).debug("deleted stored file (shared: {})", shared)
        return True


class StorageProxy(ActorMemberMixin, pykka.ActorProxy[StorageActor]):
    commit_portrait = proxy_method(StorageActor.commit_portrait)
    open = proxy_method(StorageActor.open)
    delete = proxy_method(StorageActor.delete)
    sweep_orphans = proxy_method(StorageActor.sweep_orphans)
