"""What a running StorySystem owes the process it is a guest in: it is the only one, and it
never keeps the process from exiting.

One system per process: the database proxy, the metrics and the instance id are the
process's, so a second `StorySystem.start` while one runs raises `SystemAlreadyRunning`.
Starting again after a stop is fine.

The actors run on daemon threads, so a host that returns without `stop()` is not kept alive
by them; an `atexit` hook (which runs once the host's own threads are done) then stops the
system with a short grace, so in-flight portraits are failed as `interrupted`, never left
`generating` until their lease runs out.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from loguru import logger

from vignette.errors import SystemAlreadyRunning

# How long in-flight portraits get to finish when the interpreter exits without stop().
EXIT_GRACE_S = 2.0


class Stoppable(Protocol):
    @property
    def running(self) -> bool: ...

    def stop(self, grace_s: float | None = None) -> None: ...


_lock = threading.Lock()
_current: Stoppable | None = None  # the last system started (it may be stopped)
_hooked = False


def _running() -> Stoppable | None:
    return _current if _current is not None and _current.running else None


@contextlib.contextmanager
def sole_system() -> Iterator[Callable[[Stoppable], None]]:
    """Hold the process's one place for a system while the block starts one.

    Raises `SystemAlreadyRunning` when a system is running; the block calls the function it
    gets with the system it started, which is then stopped at exit unless stopped before.
    """
    global _hooked
    with _lock:
        if _running() is not None:
            raise SystemAlreadyRunning(
                "a StorySystem is already running in this process: stop it before starting "
                "another (the database connection and metrics are the process's)"
            )

        def register(system: Stoppable) -> None:
            global _current
            _current = system

        yield register
        if not _hooked:
            atexit.register(stop_at_exit)
            _hooked = True


def stop_at_exit() -> None:
    """Stop the running system, if the host did not: `atexit` calls this."""
    with _lock:
        system = _running()
    if system is None:
        return
    logger.warning("the interpreter is exiting without StorySystem.stop(): stopping now")
    system.stop(grace_s=EXIT_GRACE_S)
