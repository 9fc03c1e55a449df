"""PortraitSupervisor: the portrait side's stable address, its dispatcher and supervisor.

The StoryActor tells it `PortraitRequested`; it never sees a worker. The supervisor
claims a pending portrait in the database when a worker is idle and the call limits allow
(so a job never lives only in a mailbox), and hands the claimed job to that worker. It
holds the dispatch and the messages; the rest is in plain classes it uses: `WorkerSlots`
(`workers.py`), `CallLimits` (`limits.py`), `RestartPolicy` (`restarts.py`: workers are
restarted one-for-one after a jittered backoff, until they crash too often and the portrait
side goes down, logged as critical, while story creation carries on) and `Housekeeping`
(`leases.py`).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

import pykka
from loguru import logger
from pykka.typing import ActorMemberMixin, proxy_method

from vignette import metrics
from vignette.actors.document import DocumentProxy
from vignette.actors.leases import Housekeeping
from vignette.actors.limits import CallLimits
from vignette.actors.messages import (
    ASK_TIMEOUT_S,
    Dispatch,
    HousekeepingTick,
    PortraitFinished,
    PortraitRequested,
    RestartWorker,
    WorkerCrashed,
)
from vignette.actors.portrait import PortraitActor, RecraftClientFactory
from vignette.actors.restarts import RestartPolicy
from vignette.actors.storage import StorageProxy
from vignette.actors.timers import DelayedTells
from vignette.actors.workers import WorkerSlots
from vignette.config import PortraitSettings
from vignette.records import PortraitErrorCode, PortraitStatus
from vignette.storage.staging import Staging

WORKER_STOP_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class PortraitSideStatus:
    up: bool
    workers: int
    busy: int
    queued: int
    restarts: int
    # Seconds until the next Recraft call may start (rate limit, Retry-After, budget cap).
    held_for_s: float = 0.0


class PortraitSupervisor(pykka.ThreadingActor):
    # Never keeps the host's process alive; StorySystem stops it at exit (system/process.py).
    use_daemon_thread = True

    def __init__(
        self,
        *,
        settings: PortraitSettings,
        document: DocumentProxy,
        storage: StorageProxy,
        staging: Staging,
        client_factory: RecraftClientFactory | None,
        instance: str,
    ) -> None:
        super().__init__()
        self._instance = instance
        self._settings = settings
        self._document = document
        self._client_factory = client_factory
        # Starts a slot's worker, given its slot and generation.
        self._start_worker = functools.partial(
            PortraitActor.start,
            supervisor=self.actor_ref,
            document=document,
            storage=storage,
            staging=staging,
            client_factory=client_factory,
        )
        self._workers: WorkerSlots
        self._limits = CallLimits(settings.rate_limit_per_minute, settings.max_calls_per_hour)
        self._restarts = RestartPolicy(settings)
        self._housekeeping = Housekeeping(document, instance, settings)
        self._later = DelayedTells(self.actor_ref)
        self._dispatch_scheduled = False
        self._up = True
        self._accepting = True
        self._idle = threading.Event()

    # Life cycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        self._workers = WorkerSlots(self._settings.concurrency, self._start_worker)
        self._keep_house()
        self._dispatch()

    def on_stop(self) -> None:
        self._later.cancel()
        metrics.JOBS_IN_FLIGHT.dec(self._workers.busy)
        self._workers.stop(wait_s=WORKER_STOP_WAIT_S)

    # Asked by the system ------------------------------------------------------------------

    def status(self) -> PortraitSideStatus:
        return PortraitSideStatus(
            up=self._up,
            workers=self._workers.alive,
            busy=self._workers.busy,
            queued=self._document.count_pending().get(timeout=ASK_TIMEOUT_S),
            restarts=self._restarts.restarts,
            held_for_s=self._limits.delay(),
        )

    def stop_accepting(self) -> threading.Event:
        """Take no new job; the returned event is set once no job is in flight."""
        self._accepting = False
        logger.info("taking no new portraits; {} in flight", self._workers.busy)
        self._update_idle()
        return self._idle

    def interrupt_in_flight(self) -> list[str]:
        """Mark every job still in flight `failed: interrupted`; return their story ids."""
        interrupted = []
        error = (
            f"{PortraitErrorCode.INTERRUPTED}: Vignette stopped before the portrait was finished"
        )
        for job in self._workers.jobs():
            if self._document.fail_portrait(job, PortraitStatus.FAILED, error).get(
                timeout=ASK_TIMEOUT_S
            ):
                interrupted.append(job.story_id)
                metrics.portrait_ended(PortraitStatus.FAILED, PortraitErrorCode.INTERRUPTED)
                logger.bind(story_id=job.story_id, step="shutdown").warning(
                    "portrait interrupted by shutdown after the grace period"
                )
        return interrupted

    # Told by peers and timers -------------------------------------------------------------

    def on_receive(self, message: Any) -> None:
        match message:
            case PortraitRequested():
                self._dispatch()
            case PortraitFinished(slot, generation, _, hold_s, requests_sent):
                # Dispatch counted one call against the limits; count the retries too.
                self._limits.record(requests_sent - 1)
                if hold_s is not None:
                    self._limits.hold(hold_s)
                self._finished(slot, generation)
            case WorkerCrashed():
                self._crashed(message)
            case RestartWorker(slot):
                self._restart(slot)
            case Dispatch():
                self._dispatch_scheduled = False
                self._dispatch()
            case HousekeepingTick():
                self._keep_house()
                self._dispatch()
            case _:
                super().on_receive(message)

    def _finished(self, slot: int, generation: int) -> None:
        if self._workers.release(slot, generation):
            metrics.JOBS_IN_FLIGHT.dec()
        self._update_idle()
        self._dispatch()

    def _dispatch(self) -> None:
        """Claim pending portraits from the database while a worker is idle.

        Pending rows are the queue, shared by every instance on the database: a claim
        takes the oldest one nobody holds. When none is left, look again after
        `portraits.poll_interval_s` (another instance may insert some); a
        `PortraitRequested` from this instance's StoryActor looks at once.
        """
        while self._up and self._accepting:
            slot = self._workers.idle()
            if slot is None:
                return
            wait = self._limits.delay()
            metrics.CALLS_HELD.set(wait)
            if wait > 0:
                self._dispatch_later(wait)
                return
            job = self._document.claim_portrait(
                owner=self._instance, lease_s=self._settings.lease_s
            ).get(timeout=ASK_TIMEOUT_S)
            if job is None:
                self._dispatch_later(self._settings.poll_interval_s)
                return
            if job.prompt.strip() and self._client_factory is not None:
                self._limits.record()
            self._idle.clear()
            self._workers.hand(slot, job)
            metrics.JOBS_IN_FLIGHT.inc()

    def _dispatch_later(self, delay: float) -> None:
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            self._later.tell_later(delay, Dispatch())

    def _crashed(self, crash: WorkerCrashed) -> None:
        current, job = self._workers.vacate(crash.slot, crash.generation)
        if not current:
            return
        log = logger.bind(story_id=job.story_id if job else None, step=crash.step, slot=crash.slot)
        exc_info = (
            None if crash.error is None else type(crash.error),
            crash.error,
            crash.traceback,
        )
        log.opt(exception=exc_info).error(
            "portrait worker {} crashed: {!r}", crash.slot, crash.error
        )
        if job is not None:
            metrics.JOBS_IN_FLIGHT.dec()
            self._document.fail_portrait(
                job,
                PortraitStatus.FAILED,
                f"{PortraitErrorCode.CRASHED}: the portrait worker crashed at step "
                f"{crash.step}: {type(crash.error).__name__}",
            ).get(timeout=ASK_TIMEOUT_S)
            metrics.portrait_ended(PortraitStatus.FAILED, PortraitErrorCode.CRASHED)
        self._update_idle()
        delay = self._restarts.restart_delay()
        if delay is None:
            self._up = False
            logger.critical(self._restarts.giving_up())
            self._workers.stop(wait_s=0)
            return
        metrics.WORKER_RESTARTS.inc()
        self._later.tell_later(delay, RestartWorker(crash.slot))

    def _restart(self, slot: int) -> None:
        if not self._up:
            return
        self._workers.restart(slot)
        logger.bind(slot=slot).info("portrait worker {} restarted", slot)
        self._dispatch()

    def _keep_house(self) -> None:
        self._housekeeping.tick(holding_claims=self._workers.busy > 0)
        self._later.tell_later(self._housekeeping.period_s, HousekeepingTick())

    def _update_idle(self) -> None:
        if not self._accepting and self._workers.busy == 0:
            self._idle.set()


class SupervisorProxy(ActorMemberMixin, pykka.ActorProxy[PortraitSupervisor]):
    status = proxy_method(PortraitSupervisor.status)
    stop_accepting = proxy_method(PortraitSupervisor.stop_accepting)
    interrupt_in_flight = proxy_method(PortraitSupervisor.interrupt_in_flight)
