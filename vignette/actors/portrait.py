"""PortraitActor: one portrait worker, running the seed's generatePatientPortrait.

validate -> request -> parse -> download -> store -> update. A failure at any step is
caught there, logged once with `story_id` and `step`, and written to the story as
`failed` (or `skipped`) with the contract's code; nothing is raised and nothing is
retried. An exception that is not a known failure is a crash: the supervisor, told by
`on_failure`, fails the story with `crashed` and starts a new worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import pykka
from loguru import logger

from vignette import metrics
from vignette.actors.calls import CallLedger
from vignette.actors.document import DocumentProxy
from vignette.actors.files import PortraitFiles
from vignette.actors.messages import (
    ASK_TIMEOUT_S,
    PortraitFinished,
    ReportLastJob,
    Teller,
    WorkerCrashed,
    write_deadline,
)
from vignette.actors.retry import retrying
from vignette.actors.storage import StorageProxy
from vignette.download.gate import WorkGate
from vignette.download.images import NotAnImage, identify_image
from vignette.errors import PortraitFailure, describe
from vignette.records import (
    FileInfo,
    PortraitErrorCode,
    PortraitJob,
    PortraitStatus,
    StagedFile,
    Step,
)
from vignette.recraft.client import RecraftClient
from vignette.storage.staging import Staging

# Downloading, fsyncing and checking an image is the CPU-heavy part of a portrait: as many
# workers as there are cores do it at once (see vignette.download.gate). 50 ms is ten times
# what a 1 MB image takes here, uncontended; a slower download lets the next worker in after.
FINISH_GATE = WorkGate(permits=max(2, os.cpu_count() or 2), hold_s=0.05)

RecraftClientFactory = Callable[[], RecraftClient]


class PortraitActor(pykka.ThreadingActor):
    # A worker stuck in a long HTTP call must not keep the process alive after stop().
    use_daemon_thread = True

    def __init__(
        self,
        *,
        slot: int,
        generation: int,
        supervisor: Teller,
        document: DocumentProxy,
        storage: StorageProxy,
        staging: Staging,
        client_factory: RecraftClientFactory | None,
        files: PortraitFiles | None = None,
        ledger: CallLedger | None = None,
    ) -> None:
        super().__init__()
        # Records retries before they are sent, and every call's outcome and credits.
        self._ledger = ledger
        self._slot = slot
        self._generation = generation
        self._supervisor = supervisor
        self._document = document
        self._storage = storage
        self._staging = staging
        # Given, this worker stores its portraits in its own thread; else the StorageActor does.
        self._files = files
        self._client_factory = client_factory
        self._client: RecraftClient | None = None
        self._job: PortraitJob | None = None
        self._last_report: PortraitFinished | None = None
        self._step = Step.VALIDATE

    def on_start(self) -> None:
        if self._client_factory is not None:
            self._client = self._client_factory()

    def on_stop(self) -> None:
        if self._client is not None:
            self._client.close()

    def on_receive(self, message: object) -> None:
        if isinstance(message, PortraitJob):
            self._job = message
            sent_before = self._client.requests_sent if self._client else 0
            try:
                hold_s = self.generate_patient_portrait(message)
            except pykka.ActorDeadError:
                # The system stopped under this job; shutdown or the next start settles it.
                logger.bind(story_id=message.story_id, step=self._step).warning(
                    "system stopped while the portrait was being made; result dropped"
                )
                return
            self._job = None
            sent = (self._client.requests_sent if self._client else 0) - sent_before
            self._last_report = PortraitFinished(
                self._slot, self._generation, message.story_id, hold_s, sent
            )
            # While the supervisor is restarting, nobody hears this; its successor asks again.
            with contextlib.suppress(pykka.ActorDeadError):
                self._supervisor.tell(self._last_report)
        elif isinstance(message, ReportLastJob):
            if self._last_report is not None:
                self._supervisor.tell(dataclasses.replace(self._last_report, resent=True))
        else:
            super().on_receive(message)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.on_stop()  # pykka runs on_failure instead of on_stop after a crash
        # After the system stopped, nobody is left to tell; the next start settles the story.
        with contextlib.suppress(pykka.ActorDeadError):
            self._supervisor.tell(
                WorkerCrashed(
                    slot=self._slot,
                    generation=self._generation,
                    job=self._job,
                    step=self._step,
                    error=exception_value,
                    traceback=traceback,
                )
            )

    def generate_patient_portrait(self, job: PortraitJob) -> float | None:
        """Run the pipeline for one claimed portrait; its outcome lands in the story.

        Returns how long Recraft asked that no new call start (a 429's Retry-After), if it did.
        """
        log = logger.bind(story_id=job.story_id, attempt=job.attempt)
        try:
            self._step = Step.VALIDATE
            client = self._validate(job)
            self._step = Step.REQUEST
            request_log = log.bind(step=Step.REQUEST)
            gate = None if self._ledger is None else self._ledger.gate(job, request_log)
            with metrics.RECRAFT_LATENCY.time():
                image_url = client.generate_image_url(job.prompt, request_log, gate)
            job = dataclasses.replace(job, credits=client.credits)
            self._step = Step.DOWNLOAD
            with self._staging.new_file() as sink:
                with FINISH_GATE.slot():
                    served_type = client.download(image_url, sink)
                    sink.finish()
                    staged = sink.staged(self._check_image(sink.path))
                self._step = Step.STORE
                stored = self._store(staged, job)
            self._step = Step.UPDATE
            if stored is None:
                self._log_lost_claim(job)
                return None
            metrics.portrait_ended(PortraitStatus.STORED)
            log.bind(step=Step.UPDATE, storage_id=stored.id).info(
                "portrait stored: {} bytes of {} (served as {!r})",
                stored.size,
                stored.content_type,
                served_type,
            )
            if job.replaces is not None:
                self._storage.delete(job.replaces).get(timeout=ASK_TIMEOUT_S)
        except PortraitFailure as failure:
            self._record(job, failure)
            return failure.retry_after_s
        return None

    def _validate(self, job: PortraitJob) -> RecraftClient:
        if not job.prompt.strip():
            raise PortraitFailure(
                Step.VALIDATE,
                PortraitErrorCode.EMPTY_PROMPT,
                "the image generation prompt is empty; no portrait was requested",
                status=PortraitStatus.SKIPPED,
            )
        if self._client is None:
            raise PortraitFailure(
                Step.VALIDATE,
                PortraitErrorCode.MISSING_API_KEY,
                "RECRAFT_API_KEY is not set; no portrait was requested",
            )
        return self._client

    def _check_image(self, path: Path) -> str:
        try:
            return identify_image(path)
        except NotAnImage as error:
            raise PortraitFailure(
                Step.DOWNLOAD, PortraitErrorCode.INVALID_IMAGE, str(error)
            ) from None

    def _store(self, staged: StagedFile, job: PortraitJob) -> FileInfo | None:
        """Store the image and settle the story on it; None if the claim is gone."""
        try:
            # A bucket or database that is away is tried again until the deadline.
            if self._files is not None:
                return self._files.commit(staged, job, deadline=write_deadline())
            return self._storage.commit_portrait(staged, job, deadline=write_deadline()).get(
                timeout=ASK_TIMEOUT_S
            )
        except pykka.ActorDeadError:
            raise
        except Exception as error:  # noqa: BLE001 - any storage failure fails this step only
            raise PortraitFailure(
                Step.STORE,
                PortraitErrorCode.STORAGE_ERROR,
                f"could not store the image: {describe(error)}",
            ) from None

    def _log_lost_claim(self, job: PortraitJob) -> None:
        """E5: the story was deleted (or its claim taken back) before the update; the
        storage left no row and no file behind."""
        story = self._document.get_story(job.story_id).get(timeout=ASK_TIMEOUT_S)
        reason = "story_deleted" if story is None else "claim_lost"
        logger.bind(story_id=job.story_id, step=Step.UPDATE).warning(
            "{}: the story {} before its portrait was stored; the image is not kept",
            reason,
            "was deleted" if story is None else f"is now {story.portrait_status}",
        )

    def _record(self, job: PortraitJob, failure: PortraitFailure) -> None:
        log = logger.bind(story_id=job.story_id, step=failure.step, code=failure.code)
        # The log has the whole message; the story, the API and the gallery get it without
        # file paths.
        if failure.status is PortraitStatus.SKIPPED:
            log.warning("portrait skipped: {}", failure)
        else:
            log.error("portrait failed: {}", failure)
        settled = retrying(
            lambda deadline: self._document.fail_portrait(
                job, failure.status, failure.portrait_error, deadline=deadline
            ),
            until=write_deadline(),
            what="record the portrait's failure",
            log=log,
        )
        if settled:
            metrics.portrait_ended(failure.status, failure.code)
