"""WorkGate: at most `permits` holders at once, each counted for at most `hold_s`."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from vignette.download.gate import WorkGate

TIMEOUT = 10


class Holder:
    """A thread that takes a slot of the gate and keeps it until told to leave."""

    def __init__(self, gate: WorkGate) -> None:
        self.entered = threading.Event()
        self.leave = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(gate,), daemon=True)
        self._thread.start()

    def _run(self, gate: WorkGate) -> None:
        with gate.slot():
            self.entered.set()
            self.leave.wait(TIMEOUT)

    def finish(self) -> None:
        self.leave.set()
        self._thread.join(TIMEOUT)


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.finish()


def test_no_more_than_the_permits_hold_the_gate_at_once(holders: list[Holder]) -> None:
    gate = WorkGate(permits=2, hold_s=TIMEOUT * 2)
    holders += [Holder(gate), Holder(gate)]
    assert all(holder.entered.wait(TIMEOUT) for holder in holders)
    third = Holder(gate)
    holders.append(third)

    assert not third.entered.wait(0.2)
    assert gate.holders == 2

    holders[0].finish()
    assert third.entered.wait(TIMEOUT)
    assert gate.holders == 2


def test_a_permit_held_past_hold_s_lets_the_next_worker_in(holders: list[Holder]) -> None:
    gate = WorkGate(permits=1, hold_s=0.05)
    stalled = Holder(gate)  # never leaves on its own, like a download from a stalled host
    holders.append(stalled)
    assert stalled.entered.wait(TIMEOUT)

    second = Holder(gate)
    holders.append(second)

    assert second.entered.wait(TIMEOUT)
    assert not stalled.leave.is_set()


def test_a_late_release_frees_no_extra_permit(holders: list[Holder]) -> None:
    now = [0.0]
    gate = WorkGate(permits=1, hold_s=1.0, clock=lambda: now[0])
    first = Holder(gate)
    holders.append(first)
    assert first.entered.wait(TIMEOUT)
    now[0] = 5.0  # the first permit has expired: the next one counts alone
    second = Holder(gate)
    holders.append(second)
    assert second.entered.wait(TIMEOUT)

    first.finish()  # its permit no longer counted; giving it back frees nothing
    third = Holder(gate)
    holders.append(third)

    assert not third.entered.wait(0.2)
    assert gate.holders == 1


def test_a_gate_needs_a_permit() -> None:
    with pytest.raises(ValueError, match="permits must be at least 1"):
        WorkGate(permits=0, hold_s=1.0)
