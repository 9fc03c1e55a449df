"""Per-story change notices: a thread waits for one story to move, without polling."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import Protocol


class Waker(Protocol):
    """What a watcher gives the feed: `set()` is called, from the writer's thread, on each
    change (a `threading.Event`, or something that wakes an asyncio task)."""

    def set(self) -> None: ...


class ChangeFeed:
    """Wakes the threads watching a story when the DocumentActor changes that story.

    A change to a story nobody watches costs a dictionary lookup; a watcher is woken only
    by its own story, so many waiters do not all re-read on every change.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchers: dict[str, set[Waker]] = {}
        self._everything: set[Waker] = set()

    @contextlib.contextmanager
    def watch(self, story_id: str) -> Iterator[threading.Event]:
        """An event set on each change of `story_id` while the block runs.

        Clear it before reading the story, then wait on it: a change made after the clear
        sets it, so none is missed.
        """
        event = threading.Event()
        with self.watch_with(story_id, event):
            yield event

    @contextlib.contextmanager
    def watch_with(self, story_id: str, waker: Waker) -> Iterator[None]:
        """Call `waker.set()` on each change of `story_id` while the block runs."""
        with self._lock:
            self._watchers.setdefault(story_id, set()).add(waker)
        try:
            yield
        finally:
            with self._lock:
                watchers = self._watchers[story_id]
                watchers.discard(waker)
                if not watchers:
                    del self._watchers[story_id]

    @contextlib.contextmanager
    def watch_all(self, waker: Waker) -> Iterator[None]:
        """Call `waker.set()` on each change of any story while the block runs."""
        with self._lock:
            self._everything.add(waker)
        try:
            yield
        finally:
            with self._lock:
                self._everything.discard(waker)

    def notify(self, story_ids: Iterable[str]) -> None:
        with self._lock:
            for waker in self._everything:
                waker.set()
            for story_id in story_ids:
                for waker in self._watchers.get(story_id, ()):
                    waker.set()
