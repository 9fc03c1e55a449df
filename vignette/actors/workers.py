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

from vignette.actors.messages import ReportLastJob
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

    def revive(self) -> list[PortraitJob]:
        """Start a worker in every slot whose worker died unreported (while the supervisor
        was being restarted, or in its own start); return the jobs those workers held."""
        lost = []
        for index, slot in enumerate(self._slots):
            if slot.ref is None or not slot.ref.is_alive():
                if slot.job is not None:
                    lost.append(slot.job)
                slot.job = None
                self.restart(index)
            elif slot.job is not None:
                # It may have finished while nobody listened: ask it to say so again (after
                # its job, if it is still on it).
                slot.ref.tell(ReportLastJob())
        return lost

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

    def generation(self, index: int) -> int:
        return self._slots[index].generation

    def hand(self, index: int, job: PortraitJob) -> bool:
        """Tell an idle slot's worker a job; the slot holds it until released. False if the
        worker is dead (its start failed): then the slot holds nothing."""
        slot = self._slots[index]
        assert slot.ref is not None, "hand a job only to an idle slot"
        try:
            slot.ref.tell(job)
        except pykka.ActorDeadError:
            return False
        slot.job = job
        return True

    def release(self, index: int, generation: int, story_id: str) -> bool:
        """The worker finished its job: free the slot, unless that worker was replaced or
        the slot holds another job already."""
        slot = self._slots[index]
        if slot.generation != generation or slot.job is None or slot.job.story_id != story_id:
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
