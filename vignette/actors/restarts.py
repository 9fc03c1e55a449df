"""When a crashed portrait worker is started again, and when the portrait side gives up.

One-for-one restarts after a jittered, growing backoff, at most `portraits.max_restarts`
within `portraits.restart_window_s`; one crash more and the portrait side goes down.
"""

from __future__ import annotations

import random
import time
from collections import deque

from vignette.config import PortraitSettings

# The first restart's backoff ceiling; it doubles with each crash in the window.
RESTART_BACKOFF_BASE_S = 0.01


class RestartPolicy:
    """Counts crashes in a sliding window and says how long to wait before each restart."""

    def __init__(self, settings: PortraitSettings) -> None:
        self._settings = settings
        self._crashes: deque[float] = deque()
        self.restarts = 0

    def restart_delay(self) -> float | None:
        """Count a crash; the seconds to wait before restarting its worker, or None when
        crashes came too often and the portrait side should go down."""
        settings = self._settings
        now = time.monotonic()
        while self._crashes and self._crashes[0] <= now - settings.restart_window_s:
            self._crashes.popleft()
        if len(self._crashes) >= settings.max_restarts:
            return None
        self._crashes.append(now)
        self.restarts += 1
        recent = len(self._crashes)
        ceiling = min(settings.restart_backoff_s, RESTART_BACKOFF_BASE_S * 2 ** min(recent, 20))
        return random.uniform(0, ceiling)

    def giving_up(self, what: str = "portrait workers") -> str:
        """Why the portrait side went down, for the critical log line."""
        return (
            f"{what} crashed more than {self._settings.max_restarts} times in "
            f"{self._settings.restart_window_s:g} s: the portrait side is stopped; stories are "
            "still created and their portraits stay pending until the next start"
        )
