"""The supervisor's worker slots: one PortraitActor per slot, and the job each one holds.

A slot keeps its index for good; each worker started in it gets the next generation, so a
message from a worker that was replaced (a late `PortraitFinished`, a second crash report)
is told apart from its successor's and ignored.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Protocol

import pykka

from vignette.actors.portrait import PortraitActor
from vignette.records import PortraitJob


class StartWorker(Protocol):
    """Starts the worker of a slot and returns its ref."""

    def __call__(self, *, slot: int, generation: int) -> pykka.ActorRef[PortraitActor]: ...


@dataclass
class _Slot:
    ref: pykka.ActorRef[PortraitActor] | None
    generation: int
    job: PortraitJob | None = None


class WorkerSlots:
    """Starts, tracks, restarts and stops the workers; plain state, used from one actor."""

    def __init__(self, count: int, start_worker: StartWorker) -> None:
        self._start_worker = start_worker
        self._slots = [_Slot(start_worker(slot=index, generation=1), 1) for index in range(count)]

    @property
    def alive(self) -> int:
        return sum(slot.ref is not None for slot in self._slots)

    @property
    def busy(self) -> int:
        return sum(slot.job is not None for slot in self._slots)

    def jobs(self) -> list[PortraitJob]:
        """The jobs in flight."""
        return [slot.job for slot in self._slots if slot.job is not None]

    def idle(self) -> int | None:
        """A slot whose worker is running and holds no job, if there is one."""
        return next(
            (
                index
                for index, slot in enumerate(self._slots)
                if slot.ref is not None and slot.job is None
            ),
            None,
        )

    def hand(self, index: int, job: PortraitJob) -> None:
        """Tell an idle slot's worker a job; the slot holds it until released."""
        slot = self._slots[index]
        assert slot.ref is not None, "hand a job only to an idle slot"
        slot.job = job
        slot.ref.tell(job)

    def release(self, index: int, generation: int) -> bool:
        """The worker finished its job: free the slot, unless that worker was replaced."""
        slot = self._slots[index]
        if slot.generation != generation:
            return False
        slot.job = None
        return True

    def vacate(self, index: int, generation: int) -> tuple[bool, PortraitJob | None]:
        """The worker crashed: empty the slot, unless that worker was replaced already.

        Returns whether the crash was this slot's current worker's, and the job it held."""
        slot = self._slots[index]
        if slot.generation != generation:
            return False, None
        job, slot.job, slot.ref = slot.job, None, None
        return True, job

    def restart(self, index: int) -> None:
        """Start the slot's next worker."""
        slot = self._slots[index]
        slot.generation += 1
        slot.ref = self._start_worker(slot=index, generation=slot.generation)

    def stop(self, wait_s: float) -> None:
        """Stop every worker; wait for the idle ones (a busy one may be stuck in a call)."""
        stopping = []
        for slot in self._slots:
            if slot.ref is not None:
                future = slot.ref.stop(block=False)
                if slot.job is None:
                    stopping.append(future)
                slot.ref = None
        for future in stopping:
            with contextlib.suppress(pykka.Timeout):
                future.get(timeout=wait_s)
