"""When the portrait dispatcher looks at the queue again: when a hold ends (or sooner, as an
operator may clear it), soon while work is likely (without notifications, on SQLite), or
after `portraits.poll_interval_s`."""

from __future__ import annotations

import time

from loguru import logger

from vignette import metrics
from vignette.actors.calls import hold_text
from vignette.models.ledger import Held

# A hold is looked at again after at most this long: an operator may clear it meanwhile.
HOLD_RECHECK_S = 5.0
# Without notifications (SQLite): for this long after a claim found work, more is likely,
# and the queue is looked at every `busy_poll_s` instead of every `poll_interval_s`.
BUSY_WINDOW_S = 10.0
BUSY_POLL_S = 0.25


def wait_of(held: Held) -> float:
    """Seconds a hold lasts; infinity when it lasts until an operator clears it."""
    return float("inf") if held.wait_s is None else held.wait_s


class Pace:
    """The dispatcher's next look, and the hold it last met (logged once, shown in metrics)."""

    def __init__(self, poll_interval_s: float, busy_poll_s: float | None) -> None:
        self._poll_interval_s = poll_interval_s
        self._busy_poll_s = busy_poll_s
        self._last_work = float("-inf")
        self._held: Held | None = None

    def found_work(self) -> None:
        self._last_work = time.monotonic()

    def nothing_pending(self) -> float:
        """The wait before the next look when the queue was empty."""
        recent = time.monotonic() - self._last_work < BUSY_WINDOW_S
        if self._busy_poll_s is not None and recent:
            return min(self._poll_interval_s, self._busy_poll_s)
        return self._poll_interval_s

    def held(self, held: Held) -> float:
        """No call may start: the wait before the next look."""
        wait = wait_of(held)
        metrics.calls_held(held.reason, wait, held.until)
        if self._held is None or self._held.reason != held.reason:
            logger.bind(step="claim").info("portrait calls held: {}", hold_text(held))
        self._held = held
        return min(wait, HOLD_RECHECK_S)

    def resumed(self) -> None:
        if self._held is not None:
            logger.bind(step="claim").info("portrait calls resume: no hold is in place")
            self._held = None
            metrics.calls_held(None, 0.0)
