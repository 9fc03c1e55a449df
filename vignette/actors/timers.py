"""Messages an actor tells itself later: a timer thread per message, all cancelled at stop."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pykka


class DelayedTells:
    """Tells `ref` a message after a delay (a backoff, a poll, the next tick)."""

    def __init__(self, ref: pykka.ActorRef[Any]) -> None:
        self._ref = ref
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()

    def tell_later(self, delay: float, message: object) -> None:
        """Tell the actor `message` after `delay` seconds, from a timer thread."""

        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            with contextlib.suppress(pykka.ActorDeadError):  # stopped meanwhile
                self._ref.tell(message)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def cancel(self) -> None:
        """Cancel every message not yet told."""
        with self._lock:
            timers, self._timers = list(self._timers), set()
        for timer in timers:
            timer.cancel()
