"""The DocumentActor's messages for the Recraft call ledger and holds
(`vignette/models/ledger.py`): run in its thread, on its connection, like the others."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vignette.models import Database, calls, ledger
from vignette.records import PortraitJob


class CallRecords:
    """Mixed into the DocumentActor."""

    _db: Database
    _on_change: Callable[[Sequence[str]], None]

    def claim_within_limits(
        self,
        limits: ledger.Limits,
        owner: str,
        lease_s: float,
        record_call: bool = True,
        deadline: float | None = None,
    ) -> PortraitJob | ledger.Held | None:
        """Claim and record the first call if the limits allow; `Held` says why not."""
        job = ledger.claim_within_limits(self._db, limits, owner, lease_s, record_call, deadline)
        if isinstance(job, PortraitJob):
            self._on_change([job.story_id])
        return job

    def admit_call(
        self,
        job: PortraitJob,
        call: int,
        owner: str,
        limits: ledger.Limits,
        deadline: float | None = None,
    ) -> ledger.Held | None:
        return ledger.admit_call(self._db, job, call, owner, limits, deadline)

    def record_call_outcome(
        self, job: PortraitJob, call: int, outcome: str, credits: int | None
    ) -> bool:
        return ledger.record_outcome(self._db, job, call, outcome, credits)

    def set_hold(
        self, reason: ledger.HoldReason, hold_s: float | None, detail: str, owner: str
    ) -> ledger.Held:
        return ledger.set_hold(self._db, reason, hold_s, detail, owner)

    def clear_holds(self, reason: ledger.HoldReason | None = None) -> int:
        return ledger.clear_holds(self._db, reason)

    def call_holds(self, limits: ledger.Limits | None) -> list[ledger.Held]:
        return ledger.holds(self._db, limits)

    def call_usage(self) -> calls.Usage:
        return calls.usage(self._db)
