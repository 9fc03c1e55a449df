"""Waiting, without sleeping, for the supervisor to have heard from its workers."""

from __future__ import annotations

import time

from vignette.actors.messages import PortraitSideStatus
from vignette.system.facade import StorySystem


def no_job_in_flight(system: StorySystem, timeout: float = 20.0) -> PortraitSideStatus:
    """The portrait side once every worker has reported its job finished.

    A worker settles its story first and then reports to the supervisor (with a 429's hold
    and the requests it sent), so a test woken by the story can get ahead of the report.
    Each status ask waits in the supervisor's mailbox behind the reports already there.
    """
    deadline = time.monotonic() + timeout
    while (side := system.portrait_side()).busy:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{side.busy} portrait jobs still in flight after {timeout:g} s")
    return side
