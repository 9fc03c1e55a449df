"""A sliding-window limit on Recraft calls, shared by every worker of a process."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


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
