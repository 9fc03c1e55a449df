"""When to try a webhook again: the configured schedule with jitter, or the receiver's
`Retry-After` on 429, 502, 503 and 504."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Answers whose Retry-After is honoured (the specification's list).
RETRY_AFTER_STATUSES = frozenset({429, 502, 503, 504})
# A Retry-After longer than this is read as this (a day, the schedule's longest wait).
MAX_RETRY_AFTER_S = 86_400.0
# Each wait is the schedule's, times a random factor from 1 - JITTER to 1 + JITTER.
JITTER = 0.1


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_S)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    wait = (moment - (now or datetime.now(UTC))).total_seconds()
    return min(max(wait, 0.0), MAX_RETRY_AFTER_S)


def next_delay_s(delays: Sequence[float], attempt: int) -> float | None:
    """The wait after failed attempt number `attempt` (1 = the first), with jitter; None
    once the schedule is spent (the event has failed)."""
    if attempt > len(delays):
        return None
    base = delays[attempt - 1]
    return base * random.uniform(1 - JITTER, 1 + JITTER)
