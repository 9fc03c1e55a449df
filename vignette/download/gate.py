"""WorkGate: lets a few portraits at a time through their CPU-heavy finish.

When many Recraft answers arrive together, every worker downloads, fsyncs and checks its
image at once, and the threads share the cores (and the GIL) fairly: each finishes only
when nearly all do, and all of them send their next request together again, round after
round. Letting as many through as there are cores makes them finish one after another,
so the next calls, and their answers, are spread out.

A download can also wait on a slow or stalled image host, using no CPU; a permit is
therefore held for at most `hold_s`. After that it no longer counts, and the next worker
goes in, so a slow host delays the others by `hold_s` at most. With downloads that all
wait on the network, the gate still lets `permits / hold_s` start a second (40 with 2
permits and 50 ms), far above the 100 images a minute Recraft allows one account.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator


class WorkGate:
    def __init__(
        self, permits: int, hold_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if permits < 1:
            raise ValueError(f"permits must be at least 1, not {permits}")
        self._permits = permits
        self._hold_s = hold_s
        self._clock = clock
        self._condition = threading.Condition()
        self._held_until: dict[int, float] = {}
        self._tokens = itertools.count()

    @property
    def holders(self) -> int:
        """How many permits count now (held, and held for less than `hold_s`)."""
        with self._condition:
            return self._live(self._clock())

    def _live(self, now: float) -> int:
        for token, until in list(self._held_until.items()):
            if until <= now:
                del self._held_until[token]
        return len(self._held_until)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Wait for a permit, hold it while the block runs (or for `hold_s`), give it back."""
        with self._condition:
            while True:
                now = self._clock()
                if self._live(now) < self._permits:
                    break
                self._condition.wait(timeout=min(self._held_until.values()) - now)
            token = next(self._tokens)
            self._held_until[token] = now + self._hold_s
        try:
            yield
        finally:
            with self._condition:
                if self._held_until.pop(token, None) is not None:
                    self._condition.notify()
