"""The limits on starting Recraft calls, shared by every worker of a process: sliding
windows per minute and per hour, and a 429's Retry-After."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from loguru import logger

# The longest pause a Retry-After can impose; a larger one is taken as this.
MAX_HOLD_S = 3600.0


class SlidingWindowLimit:
    """At most `limit` calls in any `window_s` seconds.

    Stricter than a token bucket, whose full bucket plus its refill lets up to twice the
    limit through in one window: Recraft counts images per minute, so this never asks it
    for more than `limit` in any minute.
    """

    def __init__(
        self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._calls: deque[float] = deque()
        self._held_until = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next call may start; 0 if it may start now."""
        now = self._clock()
        while self._calls and self._calls[0] <= now - self._window_s:
            self._calls.popleft()
        wait = max(0.0, self._held_until - now)
        if len(self._calls) >= self._limit:
            wait = max(wait, self._calls[0] + self._window_s - now)
        return wait

    def record(self) -> None:
        """Count a call that starts now."""
        self._calls.append(self._clock())

    def hold_until(self, seconds_from_now: float) -> None:
        """Start no call for this long (a 429's Retry-After)."""
        self._held_until = max(self._held_until, self._clock() + seconds_from_now)


class CallLimits:
    """`portraits.rate_limit_per_minute`, `portraits.max_calls_per_hour` (0: no cap) and
    a 429's Retry-After, as one answer to: how long until the next call may start?"""

    def __init__(self, per_minute: int, per_hour: int = 0) -> None:
        self._per_minute = SlidingWindowLimit(per_minute)
        self._windows = [self._per_minute]
        if per_hour:
            self._windows.append(SlidingWindowLimit(per_hour, window_s=3600))

    def delay(self) -> float:
        """Seconds until the next call may start; 0 if it may start now."""
        return max(window.delay() for window in self._windows)

    def record(self, calls: int = 1) -> None:
        """Count `calls` calls that start now."""
        for _ in range(calls):
            for window in self._windows:
                window.record()

    def hold(self, hold_s: float) -> None:
        """Start no call for `hold_s` seconds (at most `MAX_HOLD_S`): Recraft asked for a pause."""
        hold_s = min(hold_s, MAX_HOLD_S)
        self._per_minute.hold_until(hold_s)
        # The 429 itself was logged with its story; this line is about the portrait side.
        logger.warning(
            "Recraft asked for a pause: no new portrait starts for {:g} s; "
            "queued portraits stay pending",
            hold_s,
        )
