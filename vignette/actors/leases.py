"""The supervisor's housekeeping: this instance's leases, and the portraits nobody will finish.

Each tick renews the leases of the portraits this instance is generating, fails as
`interrupted` those whose lease ran out or whose owner is a dead process on this host, and
fails as `timeout` those generating for longer than `portraits.job_timeout_s`.
"""

from __future__ import annotations

import time

from loguru import logger

from vignette import metrics
from vignette.actors.document import DocumentProxy
from vignette.actors.messages import ASK_TIMEOUT_S, STATEMENT_MARGIN_S
from vignette.actors.owed import OwedWrites
from vignette.actors.retry import DATABASE_BACKOFF_CAP_S, UNAVAILABLE, Backoff, unavailable
from vignette.config import PortraitSettings
from vignette.errors import describe
from vignette.records import PortraitErrorCode, PortraitJob, PortraitStatus, Step

# The longest time between two ticks.
MAX_PERIOD_S = 30.0
# How long after stop() asks them the interrupted portraits may still be recorded: a
# database that is gone must not hold stop() up.
INTERRUPT_DEADLINE_S = 2.0


class Housekeeping:
    """Renews, expires and times out claims through the DocumentActor, once per tick."""

    def __init__(
        self,
        document: DocumentProxy,
        instance: str,
        settings: PortraitSettings,
    ) -> None:
        self._document = document
        self._instance = instance
        self._settings = settings
        # Writes the database could not take when they were due, made before each tick.
        self._owed = OwedWrites()
        self._backoff = Backoff(first_s=0.1, cap_s=DATABASE_BACKOFF_CAP_S)

    @property
    def period_s(self) -> float:
        """How often to tick: well within a lease and within the job timeout."""
        settings = self._settings
        return min(settings.lease_s / 3, settings.job_timeout_s / 4, MAX_PERIOD_S)

    def record_crash(self, job: PortraitJob, step: Step, error: BaseException | None) -> None:
        """Fail a crashed worker's story `crashed` (counted once it lands), now or later."""
        message = (
            f"{PortraitErrorCode.CRASHED}: the portrait worker crashed at step {step}: "
            f"{type(error).__name__}"
        )
        self._owed.add(
            f"record the crash of story {job.story_id}'s portrait",
            lambda deadline: self._document.fail_portrait(
                job, PortraitStatus.FAILED, message, deadline=deadline
            ),
            on_done=lambda: metrics.portrait_ended(
                PortraitStatus.FAILED, PortraitErrorCode.CRASHED
            ),
        )

    def give_back(self, job: PortraitJob) -> None:
        """Make a claim no worker received pending again (no call was made), now or later."""
        self._owed.add(
            f"give back the claim of story {job.story_id}",
            lambda deadline: self._document.unclaim(job),
        )

    def interrupt(self, jobs: list[PortraitJob]) -> list[str]:
        """Mark jobs still in flight at shutdown `failed: interrupted`; return their story ids.

        A job the database cannot take now is left to its lease: the next start (of any
        instance) fails it as interrupted."""
        interrupted = []
        error = (
            f"{PortraitErrorCode.INTERRUPTED}: Vignette stopped before the portrait was finished"
        )
        deadline = time.monotonic() + INTERRUPT_DEADLINE_S
        for job in jobs:
            log = logger.bind(story_id=job.story_id, step="shutdown")
            try:
                settled = self._document.fail_portrait(
                    job, PortraitStatus.FAILED, error, deadline=deadline
                ).get(timeout=max(0.0, deadline - time.monotonic()) + STATEMENT_MARGIN_S)
            except UNAVAILABLE as failure:
                log.warning("could not mark the portrait interrupted: {}", describe(failure))
                continue
            if settled:
                interrupted.append(job.story_id)
                metrics.portrait_ended(PortraitStatus.FAILED, PortraitErrorCode.INTERRUPTED)
                log.warning("portrait interrupted by shutdown after the grace period")
        return interrupted

    def tick_or_back_off(self, held: list[str]) -> float:
        """Make the writes still owed, then tick; the seconds until the next tick: the
        period, or sooner (backing off) after a database failure, which is logged."""
        try:
            self._owed.settle()
            self.tick(held)
        except UNAVAILABLE as error:
            return min(self.period_s, unavailable("keep house", error, self._backoff))
        self._backoff.reset()
        return self.period_s

    def tick(self, held: list[str]) -> None:
        """Renew this instance's leases (if it holds any), fail its claims no worker holds
        (left by a crash of the supervisor), portraits of gone instances and stuck ones.

        `held` names the stories this instance's workers hold."""
        document, settings = self._document, self._settings
        # Alive for one lease more: other instances take this one's claims back only after.
        document.beat(self._instance, settings.lease_s).get(timeout=ASK_TIMEOUT_S)
        if held:
            document.renew_leases(self._instance, settings.lease_s).get(timeout=ASK_TIMEOUT_S)
        orphans = document.fail_orphans(
            self._instance,
            held,
            f"{PortraitErrorCode.INTERRUPTED}: the portrait's worker was lost in a restart; "
            "it is not requested again (regenerate it to retry)",
        ).get(timeout=ASK_TIMEOUT_S)
        for story_id in orphans:
            metrics.portrait_ended(PortraitStatus.FAILED, PortraitErrorCode.INTERRUPTED)
            logger.bind(story_id=story_id, step="recover").warning(
                "portrait interrupted: no worker of this instance holds its claim"
            )
        interrupted = document.expire_leases(
            f"{PortraitErrorCode.INTERRUPTED}: the instance making the portrait stopped or "
            "crashed; it is not requested again (regenerate it to retry)",
        ).get(timeout=ASK_TIMEOUT_S)
        for story_id in interrupted:
            metrics.portrait_ended(PortraitStatus.FAILED, PortraitErrorCode.INTERRUPTED)
            logger.bind(story_id=story_id, step="recover").warning(
                "portrait interrupted: its instance is gone; marked failed, not requested again"
            )
        error = (
            f"{PortraitErrorCode.TIMEOUT}: still generating after "
            f"portraits.job_timeout_s = {settings.job_timeout_s:g} s"
        )
        for story_id in document.fail_stale(error, settings.job_timeout_s).get(
            timeout=ASK_TIMEOUT_S
        ):
            logger.bind(story_id=story_id, step="watchdog").error("portrait timed out: {}", error)
            metrics.portrait_ended(PortraitStatus.FAILED, PortraitErrorCode.TIMEOUT)
        # What the whole account spent, from the call ledger, for /metrics.
        usage = document.call_usage().get(timeout=ASK_TIMEOUT_S)
        metrics.account_usage(
            usage.calls_hour, usage.credits_hour, usage.calls_day, usage.credits_day
        )
