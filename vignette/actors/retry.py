"""Database calls tried again after a failure that passes: a lock held by another writer, a
lost connection, a server restarting. Every write carries a deadline, so a try the caller
gave up on never lands later; a conditional write tried twice changes the row once."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import pykka
from loguru import logger

from vignette import metrics
from vignette.actors.messages import STATEMENT_MARGIN_S
from vignette.errors import DeadlineExpired, describe
from vignette.models import DATABASE_ERRORS

if TYPE_CHECKING:
    from loguru import Logger

T = TypeVar("T")

# What a database call may fail with for a while and then succeed: a lock, a lost or
# refused connection, an answer that came too late.
UNAVAILABLE: tuple[type[Exception], ...] = (*DATABASE_ERRORS, pykka.Timeout, DeadlineExpired)


# The longest wait between two tries of a claim or a tick the database did not answer.
DATABASE_BACKOFF_CAP_S = 2.0


class Backoff:
    """Growing waits with jitter: half the ceiling plus up to half again; the ceiling
    doubles from `first_s` up to `cap_s`."""

    def __init__(self, first_s: float = 0.05, cap_s: float = 5.0) -> None:
        self._first_s = first_s
        self._cap_s = cap_s
        self._failures = 0

    @property
    def failures(self) -> int:
        return self._failures

    def reset(self) -> None:
        self._failures = 0

    def next(self) -> float:
        ceiling: float = min(self._cap_s, self._first_s * 2.0 ** min(self._failures, 30))
        self._failures += 1
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def retrying(ask: Callable[[float], pykka.Future[T]], *, until: float, what: str, log: Logger) -> T:
    """Ask `ask(deadline)` until it answers, backing off after each failure that may pass;
    the last failure goes on once `until` (a `time.monotonic()` value) would be passed."""
    backoff = Backoff()
    while True:
        try:
            return ask(until).get(timeout=max(0.0, until - time.monotonic()) + STATEMENT_MARGIN_S)
        except UNAVAILABLE as error:
            wait = backoff.next()
            if time.monotonic() + wait >= until:
                raise
            log.bind(cause=describe(error)).warning(
                "could not {}: {}; trying again in {:.2f} s", what, describe(error), wait
            )
            metrics.DATABASE_RETRIES.labels(what).inc()
            time.sleep(wait)


def unavailable(what: str, error: Exception, backoff: Backoff) -> float:
    """Log a database call that failed and count it; how long to wait before the next try."""
    delay = backoff.next()
    logger.bind(step="supervise", cause=describe(error)).warning(
        "could not {} ({} failure in a row): {}; trying again in {:.2f} s",
        what,
        backoff.failures,
        describe(error),
        delay,
    )
    metrics.DATABASE_RETRIES.labels(what).inc()
    return delay
