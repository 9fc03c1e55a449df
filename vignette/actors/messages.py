"""Messages told to the portrait supervisor: frozen dataclasses, one per event; and how long
any ask between actors (or from the system) waits for its answer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from vignette.models.ledger import Held
from vignette.records import PortraitJob, Step

# How long an ask waits for its answer before raising pykka.Timeout.
ASK_TIMEOUT_S = 60.0
# A write carries a deadline this long before its caller's wait ends: more than the longest
# a statement may take (SQLite's busy_timeout, PostgreSQL's connect and statement timeouts),
# so a write still queued at its deadline is refused, and one under way ends while its caller
# still waits. A write never lands after its caller gave up.
STATEMENT_MARGIN_S = 20.0


def write_deadline(budget_s: float = ASK_TIMEOUT_S) -> float:
    """The deadline (a `time.monotonic()` value) for a write whose caller waits `budget_s`."""
    return time.monotonic() + budget_s - STATEMENT_MARGIN_S


class Teller(Protocol):
    """An actor's stable address: `tell` raises `pykka.ActorDeadError` when none runs."""

    def tell(self, message: object) -> None: ...


@dataclass(frozen=True, slots=True)
class PortraitSideStatus:
    """What the supervisor answers `status` with."""

    up: bool
    workers: int
    busy: int
    queued: int
    restarts: int
    # Seconds until the next Recraft call may start (rate limit, Retry-After, budget cap;
    # infinity: until an operator clears a hold), and every hold in place, for every instance.
    held_for_s: float = 0.0
    held: tuple[Held, ...] = ()


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
    # Sent again for a restarted supervisor, which may not have heard it the first time.
    resent: bool = False


@dataclass(frozen=True, slots=True)
class ReportLastJob:
    """Told to a worker by a restarted supervisor: tell me again how your last job ended."""


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
