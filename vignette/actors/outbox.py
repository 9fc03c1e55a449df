"""The webhook outbox as the DocumentActor writes it: an event goes into the transaction
of the change it reports (a portrait settled, a story deleted), and once that commits the
dispatcher (`webhooks.py`) is woken. No crash can lose an event or invent one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from vignette.actors.root import Address
from vignette.models import Database, outbox, stories


@dataclass(frozen=True, slots=True)
class DeliverDue:
    """Look for due events now."""


class Wakeup:
    """Tells the dispatcher running now `DeliverDue`, at most one at a time in its inbox."""

    def __init__(self, address: Address[Any]) -> None:
        self._address = address
        self._lock = threading.Lock()
        self._queued = False

    def __call__(self) -> None:
        with self._lock:
            if self._queued:
                return
            self._queued = True
        try:
            self._address.tell(DeliverDue())
        except pykka.ActorDeadError:  # restarting: its start looks anyway
            self.taken()

    def taken(self) -> None:
        with self._lock:
            self._queued = False


@dataclass(frozen=True, slots=True)
class EventOutbox:
    """Which webhook events to write with the changes they report, and whom to wake."""

    types: frozenset[str]
    wake: Callable[[], None]

    def settling(self, db: Database, write: Callable[[], list[str]]) -> list[str]:
        """Run a write that settles portraits (returning their story ids) and write their
        events in the same transaction."""
        with db.atomic():
            story_ids = write()
            recorded = outbox.record_settled(db, story_ids, self.types)
        if recorded:
            self.wake()
        return story_ids

    def deleting(self, db: Database, story_id: str, deadline: float | None) -> str | None:
        """Delete a story (see `stories.delete_story`) and write its `story.deleted` event in
        the same transaction."""
        if outbox.DELETED_EVENT not in self.types:
            return stories.delete_story(db, story_id, deadline)
        with db.atomic():
            story = outbox.locked_story(db, story_id)
            storage_id = stories.delete_story(db, story_id, deadline)
            if story is not None:
                outbox.record_deleted(db, story)
        self.wake()
        return storage_id
