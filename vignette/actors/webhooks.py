"""WebhookDispatcher: sends the webhook outbox's due events, at least once each.

Events are written to the outbox (`vignette.models.outbox`) by the DocumentActor, in the
transaction that settles a portrait or deletes a story, and it then wakes the dispatcher
through a `Wakeup`. Without a wake (another instance wrote the event, a retry came due) the
dispatcher looks again when the soonest pending event is due, at least every poll
interval. It claims one event at a time with a lease, POSTs it (`vignette.webhooks`), and
records the outcome with one conditional statement. The root (`root.py`) supervises it: it
dies of anything but a database failure, and is restarted.

It runs its statements on a connection of its own, in its own thread, so deliveries never
queue behind portrait work, and the DocumentActor never waits on a receiver.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import pykka
from loguru import logger

from vignette import metrics
from vignette.actors.outbox import DeliverDue, Wakeup
from vignette.actors.retry import DATABASE_BACKOFF_CAP_S, UNAVAILABLE, Backoff, unavailable
from vignette.actors.root import ChildFailed
from vignette.actors.timers import DelayedTells
from vignette.config.webhooks import WebhookSettings
from vignette.models import Database, closing_lost_connection
from vignette.models import deliveries as endpoints
from vignette.models.outbox import (
    EventStatus,
    OutboxEvent,
    claim_events,
    next_due_at,
    release_claims,
    settle_event,
)
from vignette.webhooks.schedule import next_delay_s
from vignette.webhooks.sender import DELIVERY_TIMEOUT_S, Answer, WebhookSender

DISPATCHER_NAME = "webhook dispatcher"
# A claim's lease: longer than one attempt may take, so a live sender never loses its claim.
LEASE_S = 4 * DELIVERY_TIMEOUT_S
# How long past its timeout an attempt may take before it counts as failed.
ATTEMPT_MARGIN_S = 1.0
# Events claimed together and sent at once (one thread each), per message; between two
# batches other messages (a stop) get in.
BATCH = 8


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    label: str
    retry_in_s: float = 0.0


class WebhookDispatcher(pykka.ThreadingActor):
    use_daemon_thread = True

    def __init__(
        self,
        *,
        db: Database,
        settings: WebhookSettings,
        sender_factory: Callable[[], WebhookSender],
        instance: str,
        poll_interval_s: float,
        wakeup: Wakeup,
        root: pykka.ActorRef[Any] | None = None,
    ) -> None:
        super().__init__()
        self._db = db
        self._settings = settings
        self._sender_factory = sender_factory
        self._sender: WebhookSender | None = None
        self._instance = instance
        self._poll_interval_s = poll_interval_s
        self._wakeup = wakeup
        self._root = root
        self._later = DelayedTells(self.actor_ref)
        self._backoff = Backoff(first_s=0.1, cap_s=DATABASE_BACKOFF_CAP_S)
        # Outcomes the database did not take: recorded before anything else is sent.
        self._owed: list[tuple[OutboxEvent, Outcome, Answer]] = []
        # Claims an earlier incarnation held when it died are given back once, at start.
        self._released = False

    def on_start(self) -> None:
        try:
            self._sender = self._sender_factory()
            self._deliver()
        except Exception as error:  # pykka runs no hook when on_start raises
            self.on_failure(type(error), error, error.__traceback__)
            raise

    def on_stop(self) -> None:
        self._close()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()
        if self._root is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self._root.tell(
                    ChildFailed(DISPATCHER_NAME, self.actor_ref, exception_value, traceback)
                )

    def _close(self) -> None:
        self._later.cancel()
        if self._sender is not None:
            self._sender.close()
        with contextlib.suppress(Exception):
            self._db.close()

    def on_receive(self, message: Any) -> None:
        match message:
            case DeliverDue():
                self._wakeup.taken()
                self._deliver()
            case _:
                super().on_receive(message)

    def _deliver(self) -> None:
        """Send due events, a batch at a time; then wait for a wake, the soonest due event
        or the poll interval. A database that fails is tried again after a backoff."""
        try:
            with closing_lost_connection(self._db):
                more = self._deliver_batch()
                due = next_due_at(self._db)
                oldest = endpoints.oldest_undelivered_at()
                disabled = self._disabled()
        except UNAVAILABLE as error:
            self._look_again(unavailable("deliver webhooks", error, self._backoff))
            return
        self._backoff.reset()
        metrics.webhook_outbox_seen(None if oldest is None else oldest.timestamp(), disabled)
        if more:
            self._wakeup()
            return
        wait = self._poll_interval_s
        if due is not None and not disabled:
            wait = min(wait, max(0.0, (due - datetime.now(UTC)).total_seconds()))
        self._look_again(wait)

    def _disabled(self) -> bool:
        assert self._sender is not None
        return endpoints.disabled_endpoint(self._sender.url) is not None

    def _look_again(self, delay: float) -> None:
        self._later.cancel()
        self._later.tell_later(delay, DeliverDue())

    def _deliver_batch(self) -> bool:
        """Send up to BATCH due events; True if there may be more."""
        assert self._sender is not None
        if not self._released:
            release_claims(self._instance)
            self._released = True
        self._record_owed()
        if self._disabled():
            return False
        events = claim_events(self._db, self._instance, LEASE_S, BATCH)
        answers: queue.SimpleQueue[tuple[OutboxEvent, Answer]] = queue.SimpleQueue()
        for event in events:
            threading.Thread(
                target=self._send, args=(event, answers), name="webhook-send", daemon=True
            ).start()
        # httpx bounds each read by the timeout, not the whole exchange: an attempt still
        # going at the deadline is a failed one (its thread is left to end on its own).
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S + ATTEMPT_MARGIN_S
        waiting = {event.id: event for event in events}
        while waiting:
            try:
                event, answer = answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            del waiting[event.id]
            self._owed.append((event, self._outcome(event, answer), answer))
        for event in waiting.values():
            late = Answer(error=f"timeout: no whole answer within {DELIVERY_TIMEOUT_S:g} s")
            self._owed.append((event, self._outcome(event, late), late))
        self._record_owed()
        return len(events) == BATCH

    def _send(
        self, event: OutboxEvent, answers: queue.SimpleQueue[tuple[OutboxEvent, Answer]]
    ) -> None:
        """One attempt, in a thread of its own (the client is shared, and thread-safe)."""
        assert self._sender is not None
        try:
            answer = self._sender.send(event.id, event.payload)
        except Exception as error:  # noqa: BLE001 - a bug: recorded as the attempt's error
            logger.bind(story_id=event.story_id, step="webhook", cause=type(error).__name__).opt(
                exception=error
            ).error("sending webhook event {} failed: {}", event.id, error)
            answer = Answer(error=f"{type(error).__name__}: {error}")
        answers.put((event, answer))

    def _outcome(self, event: OutboxEvent, answer: Answer) -> Outcome:
        if answer.delivered:
            return Outcome(EventStatus.DELIVERED, "delivered")
        if answer.gone:
            return Outcome(EventStatus.PENDING, "disabled")
        delay = next_delay_s(self._settings.retry_delays_s, event.attempt)
        if delay is None:
            return Outcome(EventStatus.FAILED, "failed")
        if answer.retry_after_s is not None:
            delay = answer.retry_after_s
        return Outcome(EventStatus.PENDING, "retried", delay)

    def _record_owed(self) -> None:
        """Record the batch's outcomes in one transaction (one commit for the batch); if the
        database fails they stay owed, and are recorded before anything else is sent."""
        if not self._owed:
            return
        assert self._sender is not None
        with self._db.atomic():
            for event, outcome, _ in self._owed:
                if outcome.label == "disabled":
                    reason = f"the endpoint answered 410 Gone to event {event.id}"
                    endpoints.disable_endpoint(self._sender.url, reason)
            settled = [
                settle_event(
                    event,
                    outcome.status,
                    status_code=answer.status_code,
                    error=answer.error,
                    retry_in_s=outcome.retry_in_s,
                )
                for event, outcome, answer in self._owed
            ]
        recorded, self._owed = self._owed, []
        retries = len(self._settings.retry_delays_s)
        for (event, outcome, answer), landed in zip(recorded, settled, strict=True):
            label = outcome.label if landed else "lost"
            metrics.WEBHOOK_DELIVERIES.labels(label).inc()
            _log(event, answer, label, outcome.retry_in_s, retries)


def _log(event: OutboxEvent, answer: Answer, outcome: str, delay: float, retries: int) -> None:
    """One line per attempt, once its outcome is recorded: story id, step, cause."""
    why = answer.error or "no answer"
    log = logger.bind(story_id=event.story_id, step="webhook", event_id=event.id, outcome=outcome)
    if outcome == "delivered":
        log.debug("webhook {} delivered (attempt {})", event.type, event.attempt)
    elif outcome == "disabled":
        log.bind(cause="gone").error(
            "webhook endpoint disabled: it answered 410 Gone to event {}; events wait in the "
            "outbox until one is retried (POST /api/webhooks/deliveries/ID/retry)",
            event.id,
        )
    elif outcome == "failed":
        log.bind(cause=why).warning(
            "webhook {} failed after {} attempts, kept in the outbox: {}",
            event.type,
            event.attempt,
            why,
        )
    elif outcome == "retried":
        log.bind(cause=why).info(
            "webhook {} attempt {} of {} failed: {}; next in {:.1f} s",
            event.type,
            event.attempt,
            retries + 1,
            why,
            delay,
        )
    else:
        log.bind(cause="claim_lost").warning(
            "webhook event {} was taken back before its outcome was recorded", event.id
        )
