"""StorySystem: the embedding API. Starts the actors, speaks for them, stops them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import pykka

from vignette.actors.messages import ASK_TIMEOUT_S, PortraitSideStatus
from vignette.actors.outbox import Wakeup
from vignette.actors.supervisor import SupervisorProxy
from vignette.config import Settings
from vignette.errors import StoryGenerationError, StoryNotFound
from vignette.paging import StoryPage, decode_cursor, page_of
from vignette.records import FileInfo, PortraitStatus, Story, StoryDraft
from vignette.recraft.client import RecraftClient
from vignette.system.aio import AsyncTwins
from vignette.system.events import PortraitEvents
from vignette.system.files import OpenedFile
from vignette.system.process import sole_system
from vignette.system.stopping import stop_actors
from vignette.system.webhooks import WebhookDeliveries
from vignette.system.wiring import Actors, start_actors
from vignette.writers.base import StoryWriter

# How long a health check waits for each actor's answer.
HEALTH_TIMEOUT_S = 5.0
# wait_for_portrait re-reads at least this often: another process may settle the portrait.
WAIT_SLICE_S = 1.0


@dataclass(frozen=True, slots=True)
class Health:
    """What `StorySystem.health` found: ok, or the problems, and the portrait side."""

    ok: bool
    problems: tuple[str, ...]
    portraits: PortraitSideStatus | None


class StorySystem(AsyncTwins, PortraitEvents):
    """Stories and their portraits, as a running set of actors. Use `StorySystem.start`."""

    def __init__(self, settings: Settings, actors: Actors) -> None:
        self.settings = settings
        self._actors = actors
        self._changes = actors.changes
        self._document = actors.document
        self._storage = actors.storage
        self._root = actors.root
        self._stories = actors.stories
        self._store = actors.store
        self._stopped = False
        # The webhook outbox: events with their attempts, one sent again.
        self.webhooks = WebhookDeliveries(actors.db, settings.webhooks.url, Wakeup(actors.webhooks))

    @classmethod
    def start(
        cls,
        settings: Settings,
        *,
        writer: StoryWriter | None = None,
        client_factory: Callable[[], RecraftClient] | None = None,
    ) -> Self:
        """Create tables, start the actors, and resume pending portraits.

        `writer` replaces the one `stories.writer` names; `client_factory` replaces how
        workers build their Recraft client (tests use it); by default it comes from the
        settings and the `RECRAFT_API_KEY` they hold. One system runs per process: while
        one runs, this raises `SystemAlreadyRunning`; one never stopped is stopped at exit.
        """
        with sole_system() as register:
            system = cls(settings, start_actors(settings, writer, client_factory))
            register(system)
        return system

    @property
    def running(self) -> bool:
        """Started, not stopped, and its actors alive."""
        return not self._stopped and any(ref.is_alive() for ref in self._actors.refs)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Stories ------------------------------------------------------------------------------

    def generate_story(self, *, seed: int | None = None, topic: str | None = None) -> Story:
        """Write a story with the configured writer, store it, schedule its portrait.

        Raises `StoryGenerationError` when the writer fails, and then nothing is stored.
        """
        # A write makes up to max_attempts requests of up to timeout_s each; one more
        # timeout_s covers waiting behind other stories (one StoryActor writes them in turn).
        stories = self.settings.stories
        budget = stories.timeout_s * (stories.max_attempts + 1)
        answer = self._stories.generate_story(
            seed=seed, topic=topic, deadline=time.monotonic() + budget
        )
        try:
            # Past the deadline the StoryActor stores nothing; the margin covers the insert.
            return answer.get(timeout=budget + ASK_TIMEOUT_S)
        except pykka.Timeout:
            raise StoryGenerationError(
                f"no story was written within {budget:g} s; nothing was stored"
            ) from None

    def submit_story(self, *, title: str, body: str, image_generation_prompt: str) -> Story:
        """Store a story written elsewhere and schedule its portrait."""
        draft = StoryDraft(title, body, image_generation_prompt)
        return self._store.submit(draft)

    def get_story(self, story_id: str) -> Story | None:
        return self._document.get_story(story_id).get(timeout=ASK_TIMEOUT_S)

    def list_stories(
        self,
        status: PortraitStatus | str | None = None,
        limit: int = 50,
        *,
        cursor: str | None = None,
    ) -> list[Story]:
        """Stories, newest first, optionally only those whose portrait is in `status`, and
        only those after `cursor` (a page's `next_cursor`, see `list_page`)."""
        return self.list_page(status, limit, cursor=cursor).stories

    def list_page(
        self,
        status: PortraitStatus | str | None = None,
        limit: int = 50,
        *,
        cursor: str | None = None,
    ) -> StoryPage:
        """A page of stories, newest first, and the cursor of the next page (None at the
        end). A bad cursor raises `InvalidCursor` (a ValueError) naming it."""
        wanted = None if status is None else PortraitStatus(status)
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        after = None if cursor is None else decode_cursor(cursor)
        read = self._document.list_stories(wanted, limit + 1, after)
        return page_of(read.get(timeout=ASK_TIMEOUT_S), limit)

    def count_by_status(self) -> dict[PortraitStatus, int]:
        return self._document.count_by_status().get(timeout=ASK_TIMEOUT_S)

    def count_failures_by_code(self) -> dict[str, int]:
        return self._document.count_failures_by_code().get(timeout=ASK_TIMEOUT_S)

    def delete_story(self, story_id: str) -> None:
        """Delete a story and its portrait file (unless another story has the same content)."""
        storage_id = self._document.delete_story(story_id).get(timeout=ASK_TIMEOUT_S)
        if storage_id is not None:
            self._storage.delete(storage_id).get(timeout=ASK_TIMEOUT_S)

    # Portraits ----------------------------------------------------------------------------

    def wait_for_portrait(self, story_id: str, timeout: float) -> Story:
        """Wait until the story's portrait is stored, failed or skipped; else TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._changes.watch(story_id) as changed:
            while True:
                changed.clear()
                story = self.get_story(story_id)
                if story is None:
                    raise StoryNotFound(story_id)
                if story.portrait_status.is_terminal:
                    return story
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"story {story_id}'s portrait is still {story.portrait_status} "
                        f"after {timeout:g} s"
                    )
                changed.wait(min(remaining, WAIT_SLICE_S))

    def regenerate_portrait(self, story_id: str, *, force: bool = False) -> Story:
        """Schedule a failed or skipped portrait again (a stored one too, with `force`)."""
        story = self._document.reschedule_portrait(story_id, force).get(timeout=ASK_TIMEOUT_S)
        self._store.request_portrait(story_id)
        return story

    def open_file(self, storage_id: str) -> OpenedFile:
        """Open a stored file: `with system.open_file(id) as (file, content_type):`.

        The `with` block closes the file; a caller that unpacks it without one closes it.
        `StoredFileNotFound` for an unknown id; `StorageUnavailable` (an `OSError`) when the
        bucket of the `s3` backend does not answer.
        """
        # In the caller's thread: reading from a bucket holds up no actor.
        return OpenedFile(*self._actors.files.open(storage_id))

    def read_file(self, storage_id: str) -> tuple[bytes, str]:
        """A stored file's bytes and content type."""
        with self.open_file(storage_id) as (file, content_type):
            return file.read(), content_type

    def file_info(self, storage_id: str) -> FileInfo | None:
        """A stored file's row (sha256, size, content type), or None."""
        return self._document.get_file(storage_id).get(timeout=ASK_TIMEOUT_S)

    def file_link(self, info: FileInfo) -> str | None:
        """A short-lived URL of a stored file's bytes on the `s3` backend, else None."""
        return self._actors.files.link(info)

    @property
    def _supervisor(self) -> SupervisorProxy:
        """The portrait supervisor running now (the root restarts it if it dies)."""
        return self._actors.supervisor.proxy()

    def portrait_side(self) -> PortraitSideStatus:
        return self._supervisor.status().get(timeout=ASK_TIMEOUT_S)

    def health(self, timeout: float = HEALTH_TIMEOUT_S) -> Health:
        """Whether every actor is running and answers, and the database answers a query."""
        problems = [
            f"{ref.actor_class.__name__} is not running"
            for ref in self._actors.refs
            if not ref.is_alive()
        ]
        portraits = None
        try:
            self._document.get_story("").get(timeout=timeout)  # one indexed read
        except (pykka.ActorDeadError, pykka.Timeout) as error:
            problems.append(f"the document actor does not answer: {type(error).__name__}")
        except Exception as error:  # noqa: BLE001 - any database failure is reported
            problems.append(f"the database does not answer: {type(error).__name__}")
        try:
            root = self._root.status().get(timeout=timeout)
        except (pykka.ActorDeadError, pykka.Timeout) as error:
            problems.append(f"the supervision root does not answer: {type(error).__name__}")
        else:
            if root.gave_up is not None:
                problems.append(f"the supervision root gave up: {root.gave_up}")
        try:
            portraits = self._supervisor.status().get(timeout=timeout)
        except (pykka.ActorDeadError, pykka.Timeout) as error:
            problems.append(f"the portrait supervisor does not answer: {type(error).__name__}")
        except Exception as error:  # noqa: BLE001 - any database failure is reported
            problems.append(f"the portrait supervisor's database failed: {type(error).__name__}")
        else:
            if not portraits.up:
                problems.append("the portrait side is down: its workers crashed too often")
        return Health(ok=not problems, problems=tuple(problems), portraits=portraits)

    # Stopping -----------------------------------------------------------------------------

    def stop(self, grace_s: float | None = None) -> None:
        """Take no new portrait, let in-flight ones finish within the grace period, stop.

        Portraits still running after the grace period become `failed: interrupted`;
        portraits never started stay `pending` for the next start.
        """
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.portraits.shutdown_grace_s if grace_s is None else grace_s
        stop_actors(self._actors, grace)
