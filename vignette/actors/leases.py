"""The supervisor's housekeeping: this instance's leases, and the portraits nobody will finish.

Each tick renews the leases of the portraits this instance is generating, fails as
`interrupted` those whose lease ran out or whose owner is a dead process on this host, and
fails as `timeout` those generating for longer than `portraits.job_timeout_s`.
"""

from __future__ import annotations

from loguru import logger

from vignette import metrics
from vignette.actors.document import DocumentProxy
from vignette.actors.messages import ASK_TIMEOUT_S
from vignette.config import PortraitSettings
from vignette.instance import owner_is_dead
from vignette.records import PortraitErrorCode, PortraitStatus

# The longest time between two ticks.
MAX_PERIOD_S = 30.0


class Housekeeping:
    """Renews, expires and times out claims through the DocumentActor, once per tick."""

    def __init__(self, document: DocumentProxy, instance: str, settings: PortraitSettings) -> None:
        self._document = document
        self._instance = instance
        self._settings = settings

    @property
    def period_s(self) -> float:
        """How often to tick: well within a lease and within the job timeout."""
        settings = self._settings
        return min(settings.lease_s / 3, settings.job_timeout_s / 4, MAX_PERIOD_S)

    def tick(self, holding_claims: bool) -> None:
        """Renew this instance's leases (if it holds any), fail portraits of gone instances
        and stuck ones."""
        document, settings = self._document, self._settings
        if holding_claims:
            document.renew_leases(self._instance, settings.lease_s).get(timeout=ASK_TIMEOUT_S)
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
            f"portraits.job_timeout_s = {settings.job_timeout_s:g} s"
        )
        for story_id in document.fail_stale(error, settings.job_timeout_s).get(
            timeout=ASK_TIMEOUT_S
        ):
            logger.bind(story_id=story_id, step="watchdog").error("portrait timed out: {}", error)
            metrics.portrait_ended(PortraitStatus.FAILED, PortraitErrorCode.TIMEOUT)
