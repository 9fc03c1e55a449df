"""Completion subscriptions: a callback, or an async iterator, told once about each portrait
that reaches a terminal state (stored, failed, skipped), whichever instance made it.

The database is the source: each subscription has a thread of its own that reads the
stories settled since its watermark, at least once a second (other instances' portraits)
and as soon as this process's DocumentActor changes a story (its own). The watermark is the
latest `updated_at` seen, less `LOOKBACK_S`: a portrait committed late, or by an instance
whose clock is behind, with an `updated_at` earlier than ones already seen, is still read.
Each settled state is known by (story id, `updated_at`), so it is delivered once, however
often it is read; a regenerated portrait that settles again is a new event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pykka
from loguru import logger

from vignette.actors.document import DocumentProxy
from vignette.actors.messages import ASK_TIMEOUT_S
from vignette.records import Story
from vignette.system.aio import in_thread
from vignette.system.changes import ChangeFeed

# Settled states read again on every look: more than the commit delay and the clock skew
# between instances can be. Instance clocks must agree within this (NTP does).
LOOKBACK_S = 60.0
# How often a subscription looks when nothing in this process woke it.
POLL_S = 1.0
# Looks are at least this far apart, however often local changes wake it.
MIN_GAP_S = 0.02

_numbers = itertools.count(1)


class Subscription:
    """What `subscribe` returns: `close()` stops the deliveries (and waits for a callback
    under way, unless called from that callback)."""

    def __init__(
        self,
        document: DocumentProxy,
        changes: ChangeFeed,
        callback: Callable[[Story], object],
        story_id: str | None = None,
        on_end: Callable[[], object] | None = None,
    ) -> None:
        self._document = document
        self._changes = changes
        self._callback = callback
        self._story_id = story_id
        self._on_end = on_end
        self._closed = threading.Event()
        self._woken = threading.Event()
        self._seen: dict[tuple[str, datetime], datetime] = {}
        self._latest = datetime.now(UTC)
        # What has settled already is not news: read it now, in the subscriber's thread.
        for story in self._read():
            self._remember(story)
        self._thread = threading.Thread(
            target=self._run, name=f"vignette-events-{next(_numbers)}", daemon=True
        )
        self._thread.start()

    @property
    def active(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self.close_soon()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def close_soon(self) -> None:
        """Stop the deliveries without waiting for a callback under way."""
        self._closed.set()
        self._woken.set()

    def _since(self) -> datetime:
        # A state from an instance whose clock runs ahead must not move the watermark past
        # this clock's present.
        return min(self._latest, datetime.now(UTC)) - timedelta(seconds=LOOKBACK_S)

    def _read(self) -> list[Story]:
        since = self._since()
        return self._document.settled_since(since, self._story_id).get(timeout=ASK_TIMEOUT_S)

    def _remember(self, story: Story) -> bool:
        """Note a settled state; False if it was seen before."""
        key = (story.id, story.updated_at)
        if key in self._seen:
            return False
        self._seen[key] = story.updated_at
        self._latest = max(self._latest, story.updated_at)
        return True

    def _forget_old(self) -> None:
        """Drop states older than any later read can return."""
        since = self._since()
        self._seen = {key: at for key, at in self._seen.items() if at >= since}

    def _run(self) -> None:
        try:
            with self._changes.watch_all(self._woken):
                while not self._closed.is_set():
                    started = time.monotonic()
                    self._woken.clear()
                    if not self._look():
                        return
                    self._woken.wait(POLL_S)
                    self._closed.wait(MIN_GAP_S - (time.monotonic() - started))
        finally:
            if self._on_end is not None:
                self._on_end()

    def _look(self) -> bool:
        """Deliver what settled since the last look; False once the system is stopped."""
        try:
            stories = self._read()
        except pykka.ActorDeadError:
            return False  # the system stopped
        except Exception as error:  # noqa: BLE001 - a failed read is retried at the next look
            logger.bind(step="subscription", cause=type(error).__name__).warning(
                "a subscription could not read settled portraits: {}", error
            )
            return True
        for story in stories:
            if self._closed.is_set():
                return False
            if self._remember(story):
                self._deliver(story)
        self._forget_old()
        return True

    def _deliver(self, story: Story) -> None:
        try:
            self._callback(story)
        except Exception as error:  # noqa: BLE001 - the host's callback; later ones go on
            logger.bind(story_id=story.id, step="subscription", cause=type(error).__name__).opt(
                exception=error
            ).error("a subscription callback raised on portrait {}", story.portrait_status)


class HasActors(Protocol):
    _changes: ChangeFeed
    _document: DocumentProxy


class PortraitEvents:
    """`subscribe` and `portrait_events`; mixed into `StorySystem`."""

    def subscribe(
        self: HasActors, callback: Callable[[Story], object], *, story_id: str | None = None
    ) -> Subscription:
        """Call `callback(story)` once for each portrait that reaches a terminal state
        (stored, failed, skipped) after this returns, made by this instance or another on
        the database; only `story_id`'s when given.

        Calls come from a thread of Vignette's made for them, one at a time; an exception
        is logged and the next story is delivered. `close()` on the handle stops them, as
        stopping the system does.
        """
        return Subscription(self._document, self._changes, callback, story_id)

    async def portrait_events(
        self: HasActors, *, story_id: str | None = None
    ) -> AsyncIterator[Story]:
        """`async for story in system.portrait_events():` the async twin of `subscribe`.

        The iteration ends when the system stops; leaving the loop (or `aclose()`) closes
        the subscription.
        """
        loop = asyncio.get_running_loop()
        stories: asyncio.Queue[Story | None] = asyncio.Queue()

        def put(story: Story | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(stories.put_nowait, story)

        subscription = await in_thread(
            Subscription, self._document, self._changes, put, story_id, lambda: put(None)
        )
        try:
            while (story := await stories.get()) is not None:
                yield story
        finally:
            subscription.close_soon()
