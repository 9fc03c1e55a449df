"""A change counter that lets threads wait for a story's state to move, without polling."""

from __future__ import annotations

import threading


class ChangeFeed:
    """Counts story changes; `wait_after(seen, timeout)` returns when the count passes `seen`."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._count = 0

    @property
    def count(self) -> int:
        with self._condition:
            return self._count

    def notify(self) -> None:
        with self._condition:
            self._count += 1
            self._condition.notify_all()

    def wait_after(self, seen: int, timeout: float) -> int:
        """Wait up to `timeout` seconds for the count to pass `seen`; return the count."""
        with self._condition:
            self._condition.wait_for(lambda: self._count != seen, timeout=timeout)
            return self._count
