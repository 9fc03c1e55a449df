"""Messages told to the portrait supervisor: frozen dataclasses, one per event; and how long
any ask between actors (or from the system) waits for its answer."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from vignette.records import PortraitJob, Step

# How long an ask waits for its answer before raising pykka.Timeout.
ASK_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class PortraitRequested:
    """A story's portrait is `pending` in the database: dispatch it when a worker is idle."""

    story_id: str


@dataclass(frozen=True, slots=True)
class PortraitFinished:
    """A worker settled its job (stored, failed or skipped) and is idle again."""

    slot: int
    generation: int
    story_id: str
    # A 429's Retry-After: start no Recraft call for this many seconds.
    hold_s: float | None = None
    # Generation requests the job sent (0 when it made no call; more than 1 with retries).
    requests_sent: int = 1


@dataclass(frozen=True, slots=True)
class WorkerCrashed:
    """A worker died on an unexpected exception; `job` is what it held, if anything."""

    slot: int
    generation: int
    job: PortraitJob | None
    step: Step
    error: BaseException | None
    traceback: TracebackType | None


@dataclass(frozen=True, slots=True)
class RestartWorker:
    """The backoff after a crash has passed: start the slot's next worker."""

    slot: int


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Try again to hand queued portraits to idle workers (after a rate-limit wait)."""


@dataclass(frozen=True, slots=True)
class HousekeepingTick:
    """The periodic tick: renew leases, fail portraits of gone instances and stuck ones."""
