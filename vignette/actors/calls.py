"""This instance's face of the Recraft call ledger (`vignette/models/ledger.py`).

The supervisor records a claim's first call in the claim's own transaction. A worker's
retries go through a `LedgerGate`, which the Recraft client asks before each retry: the
retry is recorded in the ledger, in the transaction that checks the rate limit, the budget
and the holds, or it is not sent. The gate also writes each call's outcome and credits, and
the holds Recraft asks for (a 429's Retry-After, a 402 "not enough credits"), which every
instance then respects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from loguru import logger

from vignette import metrics
from vignette.actors.document import DocumentProxy
from vignette.actors.messages import ASK_TIMEOUT_S, write_deadline
from vignette.actors.retry import UNAVAILABLE
from vignette.errors import describe
from vignette.models.ledger import Held, HoldReason, Limits
from vignette.records import PortraitJob
from vignette.recraft.client import RETRY_CAP_S
from vignette.recraft.gate import CallOutcome

if TYPE_CHECKING:
    from loguru import Logger

# The longest pause a Retry-After can impose; a larger one is taken as this.
MAX_HOLD_S = 3600.0


def hold_text(held: Held) -> str:
    """A hold in a few words, for logs, refusals, `status` and `/healthz`."""
    if held.wait_s is None:
        return f"{held.reason}: {held.detail} (until an operator runs `vignette holds clear`)"
    return f"{held.reason}: {held.detail} (for {held.wait_s:.1f} s more)"


class CallLedger:
    """What every worker of this instance needs to use the ledger: the DocumentActor, this
    instance's id and the limits."""

    def __init__(self, document: DocumentProxy, instance: str, limits: Limits) -> None:
        self.document = document
        self.instance = instance
        self.limits = limits

    def gate(self, job: PortraitJob, log: Logger) -> LedgerGate:
        return LedgerGate(self, job, log)

    def hold(self, reason: HoldReason, hold_s: float | None, detail: str) -> None:
        """Write a hold every instance respects; a database failure is logged, not raised."""
        if hold_s is not None:
            hold_s = min(hold_s, MAX_HOLD_S)
        try:
            held = self.document.set_hold(reason, hold_s, detail, self.instance).get(
                timeout=ASK_TIMEOUT_S
            )
        except UNAVAILABLE as error:
            logger.bind(step="request", cause=describe(error)).warning(
                "could not record Recraft's pause for the other instances: {}", describe(error)
            )
            return
        logger.bind(step="request").warning(
            "Recraft asked for a pause: no instance starts a portrait: {}; queued portraits "
            "stay pending",
            hold_text(held),
        )


class LedgerGate:
    """The `CallGate` of one claimed portrait (see `vignette/recraft/gate.py`)."""

    def __init__(
        self,
        ledger: CallLedger,
        job: PortraitJob,
        log: Logger,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ledger = ledger
        self._job = job
        self._log = log
        self._sleep = sleep

    def admit(self, call: int) -> str | None:
        """Record retry `call` in the ledger; wait out a hold shorter than `RETRY_CAP_S`."""
        ledger = self._ledger
        waited = 0.0
        while True:
            try:
                held = ledger.document.admit_call(
                    self._job, call, ledger.instance, ledger.limits, deadline=write_deadline()
                ).get(timeout=ASK_TIMEOUT_S)
            except UNAVAILABLE as error:
                return f"the call ledger could not be written: {describe(error)}"
            if held is None:
                return None
            if held.wait_s is None or waited + held.wait_s > RETRY_CAP_S:
                return hold_text(held)
            self._sleep(held.wait_s)
            waited += held.wait_s

    def answered(self, outcome: CallOutcome) -> None:
        ledger = self._ledger
        if outcome.credits is not None:
            metrics.RECRAFT_CREDITS.inc(outcome.credits)
        try:
            ledger.document.record_call_outcome(
                self._job, outcome.call, outcome.outcome, outcome.credits
            ).get(timeout=ASK_TIMEOUT_S)
        except UNAVAILABLE as error:
            self._log.bind(cause=describe(error)).warning(
                "could not write call {}'s outcome to the call ledger", outcome.call
            )
        if outcome.retry_after_s is not None:
            ledger.hold(HoldReason.RETRY_AFTER, outcome.retry_after_s, outcome.detail)
        if outcome.no_credits:
            ledger.hold(HoldReason.NOT_ENOUGH_CREDITS, None, outcome.detail)
