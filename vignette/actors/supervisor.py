"""PortraitSupervisor: the portrait side's stable address, its dispatcher and supervisor.

The StoryActor tells it `PortraitRequested`; it never sees a worker. The supervisor
queues story ids, claims each in the database when a worker is idle (so a job never lives
only in a mailbox), and hands the claimed job to that worker. Workers are restarted
one-for-one after a crash, with jittered backoff on a timer, at most
`portraits.max_restarts` times within `portraits.restart_window_s`; past that the
portrait side goes down, logged as critical, and new portraits stay `pending` for the
next start while story creation carries on.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import pykka
from loguru import logger
from pykka.typing import ActorMemberMixin, proxy_method

from vignette import metrics
from vignette.actors.document import DocumentProxy
from vignette.actors.limits import SlidingWindowLimit
from vignette.actors.messages import (
    Dispatch,
    Housekeeping,
    PortraitFinished,
    PortraitRequested,
    RestartWorker,
    WorkerCrashed,
)
from vignette.actors.portrait import PortraitActor, RecraftClientFactory
from vignette.actors.storage import StorageProxy
from vignette.config import PortraitSettings
from vignette.instance import owner_is_dead
from vignette.records import PortraitErrorCode, PortraitJob, PortraitStatus
from vignette.storage.staging import Staging

ASK_TIMEOUT_S = 60.0
RESTART_BACKOFF_BASE_S = 0.01
WORKER_STOP_WAIT_S = 5.0
# The longest pause a Retry-After can impose; a larger one is taken as this.
MAX_HOLD_S = 3600.0


@dataclass(frozen=True, slots=True)
class PortraitSideStatus:
    up: bool
    workers: int
    busy: int
    queued: int
    restarts: int
    # Seconds until the next Recraft call may start (rate limit, Retry-After, budget cap).
    held_for_s: float = 0.0


@dataclass
class _Slot:
    ref: pykka.ActorRef[PortraitActor] | None
    generation: int
    job: PortraitJob | None = None

    @property
    def idle(self) -> bool:
        return self.ref is not None and self.job is None


class PortraitSupervisor(pykka.ThreadingActor):
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
        self._storage = storage
        self._staging = staging
        self._client_factory = client_factory
        self._slots: list[_Slot] = []
        self._limit = SlidingWindowLimit(settings.rate_limit_per_minute)
        self._limits = [self._limit]
        if settings.max_calls_per_hour:
            self._limits.append(SlidingWindowLimit(settings.max_calls_per_hour, window_s=3600))
        self._restart_times: deque[float] = deque()
        self._restarts = 0
        self._timers: set[threading.Timer] = set()
        self._dispatch_scheduled = False
        self._up = True
        self._accepting = True
        self._idle = threading.Event()

    # Life cycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        self._slots = [
            _Slot(self._start_worker(slot, 1), 1) for slot in range(self._settings.concurrency)
        ]
        self._housekeeping()
        self._dispatch()

    def on_stop(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
        metrics.JOBS_IN_FLIGHT.dec(sum(slot.job is not None for slot in self._slots))
        self._stop_workers(wait_s=WORKER_STOP_WAIT_S)

    def _stop_workers(self, wait_s: float) -> None:
        """Stop every worker; wait for the idle ones (a busy one may be stuck in a call)."""
        stopping = []
        for slot in self._slots:
            if slot.ref is not None:
                future = slot.ref.stop(block=False)
                if slot.job is None:
                    stopping.append(future)
                slot.ref = None
        for future in stopping:
            with contextlib.suppress(pykka.Timeout):
                future.get(timeout=wait_s)

    def _start_worker(self, slot: int, generation: int) -> pykka.ActorRef[PortraitActor]:
        return PortraitActor.start(
            slot=slot,
            generation=generation,
            supervisor=self.actor_ref,
            document=self._document,
            storage=self._storage,
            staging=self._staging,
            client_factory=self._client_factory,
        )

    # Asked by the system ------------------------------------------------------------------

    def status(self) -> PortraitSideStatus:
        return PortraitSideStatus(
            up=self._up,
            workers=sum(slot.ref is not None for slot in self._slots),
            busy=sum(slot.job is not None for slot in self._slots),
            queued=self._document.count_pending().get(timeout=ASK_TIMEOUT_S),
            restarts=self._restarts,
            held_for_s=self._call_delay(),
        )

    def _call_delay(self) -> float:
        return max(limit.delay() for limit in self._limits)

    def stop_accepting(self) -> threading.Event:
        """Take no new job; the returned event is set once no job is in flight."""
        self._accepting = False
        busy = sum(slot.job is not None for slot in self._slots)
        logger.info("taking no new portraits; {} in flight", busy)
        self._update_idle()
        return self._idle

    def interrupt_in_flight(self) -> list[str]:
        """Mark every job still in flight `failed: interrupted`; return their story ids."""
        interrupted = []
        for slot in self._slots:
            if slot.job is None:
                continue
            error = (
                f"{PortraitErrorCode.INTERRUPTED}: Vignette stopped before the portrait "
                "was finished"
            )
            if self._document.fail_portrait(slot.job, PortraitStatus.FAILED, error).get(
                timeout=ASK_TIMEOUT_S
            ):
                interrupted.append(slot.job.story_id)
                metrics.portrait_ended(PortraitStatus.FAILED, PortraitErrorCode.INTERRUPTED)
                logger.bind(story_id=slot.job.story_id, step="shutdown").warning(
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
                for _ in range(requests_sent - 1):
                    for limit in self._limits:
                        limit.record()
                if hold_s is not None:
                    self._hold(hold_s)
                self._finished(slot, generation)
            case WorkerCrashed():
                self._crashed(message)
            case RestartWorker(slot):
                self._restart(slot)
            case Dispatch():
                self._dispatch_scheduled = False
                self._dispatch()
            case Housekeeping():
                self._housekeeping()
                self._dispatch()
            case _:
                super().on_receive(message)

    def _finished(self, slot_index: int, generation: int) -> None:
        slot = self._slots[slot_index]
        if slot.generation == generation:
            slot.job = None
            metrics.JOBS_IN_FLIGHT.dec()
        self._update_idle()
        self._dispatch()

    def _hold(self, hold_s: float) -> None:
        # The 429 itself was logged with its story; this line is about the portrait side.
        hold_s = min(hold_s, MAX_HOLD_S)
        self._limit.hold_until(hold_s)
        logger.warning(
            "Recraft asked for a pause: no new portrait starts for {:g} s; "
            "queued portraits stay pending",
            hold_s,
        )

    def _dispatch(self) -> None:
        """Claim pending portraits from the database while a worker is idle.

        Pending rows are the queue, shared by every instance on the database: a claim
        takes the oldest one nobody holds. When none is left, look again after
        `portraits.poll_interval_s` (another instance may insert some); a
        `PortraitRequested` from this instance's StoryActor looks at once.
        """
        while self._up and self._accepting:
            slot = next((s for s in self._slots if s.idle), None)
            if slot is None or slot.ref is None:
                return
            wait = self._call_delay()
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
                for limit in self._limits:
                    limit.record()
            slot.job = job
            self._idle.clear()
            slot.ref.tell(job)
            metrics.JOBS_IN_FLIGHT.inc()

    def _dispatch_later(self, delay: float) -> None:
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            self._tell_later(delay, Dispatch())

    def _crashed(self, crash: WorkerCrashed) -> None:
        slot = self._slots[crash.slot]
        if slot.generation != crash.generation:
            return
        job, slot.job, slot.ref = slot.job, None, None
        story_id = job.story_id if job else None
        log = logger.bind(story_id=story_id, step=crash.step, slot=crash.slot)
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
        if not self._may_restart():
            self._go_down()
            return
        self._restarts += 1
        metrics.WORKER_RESTARTS.inc()
        recent = len(self._restart_times)
        ceiling = min(
            self._settings.restart_backoff_s, RESTART_BACKOFF_BASE_S * 2 ** min(recent, 20)
        )
        self._tell_later(random.uniform(0, ceiling), RestartWorker(crash.slot))

    def _may_restart(self) -> bool:
        now = time.monotonic()
        while (
            self._restart_times and self._restart_times[0] <= now - self._settings.restart_window_s
        ):
            self._restart_times.popleft()
        if len(self._restart_times) >= self._settings.max_restarts:
            return False
        self._restart_times.append(now)
        return True

    def _go_down(self) -> None:
        self._up = False
        logger.critical(
            "portrait workers crashed more than {} times in {:g} s: the portrait side is "
            "stopped; stories are still created and their portraits stay pending until the "
            "next start",
            self._settings.max_restarts,
            self._settings.restart_window_s,
        )
        self._stop_workers(wait_s=0)

    def _restart(self, slot_index: int) -> None:
        if not self._up:
            return
        slot = self._slots[slot_index]
        slot.generation += 1
        slot.ref = self._start_worker(slot_index, slot.generation)
        logger.bind(slot=slot_index).info("portrait worker {} restarted", slot_index)
        self._dispatch()

    def _housekeeping(self) -> None:
        """Renew this instance's leases, fail portraits of gone instances and stuck ones."""
        document = self._document
        if any(slot.job is not None for slot in self._slots):
            document.renew_leases(self._instance, self._settings.lease_s).get(timeout=ASK_TIMEOUT_S)
        dead = [
            o for o in document.generating_owners().get(timeout=ASK_TIMEOUT_S) if owner_is_dead(o)
        ]
        interrupted = document.expire_leases(
            f"{PortraitErrorCode.INTERRUPTED}: the instance making the portrait stopped or "
            "crashed; it is not requested again (regenerate it to retry)",
            dead,
        ).get(timeout=ASK_TIMEOUT_S)
        for story_id in interrupted:
            metrics.portrait_ended(PortraitStatus.FAILED, PortraitErrorCode.INTERRUPTED)
            logger.bind(story_id=story_id, step="recover").warning(
                "portrait interrupted: its instance is gone; marked failed, not requested again"
            )
        error = (
            f"{PortraitErrorCode.TIMEOUT}: still generating after "
            f"portraits.job_timeout_s = {self._settings.job_timeout_s:g} s"
        )
        for story_id in document.fail_stale(error, self._settings.job_timeout_s).get(
            timeout=ASK_TIMEOUT_S
        ):
            logger.bind(story_id=story_id, step="watchdog").error("portrait timed out: {}", error)
            metrics.portrait_ended(PortraitStatus.FAILED, PortraitErrorCode.TIMEOUT)
        self._tell_later(self._housekeeping_period(), Housekeeping())

    def _housekeeping_period(self) -> float:
        settings = self._settings
        return min(settings.lease_s / 3, settings.job_timeout_s / 4, 30.0)

    def _update_idle(self) -> None:
        if not self._accepting and all(slot.job is None for slot in self._slots):
            self._idle.set()

    def _tell_later(self, delay: float, message: object) -> None:
        """Tell this actor `message` after `delay` seconds, from a timer thread."""

        def fire() -> None:
            self._timers.discard(timer)
            with contextlib.suppress(pykka.ActorDeadError):  # stopped meanwhile
                self.actor_ref.tell(message)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        self._timers.add(timer)
        timer.start()


class SupervisorProxy(ActorMemberMixin, pykka.ActorProxy[PortraitSupervisor]):
    status = proxy_method(PortraitSupervisor.status)
    stop_accepting = proxy_method(PortraitSupervisor.stop_accepting)
    interrupt_in_flight = proxy_method(PortraitSupervisor.interrupt_in_flight)
