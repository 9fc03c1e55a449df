"""What the Recraft client asks before each retry and tells after each call.

The client knows nothing of the database; the portrait worker hands it a `CallGate` that
records a retry in the call ledger before it is sent (or says why it may not be), and
writes each call's outcome, its credits and any pause Recraft asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One generation call's end: `ok`, `http_<status>` or `error` (no answer)."""

    call: int  # 1: the claim's first request; 2, 3...: its retries
    outcome: str
    credits: int | None = None
    # A 429's Retry-After, in seconds.
    retry_after_s: float | None = None
    # Recraft said the account has not enough credits (a 402 or `not_enough_credits`).
    no_credits: bool = False
    detail: str = ""


class CallGate(Protocol):
    def admit(self, call: int) -> str | None:
        """Record retry number `call` before it is sent: None when it may be sent now
        (after waiting a short hold out), else why it may not."""

    def answered(self, outcome: CallOutcome) -> None:
        """Record how a call ended."""


def answer_credits(body: Any) -> int | None:
    """The `credits` of Recraft's answer (rounded to a whole number), when it is a number."""
    credits = body.get("credits") if isinstance(body, dict) else None
    if isinstance(credits, bool) or not isinstance(credits, int | float):
        return None
    if credits < 0 or credits != credits or credits == float("inf"):  # negative, NaN, inf
        return None
    return round(credits)
