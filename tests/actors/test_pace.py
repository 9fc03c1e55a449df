"""When the dispatcher looks at the queue again: after a hold, soon while work is likely
(SQLite, without notifications), or at the poll interval."""

from __future__ import annotations

from vignette import metrics
from vignette.actors.pace import HOLD_RECHECK_S, Pace
from vignette.models.ledger import Held, HoldReason


def test_without_notifications_the_queue_is_looked_at_soon_after_work_was_found() -> None:
    pace = Pace(poll_interval_s=2.0, busy_poll_s=0.25)

    assert pace.nothing_pending() == 2.0
    pace.found_work()
    assert pace.nothing_pending() == 0.25


def test_with_notifications_the_poll_interval_stays() -> None:
    pace = Pace(poll_interval_s=2.0, busy_poll_s=None)
    pace.found_work()

    assert pace.nothing_pending() == 2.0


def test_a_hold_is_looked_at_again_when_it_ends_or_within_seconds() -> None:
    pace = Pace(poll_interval_s=2.0, busy_poll_s=None)
    short = Held(HoldReason.RATE_LIMIT, "12 calls", 1.5, None)
    until_cleared = Held(HoldReason.NOT_ENOUGH_CREDITS, "402", None, None)

    assert pace.held(short) == 1.5
    assert pace.held(until_cleared) == HOLD_RECHECK_S
    held_by = metrics.REGISTRY.get_sample_value(
        "vignette_recraft_calls_held_by", {"reason": "not_enough_credits"}
    )
    assert held_by == 1.0
    until = metrics.REGISTRY.get_sample_value("vignette_recraft_calls_held_until_timestamp_seconds")
    assert until == float("inf")
    pace.resumed()
    assert metrics.REGISTRY.get_sample_value("vignette_recraft_calls_held_seconds") == 0.0
