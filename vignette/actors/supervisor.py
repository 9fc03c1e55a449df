"""PortraitSupervisor: the portrait side's stable address, its dispatcher and supervisor.

The StoryActor tells it `PortraitRequested`; it never sees a worker. The supervisor
claims a pending portrait in the database when a worker is idle and the call ledger allows
(`models/ledger.py`: the rate limit, the budget and Recraft's holds, for every instance; the
claim and the record of its call are one transaction), so a job never lives only in a
mailbox, and hands the claimed job to that worker. It holds the dispatch and the messages;
the rest is in plain classes it uses: `WorkerSlots` (`workers.py`), `RestartPolicy`
(`restarts.py`: workers are restarted one-for-one after a jittered backoff, until they
crash too often and the portrait side goes down, logged as critical, while story creation
carries on), `Housekeeping` (`leases.py`) and `OwedWrites` (`owed.py`).

A database that fails (locked, restarting, unreachable) never stops it: a claim or a tick
that fails is logged and tried again after a growing backoff. Anything else that escapes a
handler kills it; its `on_failure` tells the root (`root.py`), which starts a new one.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType
from typing import Any

import pykka
from loguru import logger
from pykka.typing import ActorMemberMixin, proxy_method

from vignette import metrics
from vignette.actors.document import DocumentProxy
from vignette.actors.leases import Housekeeping
from vignette.actors.messages import (
    ASK_TIMEOUT_S,
    Dispatch,
    HousekeepingTick,
    PortraitFinished,
    PortraitRequested,
    PortraitSideStatus,
    RestartWorker,
    WorkerCrashed,
    write_deadline,
)
from vignette.actors.pace import Pace, wait_of
from vignette.actors.portrait import RecraftClientFactory
from vignette.actors.restarts import RestartPolicy
from vignette.actors.retry import DATABASE_BACKOFF_CAP_S, UNAVAILABLE, Backoff, unavailable
from vignette.actors.root import ChildFailed
from vignette.actors.timers import DelayedTells
from vignette.actors.workers import WorkerSlots
from vignette.config import PortraitSettings
from vignette.errors import describe
from vignette.models.ledger import Held, Limits
from vignette.records import PortraitJob, Step

WORKER_STOP_WAIT_S = 5.0
SUPERVISOR_NAME = "portrait supervisor"


class PortraitSupervisor(pykka.ThreadingActor):
    # Never keeps the process alive: stop() is bounded and StorySystem stops at exit
    # (system/process.py).
    use_daemon_thread = True

    def __init__(
        self,
        *,
        settings: PortraitSettings,
        document: DocumentProxy,
        workers: WorkerSlots,
        client_factory: RecraftClientFactory | None,
        instance: str,
        root: pykka.ActorRef[Any] | None = None,
        busy_poll_s: float | None = None,
    ) -> None:
        super().__init__()
        self._pace = Pace(settings.poll_interval_s, busy_poll_s)
        self._instance = instance
        self._settings = settings
        self._document = document
        self._client_factory = client_factory
        self._root = root
        # The workers and their jobs outlive an incarnation: a restarted supervisor takes
        # them over, so no job in flight is lost. The call limits live in the database.
        self._workers = workers
        self._limits = Limits(settings.rate_limit_per_minute, settings.max_calls_per_hour)
        self._restarts = RestartPolicy(settings)
        self._housekeeping = Housekeeping(document, instance, settings)
        self._claim_backoff = Backoff(first_s=0.1, cap_s=DATABASE_BACKOFF_CAP_S)
        self._later = DelayedTells(self.actor_ref)
        self._dispatch_scheduled = False
        self._up = True
        self._accepting = True
        self._idle = threading.Event()

    # Life cycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        for job in self._workers.revive():
            metrics.JOBS_IN_FLIGHT.dec()  # the next tick fails its row as interrupted
            logger.bind(story_id=job.story_id, step="supervise").warning(
                "the worker holding this portrait died while the supervisor was restarting"
            )
        # The first tick runs before any ask is answered, so pending portraits are resumed
        # once status answers. pykka runs no hook when on_start raises: tell the root here.
        try:
            self._keep_house()
            self._dispatch()
        except Exception as error:
            self.on_failure(type(error), error, error.__traceback__)
            raise

    def on_stop(self) -> None:
        self._later.cancel()
        metrics.JOBS_IN_FLIGHT.dec(self._workers.busy)
        self._workers.stop(wait_s=WORKER_STOP_WAIT_S)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Died of an exception: tell the root, which logs it and starts a new supervisor; that
        one takes over the workers, which carry on with their jobs meanwhile."""
        self._later.cancel()
        if self._root is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self._root.tell(
                    ChildFailed(SUPERVISOR_NAME, self.actor_ref, exception_value, traceback)
                )

    # Asked by the system ------------------------------------------------------------------

    def status(self) -> PortraitSideStatus:
        held = self._document.call_holds(self._limits).get(timeout=ASK_TIMEOUT_S)
        longest = max(held, key=wait_of, default=None)
        return PortraitSideStatus(
            up=self._up,
            workers=self._workers.alive,
            busy=self._workers.busy,
            queued=self._document.count_pending().get(timeout=ASK_TIMEOUT_S),
            restarts=self._restarts.restarts,
            held_for_s=0.0 if longest is None else wait_of(longest),
            held=tuple(held),
        )

    def stop_accepting(self) -> threading.Event:
        """Take no new job; the returned event is set once no job is in flight."""
        self._accepting = False
        logger.info("taking no new portraits; {} in flight", self._workers.busy)
        self._update_idle()
        return self._idle

    def interrupt_in_flight(self) -> list[str]:
        """Mark every job still in flight `failed: interrupted`; return their story ids."""
        return self._housekeeping.interrupt(self._workers.jobs())

    # Told by peers and timers -------------------------------------------------------------

    def on_receive(self, message: Any) -> None:
        match message:
            case PortraitRequested():
                self._dispatch()
            case PortraitFinished(slot, generation, story_id):
                # Its calls, retries and holds are in the call ledger already.
                self._finished(self._workers.release(slot, generation, story_id))
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

    def _finished(self, released: bool) -> None:
        if released:
            metrics.JOBS_IN_FLIGHT.dec()
        self._update_idle()
        self._dispatch()

    def _dispatch(self) -> None:
        """Claim pending portraits from the database while a worker is idle.

        Pending rows are the queue, shared by every instance on the database: a claim
        takes the oldest one nobody holds. When none is left, look again after
        `portraits.poll_interval_s` (another instance may insert some); a
        `PortraitRequested` from this instance's StoryActor looks at once. A claim the
        database could not answer is logged and tried again after a growing backoff.
        """
        while self._up and self._accepting:
            slot = self._workers.idle()
            if slot is None:
                return
            try:
                job = self._document.claim_within_limits(
                    self._limits,
                    owner=self._instance,
                    lease_s=self._settings.lease_s,
                    record_call=self._client_factory is not None,
                    deadline=write_deadline(),
                ).get(timeout=ASK_TIMEOUT_S)
            except UNAVAILABLE as error:
                self._dispatch_later(unavailable("claim a portrait", error, self._claim_backoff))
                return
            self._claim_backoff.reset()
            if isinstance(job, Held):
                self._dispatch_later(self._pace.held(job))
                return
            self._pace.resumed()
            if job is None:
                self._dispatch_later(self._pace.nothing_pending())
                return
            self._pace.found_work()
            if not self._workers.hand(slot, job):
                self._worker_never_started(slot, job)
                continue
            self._idle.clear()
            metrics.JOBS_IN_FLIGHT.inc()

    def _dispatch_later(self, delay: float) -> None:
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            self._later.tell_later(delay, Dispatch())

    def _worker_never_started(self, slot: int, job: PortraitJob) -> None:
        """The slot's worker died before it took the job (its start failed): the claim goes
        back to pending (no call was made) and the worker is restarted like a crashed one."""
        self._housekeeping.give_back(job)
        generation = self._workers.generation(slot)
        error = pykka.ActorDeadError("the portrait worker stopped before it took a job")
        self._crashed(WorkerCrashed(slot, generation, None, Step.VALIDATE, error, None))

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
            "portrait worker {} crashed: {}", crash.slot, describe(crash.error)
        )
        if job is not None:
            metrics.JOBS_IN_FLIGHT.dec()
            self._housekeeping.record_crash(job, crash.step, crash.error)
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
        held = [job.story_id for job in self._workers.jobs()]
        next_tick_s = self._housekeeping.tick_or_back_off(held)
        self._later.tell_later(next_tick_s, HousekeepingTick())

    def _update_idle(self) -> None:
        if not self._accepting and self._workers.busy == 0:
            self._idle.set()


class SupervisorProxy(ActorMemberMixin, pykka.ActorProxy[PortraitSupervisor]):
    status = proxy_method(PortraitSupervisor.status)
    stop_accepting = proxy_method(PortraitSupervisor.stop_accepting)
    interrupt_in_flight = proxy_method(PortraitSupervisor.interrupt_in_flight)
