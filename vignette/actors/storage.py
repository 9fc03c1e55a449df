"""StorageActor: moves staged portrait files into place (`vignette.storage.staging` has the
layout), records them through the DocumentActor, and opens and deletes stored files."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import pykka
from loguru import logger
from pykka.typing import ActorMemberMixin, proxy_method

from vignette import metrics
from vignette.actors.document import DocumentProxy
from vignette.actors.messages import ASK_TIMEOUT_S, write_deadline
from vignette.actors.retry import retrying
from vignette.actors.timers import DelayedTells
from vignette.errors import StoredFileNotFound, describe
from vignette.models.deadlines import check_deadline
from vignette.records import FileInfo, PortraitJob, StagedFile, Step
from vignette.storage.staging import file_path, fsync_directory, stored_contents

# The orphan sweep: how often it runs, and how old a file or row must be to be removed.
SWEEP_PERIOD_S = 3600.0
ORPHAN_GRACE_S = 3600.0


@dataclass(frozen=True, slots=True)
class SweepOrphans:
    """The periodic tick of the orphan sweep."""


class StorageActor(pykka.ThreadingActor):
    """Moves staged files into place and records them; opens and deletes stored files."""

    # Never keeps the process alive: stop() is bounded and StorySystem stops at exit
    # (system/process.py).
    use_daemon_thread = True

    def __init__(self, root: Path, document: DocumentProxy) -> None:
        super().__init__()
        self._root = root
        self._document = document
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

        File rows and files are only written from this actor, one message at a time, so no
        commit can slip in between the check and the removal."""
        rows = self._document.delete_unreferenced_files(grace_s).get(timeout=ASK_TIMEOUT_S)
        removed_files = 0
        for sha256, shared in rows:
            if not shared:
                file_path(self._root, sha256).unlink(missing_ok=True)
                removed_files += 1
        cutoff = time.time() - grace_s
        old = {path.name: path for path in stored_contents(self._root) if _older(path, cutoff)}
        known = self._document.known_contents(sorted(old)).get(timeout=ASK_TIMEOUT_S)
        for name, path in old.items():
            if name not in known:
                path.unlink(missing_ok=True)
                removed_files += 1
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


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


class StorageProxy(ActorMemberMixin, pykka.ActorProxy[StorageActor]):
    commit_portrait = proxy_method(StorageActor.commit_portrait)
    open = proxy_method(StorageActor.open)
    delete = proxy_method(StorageActor.delete)
    sweep_orphans = proxy_method(StorageActor.sweep_orphans)
