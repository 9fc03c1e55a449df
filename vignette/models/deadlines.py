"""Writes that cannot outlive their caller: a deadline checked before and inside a write."""

from __future__ import annotations

import time

from vignette.errors import DeadlineExpired


def check_deadline(deadline: float | None, what: str) -> None:
    """Raise `DeadlineExpired` once `deadline` (a `time.monotonic()` value) has passed.

    Checked before a write starts and again before its transaction commits, so a write
    whose caller stopped waiting is refused, or rolled back, instead of landing later.
    """
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExpired(f"{what} came after its caller's deadline; nothing was written")
